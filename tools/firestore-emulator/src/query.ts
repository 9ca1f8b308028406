/**
 * StructuredQuery evaluation: candidate selection (collection or collection group), filters,
 * Firestore's implicit ordering, cursors, offset/limit.
 */
import { Message, invalid } from "./grpc";
import { formatFieldPath, getField, parseFieldPath } from "./fieldpath";
import { Database, DocEntry, Version, versionAt } from "./store";
import { Rank, Value, compareNames, compareValues, isNaNValue, isNullValue, rankOf } from "./values";

/** A document matched by a query. */
export interface Hit {
  entry: DocEntry;
  version: Version;
  /** Full resource name. */
  name: string;
  /** Values of the effective orderBy fields (with `__name__` last). */
  keys: Value[];
}

interface Order {
  segs: string[];
  desc: boolean;
}

/** What a query ranges over: for op accounting and phantom locks. */
export interface QueryScope {
  /** `tenants/a/members`, or `**` + `/members` for a collection group. */
  label: string;
  /** Lock key covering inserts that could change the result. */
  lockKey: string;
}

const INEQUALITY = new Set(["LESS_THAN", "LESS_THAN_OR_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL", "NOT_EQUAL", "NOT_IN"]);
const NAME = ["__name__"];

function isName(segs: string[]): boolean {
  return segs.length === 1 && segs[0] === "__name__";
}

function fieldOf(ref: Message | undefined): string[] {
  const p = ref?.fieldPath;
  if (typeof p !== "string") throw invalid("A field reference is missing its field path.");
  return parseFieldPath(p);
}

/** The value a query sees at a field path; `__name__` is the document's reference. */
function valueAt(hitName: string, v: Version, segs: string[]): Value | undefined {
  return isName(segs) ? { referenceValue: hitName } : getField(v.fields ?? undefined, segs);
}

/** Describes the collection(s) a query reads, relative to `.../documents`. */
export function queryScope(parentPath: string, q: Message): QueryScope {
  const from = (q.from ?? [])[0] ?? {};
  const id: string = from.collectionId ?? "";
  if (from.allDescendants) {
    const label = (parentPath ? parentPath + "/" : "") + "**/" + (id || "*");
    return { label, lockKey: "g:" + id };
  }
  const coll = parentPath ? `${parentPath}/${id}` : id;
  return { label: coll, lockKey: "c:" + coll };
}

/** Runs a structured query against `db` as of `readUs` (latest when undefined). */
export function runStructuredQuery(db: Database, parentPath: string, q: Message, readUs?: number): Hit[] {
  const froms: Message[] = q.from ?? [];
  if (froms.length !== 1) throw invalid("Query must select exactly one collection.");
  if (q.findNearest) throw invalid("Vector search (findNearest) is not supported by this emulator.");
  const orders = effectiveOrders(q);
  const hits: Hit[] = [];
  const root = db.documentsRoot + "/";
  const visit = (docs: Map<string, DocEntry>): void => {
    for (const entry of docs.values()) {
      const version = versionAt(entry, readUs);
      if (!version) continue;
      const name = root + entry.path;
      if (q.where && !matches(q.where, name, version)) continue;
      const keys: Value[] = [];
      let complete = true;
      for (const o of orders) {
        const v = valueAt(name, version, o.segs);
        // Documents without an orderBy field are not in that field's index: excluded.
        if (v === undefined) {
          complete = false;
          break;
        }
        keys.push(v);
      }
      if (complete) hits.push({ entry, version, name, keys });
    }
  };
  const from = froms[0];
  const id: string = from.collectionId ?? "";
  if (from.allDescendants) {
    const prefix = parentPath ? parentPath + "/" : "";
    const colls = id ? db.groups.get(id) ?? new Set<string>() : db.collections.keys();
    for (const coll of colls) {
      if (prefix && !coll.startsWith(prefix)) continue;
      const docs = db.collections.get(coll);
      if (docs) visit(docs);
    }
  } else {
    if (!id) throw invalid("Collection id must not be empty.");
    const docs = db.collections.get(parentPath ? `${parentPath}/${id}` : id);
    if (docs) visit(docs);
  }

  hits.sort((a, b) => compareKeys(a.keys, b.keys, orders));
  let out = hits;
  if (q.startAt) out = out.filter((h) => afterStart(h, q.startAt, orders));
  if (q.endAt) out = out.filter((h) => beforeEnd(h, q.endAt, orders));
  const offset: number = q.offset ?? 0;
  if (offset < 0) throw invalid("Offset must not be negative.");
  const limit: number | undefined = q.limit?.value;
  if (limit !== undefined && limit < 0) throw invalid("Limit must not be negative.");
  if (offset > 0 || limit !== undefined) out = out.slice(offset, limit === undefined ? undefined : offset + limit);
  return out;
}

/**
 * Explicit orderBy, then inequality-filtered fields not already ordered (lexicographically),
 * then `__name__`, the implicit ones in the direction of the last explicit order.
 */
function effectiveOrders(q: Message): Order[] {
  const orders: Order[] = (q.orderBy ?? []).map((o: Message) => ({
    segs: fieldOf(o.field),
    desc: o.direction === "DESCENDING",
  }));
  const lastDesc = orders.length > 0 ? orders[orders.length - 1].desc : false;
  const seen = new Set(orders.map((o) => formatFieldPath(o.segs)));
  const extra = new Map<string, string[]>();
  collectInequalities(q.where, extra);
  const implicit = [...extra.entries()].filter(([k]) => !seen.has(k)).sort((a, b) => compareFieldPaths(a[1], b[1]));
  for (const [k, segs] of implicit) {
    if (k === "__name__") continue;
    orders.push({ segs, desc: lastDesc });
    seen.add(k);
  }
  if (!seen.has("__name__")) orders.push({ segs: NAME, desc: lastDesc });
  return orders;
}

function compareFieldPaths(a: string[], b: string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return a.length - b.length;
}

function collectInequalities(f: Message | undefined, out: Map<string, string[]>): void {
  if (!f) return;
  if (f.compositeFilter) for (const sub of f.compositeFilter.filters ?? []) collectInequalities(sub, out);
  else if (f.fieldFilter && INEQUALITY.has(f.fieldFilter.op)) {
    const segs = fieldOf(f.fieldFilter.field);
    out.set(formatFieldPath(segs), segs);
  } else if (f.unaryFilter && (f.unaryFilter.op === "IS_NOT_NAN" || f.unaryFilter.op === "IS_NOT_NULL")) {
    const segs = fieldOf(f.unaryFilter.field);
    out.set(formatFieldPath(segs), segs);
  }
}

function compareKeys(a: Value[], b: Value[], orders: Order[]): number {
  for (let i = 0; i < orders.length; i++) {
    const c = i === orders.length - 1 && isName(orders[i].segs) ? compareNames(a[i].referenceValue!, b[i].referenceValue!) : compareValues(a[i], b[i]);
    if (c !== 0) return orders[i].desc ? -c : c;
  }
  return 0;
}

/** Position of a hit relative to a cursor: <0 before it, 0 at it, >0 after it. */
function compareToCursor(h: Hit, cursor: Message, orders: Order[]): number {
  const values: Value[] = cursor.values ?? [];
  if (values.length > orders.length) throw invalid("Too many cursor values specified. The specified values must match the orderBy() constraints of the query.");
  for (let i = 0; i < values.length; i++) {
    let cv = values[i];
    if (isName(orders[i].segs) && cv.stringValue !== undefined) cv = { referenceValue: cv.stringValue };
    const c = compareValues(h.keys[i], cv);
    if (c !== 0) return orders[i].desc ? -c : c;
  }
  return 0;
}

function afterStart(h: Hit, cursor: Message, orders: Order[]): boolean {
  const c = compareToCursor(h, cursor, orders);
  return cursor.before ? c >= 0 : c > 0;
}

function beforeEnd(h: Hit, cursor: Message, orders: Order[]): boolean {
  const c = compareToCursor(h, cursor, orders);
  return cursor.before ? c < 0 : c <= 0;
}

function arrayValues(v: Value | undefined): Value[] {
  return v?.arrayValue?.values ?? [];
}

function contains(list: Value[], v: Value): boolean {
  for (const x of list) if (compareValues(x, v) === 0) return true;
  return false;
}

/** Whether a document satisfies a Filter. */
function matches(f: Message, name: string, v: Version): boolean {
  if (f.compositeFilter) {
    const subs: Message[] = f.compositeFilter.filters ?? [];
    if (f.compositeFilter.op === "OR") return subs.some((s) => matches(s, name, v));
    return subs.every((s) => matches(s, name, v));
  }
  if (f.unaryFilter) {
    const x = valueAt(name, v, fieldOf(f.unaryFilter.field));
    switch (f.unaryFilter.op) {
      case "IS_NAN":
        return isNaNValue(x);
      case "IS_NULL":
        return isNullValue(x);
      case "IS_NOT_NAN":
        return x !== undefined && !isNullValue(x) && !isNaNValue(x);
      case "IS_NOT_NULL":
        return x !== undefined && !isNullValue(x);
      default:
        throw invalid(`Unsupported unary filter operator ${f.unaryFilter.op}.`);
    }
  }
  if (f.fieldFilter) {
    const ff = f.fieldFilter;
    const want: Value | undefined = ff.value;
    if (!want) throw invalid("A field filter is missing its value.");
    const x = valueAt(name, v, fieldOf(ff.field));
    if (x === undefined) return false;
    switch (ff.op) {
      case "EQUAL":
        return compareValues(x, want) === 0;
      case "NOT_EQUAL":
        // != excludes documents where the field is null (and, above, where it is missing).
        return !isNullValue(x) && compareValues(x, want) !== 0;
      case "LESS_THAN":
      case "LESS_THAN_OR_EQUAL":
      case "GREATER_THAN":
      case "GREATER_THAN_OR_EQUAL": {
        // Range filters only match values of the same type (ints and doubles are one type), and
        // never NaN, although NaN sorts first (checked against the official emulator).
        if (rankOf(x) !== rankOf(want) || isNaNValue(x) || isNaNValue(want)) return false;
        const c = compareValues(x, want);
        if (ff.op === "LESS_THAN") return c < 0;
        if (ff.op === "LESS_THAN_OR_EQUAL") return c <= 0;
        if (ff.op === "GREATER_THAN") return c > 0;
        return c >= 0;
      }
      case "ARRAY_CONTAINS":
        return x.arrayValue !== undefined && contains(arrayValues(x), want);
      case "IN":
        // `in` is a set of equality matches on values; null and NaN are only found by
        // IS_NULL / IS_NAN: `in [null]` and `in [NaN]` match nothing (the official emulator, and
        // the Firebase JS SDK's integration test "can use IN filters").
        return !isNullValue(x) && !isNaNValue(x) && contains(arrayValues(want), x);
      case "NOT_IN": {
        const list = arrayValues(want);
        if (list.some((e) => rankOf(e) === Rank.Null)) return false;
        return !isNullValue(x) && !contains(list, x);
      }
      case "ARRAY_CONTAINS_ANY": {
        if (x.arrayValue === undefined) return false;
        const have = arrayValues(x);
        return arrayValues(want).some((w) => contains(have, w));
      }
      default:
        throw invalid(`Unsupported field filter operator ${ff.op}.`);
    }
  }
  return true;
}
