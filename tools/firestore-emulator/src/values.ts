/**
 * Firestore `Value` model: the decoded google.firestore.v1.Value in protobufjs "plain object" form
 * (longs as decimal strings, enums as names, bytes as Buffer), plus Firestore's total ordering and
 * equality over it.
 */

export interface Timestamp {
  seconds?: string | number;
  nanos?: number;
}
export interface LatLng {
  latitude?: number;
  longitude?: number;
}
export interface ArrayValue {
  values?: Value[];
}
export interface MapValue {
  fields?: Record<string, Value>;
}
export interface Value {
  nullValue?: string | number;
  booleanValue?: boolean;
  integerValue?: string | number;
  doubleValue?: number;
  timestampValue?: Timestamp;
  stringValue?: string;
  bytesValue?: Uint8Array;
  referenceValue?: string;
  geoPointValue?: LatLng;
  arrayValue?: ArrayValue;
  mapValue?: MapValue;
}

export type Fields = Record<string, Value>;

export const NULL_VALUE: Value = Object.freeze({ nullValue: "NULL_VALUE" }) as Value;

/** Type ranks in Firestore's cross-type order. Ints and doubles share one rank. */
export const enum Rank {
  Null = 0,
  Boolean = 1,
  Number = 2,
  Timestamp = 3,
  String = 4,
  Bytes = 5,
  Reference = 6,
  GeoPoint = 7,
  Array = 8,
  Vector = 9,
  Map = 10,
  Invalid = 11,
}

/** Rank of a value, or Rank.Invalid when no known member of the oneof is set. */
export function rankOf(v: Value): Rank {
  if (v.nullValue !== undefined) return Rank.Null;
  if (v.booleanValue !== undefined) return Rank.Boolean;
  if (v.integerValue !== undefined || v.doubleValue !== undefined) return Rank.Number;
  if (v.timestampValue !== undefined) return Rank.Timestamp;
  if (v.stringValue !== undefined) return Rank.String;
  if (v.bytesValue !== undefined) return Rank.Bytes;
  if (v.referenceValue !== undefined) return Rank.Reference;
  if (v.geoPointValue !== undefined) return Rank.GeoPoint;
  if (v.arrayValue !== undefined) return Rank.Array;
  if (v.mapValue !== undefined) return isVector(v) ? Rank.Vector : Rank.Map;
  return Rank.Invalid;
}

function isVector(v: Value): boolean {
  const t = v.mapValue?.fields?.["__type__"];
  return t !== undefined && t.stringValue === "__vector__";
}

/**
 * Compares strings by UTF-8 byte order, which is Firestore's order. UTF-16 code-unit order
 * differs only where a surrogate (a code point above U+FFFF) meets a code unit in U+E000..U+FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca !== cb) {
      const sa = ca >= 0xd800 && ca <= 0xdfff;
      const sb = cb >= 0xd800 && cb <= 0xdfff;
      if (sa === sb) return ca < cb ? -1 : 1;
      return sa ? 1 : -1;
    }
  }
  return a.length - b.length < 0 ? -1 : a.length === b.length ? 0 : 1;
}

const SAFE = 2 ** 53;

/** Integer value as a number when exactly representable, else as a bigint. */
export function intOf(v: string | number): number | bigint {
  if (typeof v === "number") return v;
  const n = Number(v);
  return Math.abs(n) < SAFE ? n : BigInt(v);
}

function compareNumbers(a: Value, b: Value): number {
  const ai = a.integerValue !== undefined;
  const bi = b.integerValue !== undefined;
  if (ai && bi) {
    const x = intOf(a.integerValue!);
    const y = intOf(b.integerValue!);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const x = ai ? Number(a.integerValue) : (a.doubleValue as number);
  const y = bi ? Number(b.integerValue) : (b.doubleValue as number);
  // NaN sorts before every other number and equals itself in Firestore's order.
  const xn = Number.isNaN(x);
  const yn = Number.isNaN(y);
  if (xn || yn) return xn && yn ? 0 : xn ? -1 : 1;
  if (x < y) return -1;
  if (x > y) return 1;
  // Equal as doubles: a large integer may still differ from the double it rounds to.
  if (ai !== bi && Number.isFinite(x)) {
    const big = BigInt(ai ? (a.integerValue as string) : (b.integerValue as string));
    const dbl = BigInt(ai ? y : x);
    const c = big < dbl ? -1 : big > dbl ? 1 : 0;
    return ai ? c : -c;
  }
  return 0;
}

/** Timestamp as [seconds, nanos] numbers. */
export function tsParts(t: Timestamp): [number, number] {
  return [Number(t.seconds ?? 0), t.nanos ?? 0];
}

function compareTimestamps(a: Timestamp, b: Timestamp): number {
  const [as, an] = tsParts(a);
  const [bs, bn] = tsParts(b);
  return as !== bs ? (as < bs ? -1 : 1) : an !== bn ? (an < bn ? -1 : 1) : 0;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

const NUMERIC_ID = /^__id(-?\d+)__$/;

/**
 * Compares two path segments. Ids of the form `__id<n>__` are Firestore's numeric ids: they sort
 * before every string id and numerically among themselves (the SDK's recursiveDelete relies on
 * `__id-9223372036854775808__` being the smallest id).
 */
function compareSegments(a: string, b: string): number {
  const na = a.startsWith("__id") ? NUMERIC_ID.exec(a) : null;
  const nb = b.startsWith("__id") ? NUMERIC_ID.exec(b) : null;
  if (na || nb) {
    if (!na) return 1;
    if (!nb) return -1;
    const x = BigInt(na[1]);
    const y = BigInt(nb[1]);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return compareUtf8(a, b);
}

/**
 * Compares resource names segment by segment (so `a/b` < `a-/b`, unlike plain string order)
 * without splitting: only the first segment that differs is examined.
 */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  const start = a.lastIndexOf("/", i - 1) + 1;
  const ea = a.indexOf("/", i);
  const eb = b.indexOf("/", i);
  const c = compareSegments(a.slice(start, ea < 0 ? a.length : ea), b.slice(start, eb < 0 ? b.length : eb));
  if (c !== 0) return c;
  // Same segment text (one name continues with more segments): the shorter name sorts first.
  return a.length < b.length ? -1 : 1;
}

function compareDoubles(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareArrays(a: Value[], b: Value[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compareValues(a[i], b[i]);
    if (c !== 0) return c;
  }
  return a.length - b.length < 0 ? -1 : a.length === b.length ? 0 : 1;
}

function sortedKeys(f: Fields | undefined): string[] {
  return f ? Object.keys(f).sort(compareUtf8) : [];
}

function compareMaps(a: Fields | undefined, b: Fields | undefined): number {
  const ak = sortedKeys(a);
  const bk = sortedKeys(b);
  const n = Math.min(ak.length, bk.length);
  for (let i = 0; i < n; i++) {
    const k = compareUtf8(ak[i], bk[i]);
    if (k !== 0) return k;
    const c = compareValues(a![ak[i]], b![bk[i]]);
    if (c !== 0) return c;
  }
  return ak.length - bk.length < 0 ? -1 : ak.length === bk.length ? 0 : 1;
}

function compareVectors(a: Value, b: Value): number {
  const av = a.mapValue?.fields?.["value"]?.arrayValue?.values ?? [];
  const bv = b.mapValue?.fields?.["value"]?.arrayValue?.values ?? [];
  if (av.length !== bv.length) return av.length < bv.length ? -1 : 1;
  return compareArrays(av, bv);
}

/** Firestore's total order over values: -1, 0 or 1. */
export function compareValues(a: Value, b: Value): number {
  const ra = rankOf(a);
  const rb = rankOf(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case Rank.Null:
      return 0;
    case Rank.Boolean:
      return a.booleanValue === b.booleanValue ? 0 : a.booleanValue ? 1 : -1;
    case Rank.Number:
      return compareNumbers(a, b);
    case Rank.Timestamp:
      return compareTimestamps(a.timestampValue!, b.timestampValue!);
    case Rank.String:
      return compareUtf8(a.stringValue!, b.stringValue!);
    case Rank.Bytes:
      return compareBytes(a.bytesValue!, b.bytesValue!);
    case Rank.Reference:
      return compareNames(a.referenceValue!, b.referenceValue!);
    case Rank.GeoPoint: {
      const c = compareDoubles(a.geoPointValue!.latitude ?? 0, b.geoPointValue!.latitude ?? 0);
      return c !== 0 ? c : compareDoubles(a.geoPointValue!.longitude ?? 0, b.geoPointValue!.longitude ?? 0);
    }
    case Rank.Array:
      return compareArrays(a.arrayValue!.values ?? [], b.arrayValue!.values ?? []);
    case Rank.Vector:
      return compareVectors(a, b);
    case Rank.Map:
      return compareMaps(a.mapValue!.fields, b.mapValue!.fields);
    default:
      return 0;
  }
}

/**
 * Equality as Firestore's filters and array transforms use it: numerically (1 == 1.0, -0 == 0),
 * NaN equal to NaN, maps regardless of key order.
 */
export function valuesEqual(a: Value, b: Value): boolean {
  return compareValues(a, b) === 0;
}

/**
 * Strict identity used to detect no-op writes: like valuesEqual but an integer never equals a
 * double, so `set({n: 1.0})` over `{n: 1}` is a real change.
 */
export function valuesIdentical(a: Value, b: Value): boolean {
  if ((a.integerValue !== undefined) !== (b.integerValue !== undefined)) return false;
  const ra = rankOf(a);
  if (ra !== rankOf(b)) return false;
  if (ra === Rank.Array) {
    const x = a.arrayValue!.values ?? [];
    const y = b.arrayValue!.values ?? [];
    return x.length === y.length && x.every((v, i) => valuesIdentical(v, y[i]));
  }
  if (ra === Rank.Map || ra === Rank.Vector) return fieldsIdentical(a.mapValue!.fields ?? {}, b.mapValue!.fields ?? {});
  // Object.is: NaN is NaN, but -0 is not 0 (the stored bits differ).
  if (ra === Rank.Number && a.doubleValue !== undefined) return Object.is(a.doubleValue, b.doubleValue);
  return compareValues(a, b) === 0;
}

/** Whether two field maps hold identical values. */
export function fieldsIdentical(a: Fields, b: Fields): boolean {
  const ak = Object.keys(a);
  if (ak.length !== Object.keys(b).length) return false;
  for (const k of ak) {
    const bv = b[k];
    if (bv === undefined || !valuesIdentical(a[k], bv)) return false;
  }
  return true;
}

/** Whether a value is an integer or a double. */
export function isNumber(v: Value | undefined): v is Value {
  return v !== undefined && (v.integerValue !== undefined || v.doubleValue !== undefined);
}

/** Whether a value is the double NaN. */
export function isNaNValue(v: Value | undefined): boolean {
  return v !== undefined && v.doubleValue !== undefined && Number.isNaN(v.doubleValue);
}

/** Whether a value is null. */
export function isNullValue(v: Value | undefined): boolean {
  return v !== undefined && v.nullValue !== undefined;
}
