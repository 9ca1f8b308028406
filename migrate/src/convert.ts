/**
 * One source document → one Firestore write: its deterministic target path, its tenant, and its
 * data with every BSON type mapped deliberately. Anything Firestore cannot hold exactly becomes a
 * per-document error naming the field path; nothing is truncated or rounded silently.
 */
import type { Firestore } from "firebase-admin/firestore";
import { Timestamp } from "firebase-admin/firestore";
import { checksum, documentSize, MAX_DOCUMENT_BYTES } from "./firestore-value";
import { type CollectionMapping, type Segment, TENANT_ID, type TypePolicies } from "./mapping";

type Doc = Record<string, unknown>;

/** A problem with one document; `field` is the path inside it ("" for the whole document). */
export interface FieldError {
  field: string;
  message: string;
}

export type Converted =
  | { ok: true; path: string; tenantId: string; data: Doc; size: number; checksum: string }
  | { ok: false; path?: string; tenantId?: string; errors: FieldError[] };

/** Counts of type conversions, e.g. "Decimal128→string", for the dry-run plan. */
export type ConversionStats = Map<string, number>;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
// Firestore timestamps span 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
const MIN_TS_MS = -62_135_596_800_000;
const MAX_TS_MS = 253_402_300_799_999;

const bsonType = (v: unknown): string | undefined =>
  typeof v === "object" && v !== null ? ((v as { _bsontype?: string })._bsontype ?? undefined) : undefined;

const isPlainObject = (v: unknown): v is Doc =>
  typeof v === "object" &&
  v !== null &&
  (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

const joinPath = (base: string, key: string) => (base ? `${base}.${key}` : key);

/** Firestore field names: non-empty, at most 1,500 bytes, not `__…__` (which also rules out `__proto__`). */
function fieldNameProblem(name: string): string | undefined {
  if (name === "") return "empty field name";
  if (/^__.*__$/.test(name)) return `"${name}" is a reserved Firestore field name (__…__)`;
  if (Buffer.byteLength(name) > 1500) return "field name longer than 1,500 bytes";
  return undefined;
}

/** Firestore document ids: at most 1,500 bytes, no '/', not '.', '..' or `__…__`. */
function docIdProblem(id: string): string | undefined {
  if (id === "" || id === "." || id === "..") return `"${id}" is not a valid document id`;
  if (id.includes("/")) return `"${id}" contains '/'`;
  if (/^__.*__$/.test(id)) return `"${id}" is a reserved document id (__…__)`;
  if (Buffer.byteLength(id) > 1500) return "document id longer than 1,500 bytes";
  return undefined;
}

/** A value as a document id: ObjectId → hex, integers → decimal, strings as they are. */
export function idString(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") return Number.isSafeInteger(v) ? String(v) : undefined;
  const t = bsonType(v);
  if (t === "ObjectId") return (v as { toHexString(): string }).toHexString();
  if (t === "Int32" || t === "Long") return String((v as { toString(): string }).toString());
  return undefined;
}

/** The value at a dotted field path, or undefined. Own properties only. */
export function getPath(doc: Doc, path: string): unknown {
  let cur: unknown = doc;
  for (const key of path.split(".")) {
    if (!isPlainObject(cur) || !Object.hasOwn(cur, key)) return undefined;
    cur = cur[key];
  }
  return cur;
}

/** Copy-on-write removal: returns the document without `path` and the value that was there. */
function take(doc: Doc, parts: string[]): [Doc, unknown, boolean] {
  const [head, ...rest] = parts;
  if (!Object.hasOwn(doc, head)) return [doc, undefined, false];
  const copy = { ...doc };
  if (rest.length === 0) {
    const value = copy[head];
    delete copy[head];
    return [copy, value, true];
  }
  const child = copy[head];
  if (!isPlainObject(child)) return [doc, undefined, false];
  const [next, value, found] = take(child, rest);
  copy[head] = next;
  return [copy, value, found];
}

/** Copy-on-write insertion; false when the path is already taken. */
function put(doc: Doc, parts: string[], value: unknown): Doc | undefined {
  const [head, ...rest] = parts;
  const copy = { ...doc };
  if (rest.length === 0) {
    if (Object.hasOwn(copy, head)) return undefined;
    Object.defineProperty(copy, head, { value, enumerable: true, writable: true, configurable: true });
    return copy;
  }
  const child = Object.hasOwn(copy, head) ? copy[head] : {};
  if (!isPlainObject(child)) return undefined;
  const next = put(child, rest, value);
  if (!next) return undefined;
  copy[head] = next;
  return copy;
}

function count(stats: ConversionStats, key: string) {
  stats.set(key, (stats.get(key) ?? 0) + 1);
}

/** Normal form of a decimal string for value comparison: sign, digits without padding zeros, exponent. */
function normalDecimal(s: string): string | undefined {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
  if (!m) return undefined;
  let digits = `${m[2]}${m[3] ?? ""}`.replace(/^0+/, "");
  let exp = Number(m[4] ?? 0) - (m[3] ?? "").length;
  if (digits === "") return "0";
  while (digits.endsWith("0")) {
    digits = digits.slice(0, -1);
    exp += 1;
  }
  return `${m[1] === "-" ? "-" : ""}${digits}e${exp}`;
}

function decimal128(
  text: string,
  policy: TypePolicies["decimal128"],
  field: string,
  stats: ConversionStats,
  errors: FieldError[],
): unknown {
  if (policy === "string") {
    count(stats, "Decimal128→string");
    return text;
  }
  if (text === "NaN" || text === "Infinity" || text === "-Infinity") {
    count(stats, "Decimal128→number");
    return Number(text);
  }
  const n = Number(text);
  // The double must read back as the same decimal value; otherwise the policy would lose digits.
  if (!Number.isFinite(n) || normalDecimal(String(n)) !== normalDecimal(text)) {
    errors.push({
      field,
      message: `Decimal128 ${text} is not exactly representable as a number (types.decimal128 is "number"; use "string")`,
    });
    return undefined;
  }
  count(stats, "Decimal128→number");
  return n;
}

function int64(v: bigint, policy: TypePolicies["int64"], stats: ConversionStats): unknown {
  if (policy === "auto" && v <= MAX_SAFE && v >= -MAX_SAFE) {
    count(stats, "Int64→number");
    return Number(v);
  }
  count(stats, "Int64→string");
  return v.toString();
}

/** Converts one BSON value (from `bson` or the driver) into a Firestore value. */
function convertValue(
  v: unknown,
  field: string,
  policies: TypePolicies,
  stats: ConversionStats,
  errors: FieldError[],
): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === "string" || typeof v === "boolean" || typeof v === "number") return v;
  if (typeof v === "bigint") return int64(v, policies.int64, stats);
  if (v instanceof Date) {
    const ms = v.getTime();
    if (!Number.isFinite(ms) || ms < MIN_TS_MS || ms > MAX_TS_MS) {
      errors.push({ field, message: "date outside Firestore's timestamp range (years 1-9999)" });
      return undefined;
    }
    count(stats, "Date→Timestamp");
    return Timestamp.fromMillis(ms);
  }
  if (v instanceof RegExp) {
    errors.push({
      field,
      message: "BSON regular expression has no Firestore equivalent; drop the field in the mapping",
    });
    return undefined;
  }
  if (Array.isArray(v)) {
    return v.map((item, i) => {
      const at = `${field}[${i}]`;
      if (Array.isArray(item)) {
        errors.push({ field: at, message: "nested array (Firestore arrays cannot contain arrays)" });
        return undefined;
      }
      return convertValue(item, at, policies, stats, errors);
    });
  }
  const type = bsonType(v);
  switch (type) {
    case "ObjectId":
      count(stats, "ObjectId→string");
      return (v as { toHexString(): string }).toHexString();
    case "Int32":
    case "Double":
      return (v as { value: number }).value;
    case "Long":
      return int64(BigInt((v as { toString(): string }).toString()), policies.int64, stats);
    case "Decimal128":
      return decimal128((v as { toString(): string }).toString(), policies.decimal128, field, stats, errors);
    case "Binary": {
      count(stats, "Binary→Bytes");
      const b = v as { buffer: Uint8Array; position: number };
      return Buffer.from(b.buffer.buffer, b.buffer.byteOffset, b.position);
    }
    case undefined:
      break;
    default:
      errors.push({ field, message: `BSON ${type} has no Firestore equivalent; drop the field in the mapping` });
      return undefined;
  }
  if (!isPlainObject(v)) {
    errors.push({ field, message: `unsupported value of type ${Object.prototype.toString.call(v)}` });
    return undefined;
  }
  const out: Doc = {};
  for (const key of Object.keys(v)) {
    const at = joinPath(field, key);
    const problem = fieldNameProblem(key);
    if (problem) {
      errors.push({ field: at, message: `invalid field name: ${problem}` });
      continue;
    }
    out[key] = convertValue(v[key], at, policies, stats, errors);
  }
  return out;
}

/** Renders a path template: literals as they are, `{x}` from `values` first, then the document's fields. */
function renderPath(
  segments: Segment[],
  doc: Doc,
  values: Record<string, string>,
  errors: FieldError[],
  what: string,
): string | undefined {
  const out: string[] = [];
  for (const s of segments) {
    if ("literal" in s) {
      out.push(s.literal);
      continue;
    }
    const raw = Object.hasOwn(values, s.field) ? values[s.field] : getPath(doc, s.field);
    const id = idString(raw);
    if (id === undefined) {
      errors.push({
        field: s.field,
        message: `${what}: {${s.field}} is ${raw === undefined ? "missing" : "not a string, integer or ObjectId"}`,
      });
      return undefined;
    }
    const problem = docIdProblem(id);
    if (problem) {
      errors.push({ field: s.field, message: `${what}: ${problem}` });
      return undefined;
    }
    out.push(id);
  }
  return out.join("/");
}

function tenantOf(doc: Doc, mapping: CollectionMapping, errors: FieldError[]): string | undefined {
  if ("value" in mapping.tenant) return mapping.tenant.value;
  const raw = getPath(doc, mapping.tenant.field);
  const id = idString(raw);
  if (id === undefined || !TENANT_ID.test(id)) {
    errors.push({
      field: mapping.tenant.field,
      message:
        raw === undefined
          ? "tenant field is missing"
          : `tenant id ${JSON.stringify(id ?? String(raw))} is not 1-128 letters, digits, '-' or '_'`,
    });
    return undefined;
  }
  return id;
}

/** Membership documents need roles (non-empty list of ids) and a status the app understands. */
function membershipFields(doc: Doc, spec: NonNullable<CollectionMapping["membership"]>, errors: FieldError[]): Doc {
  const rawRoles = "value" in spec.roles ? spec.roles.value : getPath(doc, spec.roles.field);
  const roleList = typeof rawRoles === "string" ? [rawRoles] : rawRoles;
  const rolesField = "field" in spec.roles ? spec.roles.field : "roles";
  if (
    !Array.isArray(roleList) ||
    roleList.length === 0 ||
    !roleList.every((r) => typeof r === "string" && TENANT_ID.test(r))
  ) {
    errors.push({ field: rolesField, message: "roles must be a role id or a non-empty list of role ids" });
  }
  const status = "value" in spec.status ? spec.status.value : getPath(doc, spec.status.field);
  if (status !== "active" && status !== "suspended") {
    errors.push({
      field: "field" in spec.status ? spec.status.field : "status",
      message: `membership status ${JSON.stringify(status)} is not "active" or "suspended"`,
    });
  }
  return { roles: roleList, status };
}

/** Converts one source document according to its collection mapping. */
export function convertDocument(
  doc: Doc,
  mapping: CollectionMapping,
  db: Firestore,
  stats: ConversionStats,
): Converted {
  const errors: FieldError[] = [];
  const tenantId = tenantOf(doc, mapping, errors);
  if (tenantId === undefined) return { ok: false, errors };
  const path = renderPath(mapping.segments, doc, { tenantId }, errors, "target path");
  if (path === undefined) return { ok: false, tenantId, errors };

  let work = doc;
  let idRenamed = false;
  for (const [from, to] of Object.entries(mapping.rename)) {
    const [without, value, found] = take(work, from.split("."));
    if (!found) continue;
    const moved = put(without, to.split("."), value);
    if (!moved) {
      errors.push({ field: from, message: `cannot rename to "${to}": that field already exists` });
      continue;
    }
    work = moved;
    if (from === "_id") idRenamed = true;
  }
  for (const field of [...mapping.drop, ...(idRenamed ? [] : ["_id"])]) work = take(work, field.split("."))[0];

  const data = convertValue(work, "", mapping.policies, stats, errors) as Doc;
  if (mapping.membership) Object.assign(data, membershipFields(doc, mapping.membership, errors));
  if (mapping.isTenantDoc) {
    // The tenant document carries what the resolver reads: a name, a status and a config version.
    data.name ??= tenantId;
    data.status ??= "active";
    data.configVersion ??= 1;
    if (data.status !== "active" && data.status !== "suspended")
      errors.push({
        field: "status",
        message: `tenant status ${JSON.stringify(data.status)} is not "active" or "suspended"`,
      });
  }
  for (const [field, template] of Object.entries(mapping.references)) {
    const parts = field.split(".");
    const value = getPath(data, field);
    if (value === undefined || value === null) continue;
    const segments = template
      .split("/")
      .map((p): Segment => (/^\{.+\}$/.test(p) ? { field: p.slice(1, -1) } : { literal: p }));
    const toRef = (id: unknown) => {
      const refPath = renderPath(segments, doc, { tenantId, value: id as string }, errors, `reference ${field}`);
      if (refPath === undefined) return undefined;
      count(stats, "ObjectId→reference");
      return db.doc(refPath);
    };
    const converted = Array.isArray(value) ? value.map(toRef) : toRef(value);
    let target: Doc = data;
    for (const p of parts.slice(0, -1)) target = target[p] as Doc;
    target[parts[parts.length - 1]] = converted;
  }
  if (errors.length > 0) return { ok: false, path, tenantId, errors };
  const size = documentSize(path, data);
  if (size > MAX_DOCUMENT_BYTES) {
    return {
      ok: false,
      path,
      tenantId,
      errors: [
        {
          field: "",
          message: `document is ${size} bytes, over Firestore's ${MAX_DOCUMENT_BYTES}-byte limit (not truncated, not written)`,
        },
      ],
    };
  }
  return { ok: true, path, tenantId, data, size, checksum: checksum(data) };
}
