/**
 * Fingerprints for idempotency: the scope hash that names a record and the request hash that
 * tells a true retry from a reused key. Pure functions, no Firestore.
 */
import { createHash } from "node:crypto";

/** SHA-256 of `text` (UTF-8), as 64 lowercase hex characters. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/**
 * A canonical JSON text of `value`: object keys sorted by UTF-16 code units, no whitespace,
 * numbers and strings as `JSON.stringify` writes them. For plain JSON data this is the JSON
 * Canonicalization Scheme (RFC 8785), so two requests that differ only in key order or
 * formatting get the same fingerprint.
 *
 * Values JSON cannot carry are refused rather than silently dropped or coerced (a fingerprint
 * that ignores part of the input would let a different request replay): `undefined` and
 * functions are skipped only as object members (as JSON does), `toJSON()` is honoured (Dates),
 * non-finite numbers, bigints, symbols and cycles throw.
 */
export function canonicalJson(value: unknown): string {
  const seen = new Set<object>();
  const write = (v: unknown): string | undefined => {
    if (v === null) return "null";
    switch (typeof v) {
      case "string":
      case "boolean":
        return JSON.stringify(v);
      case "number":
        if (!Number.isFinite(v)) throw new TypeError("canonicalJson: non-finite number");
        // JSON.stringify writes -0 as "0", as RFC 8785 requires.
        return JSON.stringify(v);
      case "undefined":
      case "function":
        return undefined;
      case "bigint":
      case "symbol":
        throw new TypeError(`canonicalJson: cannot encode a ${typeof v}`);
    }
    const obj = v as { toJSON?: () => unknown };
    if (typeof obj.toJSON === "function") return write(obj.toJSON());
    if (seen.has(obj)) throw new TypeError("canonicalJson: cyclic structure");
    seen.add(obj);
    try {
      if (Array.isArray(obj)) return `[${obj.map((item) => write(item) ?? "null").join(",")}]`;
      const members: string[] = [];
      for (const key of Object.keys(obj).sort()) {
        const encoded = write((obj as Record<string, unknown>)[key]);
        if (encoded !== undefined) members.push(`${JSON.stringify(key)}:${encoded}`);
      }
      return `{${members.join(",")}}`;
    } finally {
      seen.delete(obj);
    }
  };
  return write(value) ?? "null";
}

/** The SHA-256 fingerprint of a request's parsed input, over its canonical JSON. */
export function requestHash(input: unknown): string {
  return sha256Hex(canonicalJson(input));
}

export interface KeyScope {
  /** The tenant the call acts in; undefined for functions outside a tenant. */
  tenantId?: string;
  /** The authenticated caller. */
  principal: string;
  /** The exported function name. */
  fn: string;
  /** The client's idempotency key. */
  key: string;
}

/**
 * The record id for a key: SHA-256 over tenant, principal, function and key. Each part is
 * JSON-encoded in an array, so no choice of key can make two different scopes collide by
 * shifting a separator ("a|b" + "c" vs "a" + "b|c"). The raw key never reaches Firestore or logs.
 */
export function scopeHash(scope: KeyScope): string {
  return sha256Hex(JSON.stringify(["idem/v1", scope.tenantId ?? null, scope.principal, scope.fn, scope.key]));
}
