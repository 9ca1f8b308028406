/**
 * Ordering and paging: orderBy asc/desc with the implicit __name__ order, exclusion of documents
 * lacking the orderBy field, cursors (values and DocumentSnapshots), offset, limit, limitToLast,
 * select projections, and Firestore's cross-type value ordering and numeric equality.
 */
import { FieldPath, GeoPoint, QuerySnapshot, Timestamp } from "@google-cloud/firestore";
import { ids, rawRunQuery, setupConformance, sortedIds } from "./helpers";

const ctx = setupConformance(__filename, { clearEach: false });

/** Labelled values in Firestore's documented order (strictly increasing, no ties). */
function orderedValues(): [string, unknown][] {
  const db = ctx.db;
  return [
    ["null", null],
    ["false", false],
    ["true", true],
    ["NaN", NaN],
    ["-Infinity", -Infinity],
    ["-1 (int)", -1],
    ["-0.5 (double)", -0.5],
    ["0 (int)", 0],
    ["0.5 (double)", 0.5],
    ["1 (int)", 1],
    ["1.5 (double)", 1.5],
    ["2 (int)", 2],
    ["Infinity", Infinity],
    ["ts 1000", new Timestamp(1000, 0)],
    ["ts 1000.5", new Timestamp(1000, 500_000_000)],
    ["ts 2000", new Timestamp(2000, 0)],
    ['""', ""],
    ['"A"', "A"],
    ['"a"', "a"],
    ['"ab"', "ab"],
    ['"z"', "z"],
    ['"é"', "é"],
    ['"\\uFFFD"', "\uFFFD"],
    ['"😀" (UTF-8 order, not UTF-16)', "😀"],
    ["bytes 00", Buffer.from([0x00])],
    ["bytes 0102", Buffer.from([0x01, 0x02])],
    ["bytes 02", Buffer.from([0x02])],
    ["ref a/b", db.doc("a/b")],
    ["ref a/b/c/d", db.doc("a/b/c/d")],
    ["ref a/ba", db.doc("a/ba")],
    ["ref b/a", db.doc("b/a")],
    ["geo(-10,5)", new GeoPoint(-10, 5)],
    ["geo(0,-5)", new GeoPoint(0, -5)],
    ["geo(0,5)", new GeoPoint(0, 5)],
    ["[]", []],
    ["[1]", [1]],
    ["[1,2]", [1, 2]],
    ["[2]", [2]],
    ["[\"a\"]", ["a"]],
    ["{}", {}],
    ["{a:1}", { a: 1 }],
    ["{a:2}", { a: 2 }],
    ["{a:2,b:0}", { a: 2, b: 0 }],
    ["{b:0}", { b: 0 }],
  ];
}
/** Document id for the i-th value: a permutation, so name order differs from value order. */
const typeDocId = (i: number) => `v${String((i * 37 + 11) % 100).padStart(2, "0")}`;

beforeAll(async () => {
  const b = ctx.db.batch();
  for (let i = 1; i <= 10; i++) b.set(ctx.db.doc(`nums/d${String(i).padStart(2, "0")}`), { n: i, half: i / 2 });
  b.set(ctx.db.doc("nums/nofield"), { other: 1 });
  for (const [id, n] of [
    ["t1", 1],
    ["t2", 1],
    ["t3", 1],
    ["t4", 2],
  ] as const)
    b.set(ctx.db.doc(`ties/${id}`), { n });
  b.set(ctx.db.doc("rev/r1"), { n: 3 });
  b.set(ctx.db.doc("rev/r2"), { n: 2 });
  b.set(ctx.db.doc("rev/r3"), { n: 1 });
  orderedValues().forEach(([label, v], i) => b.set(ctx.db.doc(`types/${typeDocId(i)}`), { v, label }));
  b.set(ctx.db.doc("proj/p"), { a: 1, b: 2, m: { k: 1, j: 2 } });
  await b.commit();
  // int 1 vs double 1.0, int 0 vs double -0.0 (the SDK sends 1.0 as an integer, so raw write)
  await ctx.raw.commit(
    {
      database: `projects/${ctx.projectId}/databases/(default)`,
      writes: [
        { update: { name: `${ctx.docsRoot}/eq/int1`, fields: { v: { integerValue: "1" } } } },
        { update: { name: `${ctx.docsRoot}/eq/dbl1`, fields: { v: { doubleValue: 1 } } } },
        { update: { name: `${ctx.docsRoot}/eq/int0`, fields: { v: { integerValue: "0" } } } },
        { update: { name: `${ctx.docsRoot}/eq/negzero`, fields: { v: { doubleValue: -0 } } } },
        { update: { name: `${ctx.docsRoot}/eq/two`, fields: { v: { doubleValue: 2 } } } },
      ],
    },
    ctx.callOpts,
  );
});

const nums = () => ctx.db.collection("nums");
const ties = () => ctx.db.collection("ties");
const nOf = (snap: QuerySnapshot) => snap.docs.map((d) => d.get("n"));

describe("orderBy and the implicit __name__ order", () => {
  it("without orderBy, returns documents by document id ascending", async () => {
    expect(ids(await ctx.db.collection("rev").get())).toEqual(["r1", "r2", "r3"]);
  });

  it("orderBy asc / desc sorts by the field", async () => {
    expect(ids(await ctx.db.collection("rev").orderBy("n").get())).toEqual(["r3", "r2", "r1"]);
    expect(ids(await ctx.db.collection("rev").orderBy("n", "desc").get())).toEqual(["r1", "r2", "r3"]);
  });

  it("breaks ties by __name__ in the direction of the last orderBy", async () => {
    expect(ids(await ties().orderBy("n").get())).toEqual(["t1", "t2", "t3", "t4"]);
    expect(ids(await ties().orderBy("n", "desc").get())).toEqual(["t4", "t3", "t2", "t1"]);
  });

  it("orders by an explicit __name__ (FieldPath.documentId()) descending", async () => {
    expect(ids(await ties().orderBy(FieldPath.documentId(), "desc").get())).toEqual(["t4", "t3", "t2", "t1"]);
  });

  it("excludes documents lacking the orderBy field", async () => {
    const snap = await nums().orderBy("n").get();
    expect(snap.size).toBe(10);
    expect(ids(snap)).not.toContain("nofield");
  });

  it("orders an inequality query by the inequality field first when no orderBy is given", async () => {
    expect(ids(await ctx.db.collection("rev").where("n", ">", 0).get())).toEqual(["r3", "r2", "r1"]);
  });

  it("orders by several fields", async () => {
    const snap = await nums().where("n", "<=", 4).orderBy("half", "desc").orderBy("n").get();
    expect(nOf(snap)).toEqual([4, 3, 2, 1]);
  });
});

describe("cursors", () => {
  it("startAt / startAfter / endAt / endBefore with values", async () => {
    expect(nOf(await nums().orderBy("n").startAt(3).get())).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    expect(nOf(await nums().orderBy("n").startAfter(3).get())).toEqual([4, 5, 6, 7, 8, 9, 10]);
    expect(nOf(await nums().orderBy("n").endAt(5).get())).toEqual([1, 2, 3, 4, 5]);
    expect(nOf(await nums().orderBy("n").endBefore(5).get())).toEqual([1, 2, 3, 4]);
    expect(nOf(await nums().orderBy("n").startAt(3).endBefore(6).get())).toEqual([3, 4, 5]);
  });

  it("applies cursors in the query's direction for descending order", async () => {
    expect(nOf(await nums().orderBy("n", "desc").startAt(3).get())).toEqual([3, 2, 1]);
    expect(nOf(await nums().orderBy("n", "desc").startAfter(8).endAt(6).get())).toEqual([7, 6]);
  });

  it("accepts a cursor value between stored values", async () => {
    expect(nOf(await nums().orderBy("n").startAt(2.5).endAt(4.5).get())).toEqual([3, 4]);
  });

  it("with a DocumentSnapshot, continues after that exact document among equal values (__name__ tiebreak)", async () => {
    const t2 = await ties().doc("t2").get();
    expect(ids(await ties().orderBy("n").startAfter(t2).get())).toEqual(["t3", "t4"]);
    expect(ids(await ties().orderBy("n").startAt(t2).get())).toEqual(["t2", "t3", "t4"]);
    expect(ids(await ties().orderBy("n").endBefore(t2).get())).toEqual(["t1"]);
    expect(ids(await ties().orderBy("n").endAt(t2).get())).toEqual(["t1", "t2"]);
  });

  it("with a DocumentSnapshot and no orderBy, pages by document id", async () => {
    const snap = await nums().doc("d03").get();
    expect(ids(await nums().startAfter(snap).limit(2).get())).toEqual(["d04", "d05"]);
  });

  it("with values for orderBy(n) + orderBy(__name__)", async () => {
    expect(ids(await ties().orderBy("n").orderBy(FieldPath.documentId()).startAfter(1, "t1").get())).toEqual([
      "t2",
      "t3",
      "t4",
    ]);
  });

  it("startAt values with a value of another type bound by type order", async () => {
    // every string sorts after every number, so starting at "" leaves no numbers
    expect((await nums().orderBy("n").startAt("").get()).size).toBe(0);
    expect((await nums().orderBy("n").endBefore("").get()).size).toBe(10);
  });
});

describe("offset, limit, limitToLast", () => {
  it("limit returns the first N in order", async () => {
    expect(ids(await nums().limit(3).get())).toEqual(["d01", "d02", "d03"]);
  });

  it("offset skips N results before limit applies", async () => {
    expect(nOf(await nums().orderBy("n").offset(2).limit(3).get())).toEqual([3, 4, 5]);
    expect((await nums().orderBy("n").offset(50).get()).size).toBe(0);
  });

  it("limitToLast returns the last N, still in query order", async () => {
    expect(nOf(await nums().orderBy("n").limitToLast(3).get())).toEqual([8, 9, 10]);
    expect(nOf(await nums().orderBy("n", "desc").limitToLast(3).get())).toEqual([3, 2, 1]);
  });

  it("limitToLast combines with cursors (the SDK flips them)", async () => {
    expect(nOf(await nums().orderBy("n").endBefore(6).limitToLast(2).get())).toEqual([4, 5]);
    expect(nOf(await nums().orderBy("n").startAt(2).endAt(9).limitToLast(3).get())).toEqual([7, 8, 9]);
  });
});

describe("select (projection)", () => {
  it("returns only the selected fields, including nested paths", async () => {
    const snap = await ctx.db.collection("proj").select("a", "m.k").get();
    expect(snap.docs[0].data()).toEqual({ a: 1, m: { k: 1 } });
  });

  it("select() with no fields returns the documents without data", async () => {
    const snap = await ctx.db.collection("proj").select().get();
    expect(ids(snap)).toEqual(["p"]);
    expect(snap.docs[0].data()).toEqual({});
  });

  it("selecting a field absent from a document omits it", async () => {
    const snap = await ctx.db.collection("proj").select("a", "nope").get();
    expect(snap.docs[0].data()).toEqual({ a: 1 });
  });
});

describe("value type ordering and equality", () => {
  it("orders one document per type/value exactly as documented (null < bool < number < timestamp < string < bytes < reference < geopoint < array < map)", async () => {
    const expected = orderedValues().map(([label]) => label);
    const snap = await ctx.db.collection("types").orderBy("v").get();
    expect(snap.docs.map((d) => d.get("label"))).toEqual(expected);
  });

  it("orders the same documents in exact reverse with desc", async () => {
    const expected = orderedValues()
      .map(([label]) => label)
      .reverse();
    const snap = await ctx.db.collection("types").orderBy("v", "desc").get();
    expect(snap.docs.map((d) => d.get("label"))).toEqual(expected);
  });

  it("== 1 matches both integer 1 and double 1.0", async () => {
    expect(sortedIds(await ctx.db.collection("eq").where("v", "==", 1).get())).toEqual(["dbl1", "int1"]);
    const res = await rawRunQuery(ctx, {
      parent: ctx.docsRoot,
      structuredQuery: {
        from: [{ collectionId: "eq" }],
        where: { fieldFilter: { field: { fieldPath: "v" }, op: "EQUAL", value: { doubleValue: 1 } } },
      },
    });
    const names = res.filter((r) => r.document).map((r) => r.document.name.split("/").pop());
    expect(names.sort()).toEqual(["dbl1", "int1"]);
  });

  it("in [1] matches integer 1 and double 1.0; 2 (int) matches double 2.0", async () => {
    expect(sortedIds(await ctx.db.collection("eq").where("v", "in", [1, 2]).get())).toEqual(["dbl1", "int1", "two"]);
  });

  it("treats -0.0 and 0 as equal (== and ordering ties broken by name)", async () => {
    expect(sortedIds(await ctx.db.collection("eq").where("v", "==", 0).get())).toEqual(["int0", "negzero"]);
    expect(sortedIds(await ctx.db.collection("eq").where("v", "==", -0).get())).toEqual(["int0", "negzero"]);
    expect(ids(await ctx.db.collection("eq").orderBy("v").get())).toEqual(["int0", "negzero", "dbl1", "int1", "two"]);
  });
});
