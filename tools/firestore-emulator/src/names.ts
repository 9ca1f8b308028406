/**
 * Resource names: `projects/{p}/databases/{d}/documents/{path}` and their validation.
 */
import { invalid } from "./grpc";

export interface ParsedName {
  project: string;
  database: string;
  /** Path below `.../documents`, "" for the root. */
  path: string;
}

const NAME = /^projects\/([^/]+)\/databases\/([^/]+)(?:\/documents(?:\/(.*))?)?$/;

/** Splits a database, documents-root or document/collection name. */
export function parseName(name: unknown, what = "name"): ParsedName {
  if (typeof name !== "string" || name === "") throw invalid(`Missing ${what}.`);
  const m = NAME.exec(name);
  if (!m) throw invalid(`Invalid ${what}: "${name}".`);
  const path = m[3] ?? "";
  if (path !== "") validateSegments(path, name);
  return { project: m[1], database: m[2], path };
}

function validateSegments(path: string, name: string): void {
  for (const seg of path.split("/")) {
    if (seg === "" || seg === "." || seg === ".." || (seg.length > 4 && seg.startsWith("__") && seg.endsWith("__") && !/^__id-?\d+__$/.test(seg))) {
      throw invalid(`Invalid resource name: "${name}".`);
    }
    if (Buffer.byteLength(seg) > 1500) throw invalid(`Resource id too long in "${name}".`);
  }
}

/** Whether a relative path names a document (even number of segments). */
export function isDocumentPath(path: string): boolean {
  if (path === "") return false;
  let n = 1;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return n % 2 === 0;
}

/** Parses a document name; INVALID_ARGUMENT unless it names a document. */
export function parseDocumentName(name: unknown): ParsedName {
  const p = parseName(name, "document name");
  if (!isDocumentPath(p.path)) throw invalid(`Document name "${String(name)}" has odd number of segments.`);
  return p;
}

/** Parses a query/list parent (the documents root or a document); INVALID_ARGUMENT otherwise. */
export function parseParent(name: unknown): ParsedName {
  const p = parseName(name, "parent");
  if (p.path !== "" && !isDocumentPath(p.path)) throw invalid(`Invalid parent "${String(name)}": must be a document or the documents root.`);
  if (typeof name === "string" && !name.includes("/documents")) throw invalid(`Invalid parent "${name}".`);
  return p;
}

const AUTO_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A 20-character random document id, like the SDKs generate. */
export function autoId(): string {
  let s = "";
  for (let i = 0; i < 20; i++) s += AUTO_ID_CHARS[Math.floor(Math.random() * AUTO_ID_CHARS.length)];
  return s;
}
