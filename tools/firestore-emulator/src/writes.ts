/**
 * Applying one google.firestore.v1.Write to a document state: preconditions, update masks and
 * field transforms. Pure: callers decide when (and whether) the results are stored.
 */
import { usToTimestamp, timestampIsUs } from "./clock";
import { deleteField, getField, parseFieldPath, setField } from "./fieldpath";
import { GrpcError, Message, Status, invalid } from "./grpc";
import { Version } from "./store";
import { Fields, NULL_VALUE, Rank, Value, compareValues, intOf, isNaNValue, isNumber, rankOf } from "./values";

/** State of a document while a commit is being evaluated. */
export interface DocState {
  fields: Fields | null;
  /** Version the commit started from (for create/update times). */
  base: Version | null;
}

/** The document name a write targets. */
export function writeTarget(w: Message): string {
  const name = w.update?.name ?? w.delete ?? w.transform?.document;
  if (typeof name !== "string") throw invalid("Write has no operation (update, delete or transform).");
  return name;
}

/** Checks a write's precondition against the state the write will see. */
function checkPrecondition(w: Message, name: string, cur: DocState): void {
  const pre = w.currentDocument;
  if (!pre) return;
  if (pre.exists !== undefined) {
    if (pre.exists && !cur.fields) throw new GrpcError(Status.NOT_FOUND, `No document to update: ${name}`);
    if (!pre.exists && cur.fields) throw new GrpcError(Status.ALREADY_EXISTS, `Document already exists: ${name}`);
  }
  if (pre.updateTime !== undefined) {
    // A document changed earlier in this same commit no longer has its stored update time.
    const stored = cur.base && cur.fields ? cur.base.updateUs : undefined;
    if (stored === undefined || cur.fields !== cur.base?.fields || !timestampIsUs(pre.updateTime, stored)) {
      throw new GrpcError(Status.FAILED_PRECONDITION, `the stored version of ${name} does not match the required base version`);
    }
  }
}

/**
 * Applies a write to `cur`, returning the new fields (null = deleted) and transform results.
 * Throws a GrpcError when a precondition fails or the write is malformed.
 */
export function applyWrite(w: Message, name: string, cur: DocState, commitUs: number): { fields: Fields | null; transformResults: Value[] } {
  checkPrecondition(w, name, cur);
  if (w.delete !== undefined) return { fields: null, transformResults: [] };
  let fields: Fields;
  if (w.update) {
    const incoming: Fields = w.update.fields ?? {};
    validateFields(incoming);
    if (w.updateMask) {
      fields = { ...(cur.fields ?? {}) };
      for (const p of w.updateMask.fieldPaths ?? []) {
        const segs = parseFieldPath(p);
        const v = getField(incoming, segs);
        if (v === undefined) deleteField(fields, segs);
        else setField(fields, segs, v);
      }
    } else {
      fields = incoming;
    }
  } else {
    fields = { ...(cur.fields ?? {}) };
  }
  const transforms: Message[] = w.update ? w.updateTransforms ?? [] : w.transform?.fieldTransforms ?? [];
  const transformResults: Value[] = [];
  if (transforms.length > 0) {
    if (fields === w.update?.fields) fields = { ...fields };
    for (const t of transforms) {
      const segs = parseFieldPath(t.fieldPath);
      const result = applyTransform(t, getField(fields, segs), commitUs);
      setField(fields, segs, result.stored);
      transformResults.push(result.reported);
    }
  }
  return { fields, transformResults };
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

function applyTransform(t: Message, cur: Value | undefined, commitUs: number): { stored: Value; reported: Value } {
  if (t.setToServerValue !== undefined) {
    if (t.setToServerValue !== "REQUEST_TIME") throw invalid(`Unsupported server value ${t.setToServerValue}.`);
    // REQUEST_TIME has millisecond precision (google.firestore.v1 DocumentTransform), unlike
    // commit times, which are microseconds.
    const v = { timestampValue: usToTimestamp(commitUs - (commitUs % 1000)) };
    return { stored: v, reported: v };
  }
  if (t.increment !== undefined) {
    const v = increment(cur, numericOperand(t.increment, "increment"));
    return { stored: v, reported: v };
  }
  if (t.maximum !== undefined || t.minimum !== undefined) {
    const isMax = t.maximum !== undefined;
    const op = numericOperand(isMax ? t.maximum : t.minimum, isMax ? "maximum" : "minimum");
    const v = extremum(cur, op, isMax);
    return { stored: v, reported: v };
  }
  if (t.appendMissingElements !== undefined) {
    const out = [...(cur?.arrayValue?.values ?? [])];
    for (const e of t.appendMissingElements.values ?? []) {
      validateValue(e);
      if (!out.some((x) => compareValues(x, e) === 0)) out.push(e);
    }
    return { stored: { arrayValue: { values: out } }, reported: NULL_VALUE };
  }
  if (t.removeAllFromArray !== undefined) {
    const drop: Value[] = t.removeAllFromArray.values ?? [];
    const out = (cur?.arrayValue?.values ?? []).filter((x) => !drop.some((d) => compareValues(x, d) === 0));
    return { stored: { arrayValue: { values: out } }, reported: NULL_VALUE };
  }
  throw invalid(`Field transform on "${t.fieldPath}" has no transform type.`);
}

function numericOperand(v: Value, what: string): Value {
  if (!isNumber(v)) throw invalid(`The ${what} operand must be an integer or a double.`);
  return v;
}

function increment(cur: Value | undefined, by: Value): Value {
  if (!isNumber(cur)) return by;
  if (cur.integerValue !== undefined && by.integerValue !== undefined) {
    let sum = BigInt(cur.integerValue) + BigInt(by.integerValue);
    // Integer overflow saturates at the int64 bounds, as documented for FieldTransform.increment.
    if (sum > INT64_MAX) sum = INT64_MAX;
    if (sum < INT64_MIN) sum = INT64_MIN;
    return { integerValue: sum.toString() };
  }
  return { doubleValue: asDouble(cur) + asDouble(by) };
}

function asDouble(v: Value): number {
  return v.integerValue !== undefined ? Number(intOf(v.integerValue)) : (v.doubleValue as number);
}

function extremum(cur: Value | undefined, op: Value, isMax: boolean): Value {
  if (!isNumber(cur)) return op;
  if (isNaNValue(cur) || isNaNValue(op)) return { doubleValue: NaN };
  const c = compareValues(op, cur);
  // Equivalent operands (3 vs 3.0, 0 vs -0.0) leave the stored value unchanged.
  if (c === 0) return cur;
  return (isMax ? c > 0 : c < 0) ? op : cur;
}

/** INVALID_ARGUMENT unless every value in the map is a well-formed Value. */
export function validateFields(fields: Fields): void {
  for (const k in fields) {
    if (k === "") throw invalid("Field names must not be empty.");
    // `__type__` is how vector values mark their map; every other `__…__` name is reserved.
    if (k.length >= 4 && k.startsWith("__") && k.endsWith("__") && k !== "__type__") throw invalid(`field name ${k} is reserved`);
    validateValue(fields[k]);
  }
}

function validateValue(v: Value): void {
  const r = rankOf(v);
  if (r === Rank.Invalid) throw invalid("Invalid value: no value type set.");
  if (r === Rank.Array) {
    for (const e of v.arrayValue!.values ?? []) {
      if (e.arrayValue !== undefined) throw invalid("Cannot have nested arrays (an array directly inside an array).");
      validateValue(e);
    }
  } else if (r === Rank.Map || r === Rank.Vector) {
    validateFields(v.mapValue!.fields ?? {});
  } else if (r === Rank.Timestamp) {
    const n = v.timestampValue!.nanos ?? 0;
    if (n < 0 || n > 999_999_999) throw invalid("Invalid timestamp nanos.");
    // Firestore stores timestamps with microsecond precision; finer digits are truncated.
    if (n % 1000 !== 0) v.timestampValue!.nanos = n - (n % 1000);
  }
}
