/**
 * RunAggregationQuery semantics: count (with upTo), sum and avg over a query's results.
 */
import { getField, parseFieldPath } from "./fieldpath";
import { Message, invalid } from "./grpc";
import { Hit } from "./query";
import { Value } from "./values";

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/**
 * Computes every aggregation of a query over its matched documents. Firestore behaviour: once
 * fields are aggregated (sum/avg), only documents containing every aggregated field take part —
 * in all of the query's aggregations, count included (the official emulator answers so, and the
 * Firebase JS SDK's integration test "performs aggregations on documents with all aggregated
 * fields" expects it). Returns those documents (they are what is billed) and the results by alias.
 */
export function computeAggregations(aggregations: Message[], matched: Hit[]): { hits: Hit[]; fields: Record<string, Value> } {
  const aggFields = aggregations.flatMap((a) => {
    const f = (a.sum ?? a.avg)?.field?.fieldPath;
    return typeof f === "string" ? [parseFieldPath(f)] : [];
  });
  const hits =
    aggFields.length === 0 ? matched : matched.filter((h) => aggFields.every((segs) => getField(h.version.fields ?? undefined, segs) !== undefined));
  const fields: Record<string, Value> = {};
  aggregations.forEach((a, i) => {
    fields[a.alias || `field_${i + 1}`] = aggregate(a, hits);
  });
  return { hits, fields };
}

/** Computes one aggregation (count, sum or avg) over the query's results. */
function aggregate(a: Message, hits: Hit[]): Value {
  if (a.count) {
    const upTo = a.count.upTo?.value;
    const n = upTo !== undefined ? Math.min(hits.length, Number(upTo)) : hits.length;
    return { integerValue: String(n) };
  }
  const spec = a.sum ?? a.avg;
  if (!spec) throw invalid("Unknown aggregation.");
  const segs = parseFieldPath(spec.field?.fieldPath ?? "");
  let intSum = 0n;
  let dblSum = 0;
  let anyDouble = false;
  let n = 0;
  for (const h of hits) {
    const x = getField(h.version.fields ?? undefined, segs);
    if (!x) continue;
    if (x.integerValue !== undefined) {
      intSum += BigInt(x.integerValue);
      n++;
    } else if (x.doubleValue !== undefined) {
      dblSum += x.doubleValue;
      anyDouble = true;
      n++;
    }
  }
  if (a.avg) {
    if (n === 0) return { nullValue: "NULL_VALUE" };
    return { doubleValue: (Number(intSum) + dblSum) / n };
  }
  // A sum stays an integer unless a double took part or the int64 range overflowed.
  if (!anyDouble && intSum <= INT64_MAX && intSum >= INT64_MIN) return { integerValue: intSum.toString() };
  return { doubleValue: Number(intSum) + dblSum };
}
