/**
 * What the migrator needs to know about Firestore values: the storage size Firestore bills and
 * limits (https://firebase.google.com/docs/firestore/storage-size) and a canonical checksum that
 * is the same for the document we write and the document the SDK reads back.
 */
import { createHash } from "node:crypto";
import { DocumentReference, Timestamp } from "firebase-admin/firestore";

/** Firestore's maximum document size (1 MiB), as computed by `documentSize`. */
export const MAX_DOCUMENT_BYTES = 1_048_576;

const utf8 = (s: string) => Buffer.byteLength(s, "utf8");

/** Storage size of a document name: each segment's UTF-8 bytes + 1, plus 16. */
export const documentNameSize = (path: string) => path.split("/").reduce((n, s) => n + utf8(s) + 1, 16);

function valueSize(v: unknown): number {
  if (v === null || typeof v === "boolean") return 1;
  if (typeof v === "number" || v instanceof Timestamp) return 8;
  if (typeof v === "string") return utf8(v) + 1;
  if (Buffer.isBuffer(v)) return v.length;
  if (v instanceof DocumentReference) return documentNameSize(v.path);
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + valueSize(x), 0);
  return mapSize(v as Record<string, unknown>);
}

const mapSize = (m: Record<string, unknown>) => Object.keys(m).reduce((n, k) => n + utf8(k) + 1 + valueSize(m[k]), 0);

/** Storage size of a document at `path` with `data`: name + fields + 32. */
export const documentSize = (path: string, data: Record<string, unknown>) =>
  documentNameSize(path) + mapSize(data) + 32;

function canonical(v: unknown): string {
  if (v === null) return "n";
  if (typeof v === "boolean") return v ? "T" : "F";
  // Firestore keeps integers and doubles apart; a JS integer goes out as integerValue and comes back as the same number.
  if (typeof v === "number")
    return Number.isInteger(v) && !Object.is(v, -0) ? `i${v}` : `d${Object.is(v, -0) ? "-0" : String(v)}`;
  if (typeof v === "string") return `s${JSON.stringify(v)}`;
  if (v instanceof Timestamp) return `t${v.seconds}.${v.nanoseconds}`;
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return `x${Buffer.from(v).toString("base64")}`;
  if (v instanceof DocumentReference) return `r${JSON.stringify(v.path)}`;
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  const m = v as Record<string, unknown>;
  return `{${Object.keys(m)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(m[k])}`)
    .join(",")}}`;
}

/** SHA-256 of a canonical form of Firestore document data (map keys sorted, values typed). */
export const checksum = (data: Record<string, unknown>) => createHash("sha256").update(canonical(data)).digest("hex");
