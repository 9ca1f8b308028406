/**
 * RunAggregationQuery: count(), sum(), average() through query.count() and query.aggregate().
 * Documented semantics: sum/average ignore non-numeric and missing values; sum of integers is an
 * integer; average of no numeric values is null; count honours limit; once a field is summed or
 * averaged, documents missing it take part in none of the query's aggregations (count included).
 */
import { AggregateField } from "@google-cloud/firestore";
import { setupConformance } from "./helpers";

const ctx = setupConformance(__filename, { clearEach: false });

beforeAll(async () => {
  const b = ctx.db.batch();
  b.set(ctx.db.doc("agg/a"), { x: 1, g: "k" });
  b.set(ctx.db.doc("agg/b"), { x: 2.5, g: "k" });
  b.set(ctx.db.doc("agg/c"), { x: "str", g: "k" });
  b.set(ctx.db.doc("agg/d"), { g: "k" });
  b.set(ctx.db.doc("agg/e"), { x: 4, g: "other" });
  b.set(ctx.db.doc("agg/f/sub/s"), { x: 100, g: "k" }); // subcollection: not part of agg
  await b.commit();
});
const agg = () => ctx.db.collection("agg");

describe("count()", () => {
  it("counts the documents matching the query", async () => {
    expect((await agg().count().get()).data().count).toBe(5);
    expect((await agg().where("g", "==", "k").count().get()).data().count).toBe(4);
  });

  it("returns 0 for no matches", async () => {
    expect((await agg().where("g", "==", "none").count().get()).data().count).toBe(0);
  });

  it("honours limit", async () => {
    expect((await agg().limit(2).count().get()).data().count).toBe(2);
  });

  it("counts a collection group", async () => {
    expect((await ctx.db.collectionGroup("sub").count().get()).data().count).toBe(1);
  });
});

describe("sum() and average()", () => {
  it("ignore non-numeric and missing values; count() beside them leaves out documents missing the field", async () => {
    const res = await agg()
      .where("g", "==", "k")
      .aggregate({ total: AggregateField.sum("x"), avg: AggregateField.average("x"), n: AggregateField.count() })
      .get();
    // Production only aggregates documents that hold every aggregated field, in all of the
    // query's aggregations (the Firebase JS SDK's integration test "performs aggregations on
    // documents with all aggregated fields" expects it; the official emulator agrees): agg/d (no x) is not counted,
    // agg/c (x is a string) is counted but not summed (query.proto Aggregation.Sum/Avg: "All
    // non-numeric values including NULL are skipped").
    expect(res.data()).toEqual({ total: 3.5, avg: 1.75, n: 3 });
  });

  it("sum of integers is an integer", async () => {
    const res = await agg().where("x", "in", [1, 4]).aggregate({ total: AggregateField.sum("x") }).get();
    expect(res.data().total).toBe(5);
  });

  it("over no numeric values: sum is 0, average is null", async () => {
    const res = await agg()
      .where("g", "==", "none")
      .aggregate({ total: AggregateField.sum("x"), avg: AggregateField.average("x") })
      .get();
    expect(res.data()).toEqual({ total: 0, avg: null });
    const onlyStrings = await agg()
      .where("x", "==", "str")
      .aggregate({ total: AggregateField.sum("x"), avg: AggregateField.average("x") })
      .get();
    expect(onlyStrings.data()).toEqual({ total: 0, avg: null });
  });

  it("returns a readTime", async () => {
    const res = await agg().count().get();
    expect(res.readTime.toMillis()).toBeGreaterThan(0);
  });
});

describe("aggregations inside transactions", () => {
  it("counts inside a read-write transaction", async () => {
    const n = await ctx.db.runTransaction(async (t) => (await t.get(agg().count())).data().count);
    expect(n).toBe(5);
  });
});
