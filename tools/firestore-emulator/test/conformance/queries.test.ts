/**
 * RunQuery: collection and collection-group scopes (allDescendants), every field-filter operator
 * with Firestore's documented edge cases, composite AND/OR filters, unary IS_NULL / IS_NAN and
 * their negations.
 */
import { Filter } from "@google-cloud/firestore";
import { ids, rawRunQuery, setupConformance, sortedIds } from "./helpers";

// The data sets are read-only for this file: seeded once, not cleared between tests.
const ctx = setupConformance(__filename, { clearEach: false });

beforeAll(async () => {
  const b = ctx.db.batch();
  // operator data set
  b.set(ctx.db.doc("ops/a"), { n: 1, s: "a", tags: ["x", "y"] });
  b.set(ctx.db.doc("ops/b"), { n: 2.5, s: "b", tags: ["y"] });
  b.set(ctx.db.doc("ops/c"), { n: 3, s: "c", tags: [] });
  b.set(ctx.db.doc("ops/d"), { n: "3", s: "d", tags: "y" }); // string "3", tags not an array
  b.set(ctx.db.doc("ops/e"), { s: "e" }); // n missing
  b.set(ctx.db.doc("ops/f"), { n: null, s: "f" });
  b.set(ctx.db.doc("ops/g"), { n: true, s: "g", tags: ["Y", { y: 1 }] });
  // unary data set
  b.set(ctx.db.doc("un/nan"), { x: NaN });
  b.set(ctx.db.doc("un/num"), { x: 1 });
  b.set(ctx.db.doc("un/nul"), { x: null });
  b.set(ctx.db.doc("un/str"), { x: "s" });
  b.set(ctx.db.doc("un/miss"), { y: 1 });
  // collection-group data set
  b.set(ctx.db.doc("tenants/a/members/m1"), { role: "owner" });
  b.set(ctx.db.doc("tenants/b/members/m2"), { role: "viewer" });
  b.set(ctx.db.doc("members/top"), { role: "viewer" });
  b.set(ctx.db.doc("tenants/a/teams/t1/members/m3"), { role: "owner" });
  b.set(ctx.db.doc("x/y/z/w/members/m4"), { role: "owner" }); // every ancestor doc missing
  b.set(ctx.db.doc("tenants/a/memberships/ms"), { role: "owner" }); // different collection id
  b.set(ctx.db.doc("tenants/a/members/m1/sub/s1"), { role: "owner" }); // below a member
  b.set(ctx.db.doc("tenants/a/xmembers/xm"), { role: "owner" }); // id containing "members"
  await b.commit();
});

const ops = () => ctx.db.collection("ops");
const un = () => ctx.db.collection("un");

describe("collection and collectionGroup scope", () => {
  it("a collection query returns only that collection's direct documents", async () => {
    expect(sortedIds(await ctx.db.collection("tenants/a/members").get())).toEqual(["m1"]);
  });

  it("collectionGroup finds same-named collections at every depth, even under missing parents", async () => {
    const snap = await ctx.db.collectionGroup("members").get();
    expect(snap.docs.map((d) => d.ref.path).sort()).toEqual([
      "members/top",
      "tenants/a/members/m1",
      "tenants/a/teams/t1/members/m3",
      "tenants/b/members/m2",
      "x/y/z/w/members/m4",
    ]);
  });

  it("collectionGroup does NOT match differently named collections or subcollections below matches", async () => {
    const paths = (await ctx.db.collectionGroup("members").get()).docs.map((d) => d.ref.path);
    expect(paths).not.toContain("tenants/a/memberships/ms");
    expect(paths).not.toContain("tenants/a/xmembers/xm");
    expect(paths).not.toContain("tenants/a/members/m1/sub/s1");
  });

  it("collectionGroup results are ordered by full document path (__name__)", async () => {
    const snap = await ctx.db.collectionGroup("members").get();
    expect(snap.docs.map((d) => d.ref.path)).toEqual([
      "members/top",
      "tenants/a/members/m1",
      "tenants/a/teams/t1/members/m3",
      "tenants/b/members/m2",
      "x/y/z/w/members/m4",
    ]);
  });

  it("collectionGroup pages with a DocumentSnapshot cursor across different parents", async () => {
    const first = await ctx.db.collectionGroup("members").orderBy("__name__").limit(2).get();
    expect(first.docs.map((d) => d.ref.path)).toEqual(["members/top", "tenants/a/members/m1"]);
    const next = await ctx.db
      .collectionGroup("members")
      .orderBy("__name__")
      .startAfter(first.docs[1])
      .limit(2)
      .get();
    expect(next.docs.map((d) => d.ref.path)).toEqual(["tenants/a/teams/t1/members/m3", "tenants/b/members/m2"]);
  });

  it("collectionGroup applies filters", async () => {
    const snap = await ctx.db.collectionGroup("members").where("role", "==", "owner").get();
    expect(snap.docs.map((d) => d.ref.path).sort()).toEqual([
      "tenants/a/members/m1",
      "tenants/a/teams/t1/members/m3",
      "x/y/z/w/members/m4",
    ]);
  });

  it("allDescendants under a parent document is scoped to that parent (raw RunQuery)", async () => {
    const res = await rawRunQuery(ctx, {
      parent: `${ctx.docsRoot}/tenants/a`,
      structuredQuery: { from: [{ collectionId: "members", allDescendants: true }] },
    });
    const names = res.filter((r) => r.document).map((r) => r.document.name.slice(ctx.docsRoot.length + 1));
    expect(names.sort()).toEqual(["tenants/a/members/m1", "tenants/a/teams/t1/members/m3"]);
  });
});

describe("field filter operators", () => {
  it("== matches equal values of the same type only", async () => {
    expect(sortedIds(await ops().where("n", "==", 1).get())).toEqual(["a"]);
    expect(sortedIds(await ops().where("n", "==", 3).get())).toEqual(["c"]);
    expect(sortedIds(await ops().where("n", "==", "3").get())).toEqual(["d"]);
  });

  it("!= excludes documents where the field is missing or null", async () => {
    expect(sortedIds(await ops().where("n", "!=", 1).get())).toEqual(["b", "c", "d", "g"]);
  });

  it("orders != and not-in results by the filtered field (type order, then value)", async () => {
    expect(ids(await ops().where("n", "!=", 1).get())).toEqual(["g", "b", "c", "d"]);
    expect(ids(await ops().where("n", "not-in", [1, 3]).get())).toEqual(["g", "b", "d"]);
  });

  it("< and <= are bounded to the operand's type (numbers only for a number)", async () => {
    expect(sortedIds(await ops().where("n", "<", 3).get())).toEqual(["a", "b"]);
    expect(sortedIds(await ops().where("n", "<=", 3).get())).toEqual(["a", "b", "c"]);
  });

  it("> and >= are bounded to the operand's type: where(n > 1) does not return strings", async () => {
    expect(sortedIds(await ops().where("n", ">", 1).get())).toEqual(["b", "c"]);
    expect(sortedIds(await ops().where("n", ">=", 1).get())).toEqual(["a", "b", "c"]);
    expect(sortedIds(await ops().where("n", ">", "").get())).toEqual(["d"]);
    expect(sortedIds(await ops().where("n", ">=", false).get())).toEqual(["g"]);
  });

  it("compares int and double numerically in ranges", async () => {
    expect(sortedIds(await ops().where("n", ">", 2).get())).toEqual(["b", "c"]);
    expect(sortedIds(await ops().where("n", "<", 2.6).get())).toEqual(["a", "b"]);
    expect(sortedIds(await ops().where("n", ">=", 1).where("n", "<=", 2.5).get())).toEqual(["a", "b"]);
  });

  it("in matches any of the values, across types", async () => {
    expect(sortedIds(await ops().where("n", "in", [1, 3, "3", 99]).get())).toEqual(["a", "c", "d"]);
    // null (and NaN) are only matched by == null / == NaN (IS_NULL / IS_NAN): `in [null]` matches
    // nothing, `in [1, null]` only the 1 (the Firebase JS SDK's integration test "can use IN
    // filters" expects the same; so does the official emulator).
    expect(sortedIds(await ops().where("n", "in", [null]).get())).toEqual([]);
    expect(sortedIds(await ops().where("n", "in", [1, null]).get())).toEqual(["a"]);
  });

  it("not-in excludes the values and documents where the field is missing or null", async () => {
    expect(sortedIds(await ops().where("n", "not-in", [1, 3]).get())).toEqual(["b", "d", "g"]);
  });

  it("array-contains matches array elements only (not a scalar field equal to the operand), case-sensitively", async () => {
    expect(sortedIds(await ops().where("tags", "array-contains", "y").get())).toEqual(["a", "b"]);
    expect(sortedIds(await ops().where("tags", "array-contains", { y: 1 }).get())).toEqual(["g"]);
  });

  it("array-contains-any matches documents whose array holds any of the values", async () => {
    expect(sortedIds(await ops().where("tags", "array-contains-any", ["x", "nope"]).get())).toEqual(["a"]);
    expect(sortedIds(await ops().where("tags", "array-contains-any", ["x", "y"]).get())).toEqual(["a", "b"]);
  });

  it("filters on __name__ (document id) with == and in", async () => {
    expect(ids(await ops().where("__name__", "==", ops().doc("c")).get())).toEqual(["c"]);
    expect(sortedIds(await ops().where("__name__", "in", [ops().doc("a"), ops().doc("e")]).get())).toEqual([
      "a",
      "e",
    ]);
  });

  it("filters on a nested field path", async () => {
    await ctx.db.doc("nested/1").set({ m: { k: 1 } });
    await ctx.db.doc("nested/2").set({ m: { k: 2 } });
    expect(ids(await ctx.db.collection("nested").where("m.k", "==", 2).get())).toEqual(["2"]);
  });
});

describe("composite filters (Filter.and / Filter.or)", () => {
  it("Filter.or returns the union", async () => {
    const q = ops().where(Filter.or(Filter.where("n", "==", 1), Filter.where("s", "==", "c")));
    expect(sortedIds(await q.get())).toEqual(["a", "c"]);
  });

  it("Filter.and returns the intersection", async () => {
    const q = ops().where(Filter.and(Filter.where("n", ">=", 1), Filter.where("n", "<", 3)));
    expect(sortedIds(await q.get())).toEqual(["a", "b"]);
  });

  it("nests AND inside OR", async () => {
    const q = ops().where(
      Filter.or(
        Filter.and(Filter.where("n", ">=", 2.5), Filter.where("tags", "array-contains", "y")),
        Filter.where("s", "==", "g"),
      ),
    );
    expect(sortedIds(await q.get())).toEqual(["b", "g"]);
  });

  it("an OR whose branches overlap returns each document once", async () => {
    const q = ops().where(Filter.or(Filter.where("s", "in", ["a", "b"]), Filter.where("n", "==", 1)));
    expect(ids(await q.get())).toEqual(["a", "b"]);
  });
});

describe("unary filters: IS_NULL, IS_NAN and negations", () => {
  it('where(x == null) matches only explicit nulls (IS_NULL), not missing fields', async () => {
    expect(sortedIds(await un().where("x", "==", null).get())).toEqual(["nul"]);
  });

  it('where(x != null) matches every existing non-null value (IS_NOT_NULL)', async () => {
    expect(sortedIds(await un().where("x", "!=", null).get())).toEqual(["nan", "num", "str"]);
  });

  it("where(x == NaN) matches NaN only (IS_NAN)", async () => {
    expect(sortedIds(await un().where("x", "==", NaN).get())).toEqual(["nan"]);
  });

  it("where(x != NaN) matches existing non-NaN, non-null values (IS_NOT_NAN)", async () => {
    expect(sortedIds(await un().where("x", "!=", NaN).get())).toEqual(["num", "str"]);
  });

  it("range filters never return NaN", async () => {
    expect(sortedIds(await un().where("x", ">", -Infinity).get())).toEqual(["num"]);
  });
});
