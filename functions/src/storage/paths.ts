/**
 * File names and object paths. A file's object lives at `tenants/{tid}/files/{fileId}` with a
 * server-generated id; the client-chosen `name` is a label on the record, checked against an
 * allow-list alphabet so that it is safe wherever it is shown or used (no "..", no absolute
 * paths, no percent-encoding, no backslashes, no control characters, nothing a URL, a header or
 * a filesystem could reinterpret).
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
 * Checks a file name such as `avatars/u1.png` and returns it unchanged.
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

/** The name a file gets when the client gives none: `{fileId}{.ext}`. */
export function defaultFileName(fileId: string, contentType: string): string {
  return `${fileId}${EXTENSIONS.get(contentType) ?? ""}`;
}

/** A fresh, unguessable file id (also the object's name: ids are never reused). */
export function newFileId(uuid: () => string = randomUUID): string {
  return uuid().replace(/-/g, "");
}

const FILE_OBJECT = /^tenants\/([A-Za-z0-9][A-Za-z0-9_-]{0,127})\/files\/([0-9a-f]{32})$/;

/**
 * The Cloud Storage object of a file record: `tenants/{tid}/files/{fileId}`. The record's `name`
 * is only a label, so renaming never moves an object and no name can address another object.
 */
export function fileObjectPath(tenantId: string, fileId: string): string {
  return `tenants/${tenantId}/files/${fileId}`;
}

/** The tenant and file id of a file object path, or undefined for any other object. */
export function parseFileObjectPath(path: string): { tenantId: string; fileId: string } | undefined {
  const match = typeof path === "string" ? FILE_OBJECT.exec(path) : null;
  return match ? { tenantId: match[1], fileId: match[2] } : undefined;
}
