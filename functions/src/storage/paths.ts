/**
 * Object names for tenant storage. Every object a tenant can reach lives under
 * `tenants/{tid}/`; names are either generated here or checked against an allow-list alphabet,
 * so no client-chosen name can climb out of that prefix (no "..", no absolute paths, no
 * percent-encoding, no backslashes, no control characters, nothing a URL or a filesystem could
 * reinterpret).
 */
import { randomUUID } from "node:crypto";

/** One segment: starts with a letter or digit, then letters, digits, ".", "_" or "-". */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_DEPTH = 8;
const MAX_LENGTH = 512;

/** Why a name was refused, for the client's field error. */
export class ObjectNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ObjectNameError";
  }
}

/**
 * Checks a tenant-relative object name such as `avatars/u1.png` and returns it unchanged.
 * Throws `ObjectNameError` for anything outside the allow-list alphabet.
 */
export function validateObjectName(name: string): string {
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_LENGTH) {
    throw new ObjectNameError(`must be 1-${MAX_LENGTH} characters`);
  }
  const segments = name.split("/");
  if (segments.length > MAX_DEPTH) throw new ObjectNameError(`must have at most ${MAX_DEPTH} segments`);
  for (const segment of segments) {
    // SEGMENT rejects "", ".", "..", "%2e", "\\", spaces and control characters in one rule.
    if (!SEGMENT.test(segment)) {
      throw new ObjectNameError(
        "segments are separated by '/', start with a letter or digit and contain only letters, digits, '.', '_' or '-'",
      );
    }
  }
  return name;
}

/** Keyed by the caller's content type, hence a Map ("constructor" is no media type). */
const EXTENSIONS: ReadonlyMap<string, string> = new Map([
  ["image/png", ".png"],
  ["image/jpeg", ".jpg"],
  ["image/webp", ".webp"],
  ["image/gif", ".gif"],
  ["application/pdf", ".pdf"],
  ["text/csv", ".csv"],
  ["text/plain", ".txt"],
  ["application/json", ".json"],
]);

/** A fresh, unguessable tenant-relative name: `uploads/{uuid}{.ext}`. */
export function generateObjectName(contentType: string, uuid: () => string = randomUUID): string {
  return `uploads/${uuid()}${EXTENSIONS.get(contentType) ?? ""}`;
}

/** The full object path of a tenant-relative name. */
export function tenantObjectPath(tenantId: string, name: string): string {
  return `tenants/${tenantId}/${validateObjectName(name)}`;
}

/**
 * The tenant-relative name of a full object path, or undefined when the path does not lie
 * under `tenants/{tenantId}/` (another tenant's object, or no tenant at all).
 */
export function nameInTenant(tenantId: string, path: string): string | undefined {
  const prefix = `tenants/${tenantId}/`;
  if (typeof path !== "string" || !path.startsWith(prefix)) return undefined;
  return path.slice(prefix.length);
}
