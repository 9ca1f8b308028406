/**
 * Field paths (`a.b`, `` `odd.key`.c ``) and nested field access on a document's fields.
 */
import { invalid } from "./grpc";
import { Fields, Value } from "./values";

const cache = new Map<string, string[]>();
const SIMPLE = /^[A-Za-z_][A-Za-z_0-9]*$/;

/** Splits a field path into segments, honouring backtick quoting and `\` escapes inside it. */
export function parseFieldPath(path: string): string[] {
  const hit = cache.get(path);
  if (hit) return hit;
  if (path === "") throw invalid("Field path must not be empty.");
  const segs: string[] = [];
  let cur = "";
  let quoted = false;
  let wasQuoted = false;
  for (let i = 0; i < path.length; i++) {
    const ch = path[i];
    if (quoted) {
      if (ch === "\\" && i + 1 < path.length) cur += path[++i];
      else if (ch === "`") quoted = false;
      else cur += ch;
    } else if (ch === "`") {
      quoted = true;
      wasQuoted = true;
    } else if (ch === ".") {
      pushSegment(segs, cur, wasQuoted, path);
      cur = "";
      wasQuoted = false;
    } else {
      cur += ch;
    }
  }
  if (quoted) throw invalid(`Invalid field path "${path}": unterminated backtick.`);
  pushSegment(segs, cur, wasQuoted, path);
  if (cache.size > 10_000) cache.clear();
  cache.set(path, segs);
  return segs;
}

function pushSegment(segs: string[], seg: string, quoted: boolean, path: string): void {
  if (seg === "") throw invalid(`Invalid field path "${path}": empty segment.`);
  if (!quoted && !SIMPLE.test(seg) && seg !== "__name__") {
    // Production rejects unquoted non-identifiers; the SDKs always quote them, so accept leniently
    // only characters that cannot be ambiguous.
    if (/[`.\s]/.test(seg)) throw invalid(`Invalid field path "${path}".`);
  }
  segs.push(seg);
}

/** Canonical (quoted where needed) text of a segment list; used to compare and sort paths. */
export function formatFieldPath(segs: string[]): string {
  return segs.map((s) => (SIMPLE.test(s) ? s : "`" + s.replace(/\\/g, "\\\\").replace(/`/g, "\\`") + "`")).join(".");
}

/** The value at a path, or undefined when a segment is missing or a parent is not a map. */
export function getField(fields: Fields | undefined, segs: string[]): Value | undefined {
  let cur: Fields | undefined = fields;
  for (let i = 0; i < segs.length; i++) {
    if (!cur) return undefined;
    const v: Value | undefined = cur[segs[i]];
    if (v === undefined) return undefined;
    if (i === segs.length - 1) return v;
    cur = v.mapValue ? (v.mapValue.fields ?? {}) : undefined;
  }
  return undefined;
}

/** Sets the value at a path, replacing non-map parents with maps (mutates `fields`). */
export function setField(fields: Fields, segs: string[], value: Value): void {
  let cur = fields;
  for (let i = 0; i < segs.length - 1; i++) {
    let next = cur[segs[i]];
    if (!next || !next.mapValue) {
      next = { mapValue: { fields: {} } };
      cur[segs[i]] = next;
    } else {
      // Copy on write: maps may be shared with an older version of the document.
      next = { mapValue: { fields: { ...(next.mapValue.fields ?? {}) } } };
      cur[segs[i]] = next;
    }
    cur = next.mapValue!.fields!;
  }
  cur[segs[segs.length - 1]] = value;
}

/** Deletes the value at a path if present (mutates `fields`, copying shared parent maps). */
export function deleteField(fields: Fields, segs: string[]): void {
  let cur = fields;
  for (let i = 0; i < segs.length - 1; i++) {
    const next = cur[segs[i]];
    if (!next || !next.mapValue) return;
    const copy: Value = { mapValue: { fields: { ...(next.mapValue.fields ?? {}) } } };
    cur[segs[i]] = copy;
    cur = copy.mapValue!.fields!;
  }
  delete cur[segs[segs.length - 1]];
}

/** Fields restricted to the given paths (a projection / DocumentMask). */
export function projectFields(fields: Fields, paths: string[][]): Fields {
  const out: Fields = {};
  for (const segs of paths) {
    const v = getField(fields, segs);
    if (v !== undefined) setField(out, segs, v);
  }
  return out;
}
