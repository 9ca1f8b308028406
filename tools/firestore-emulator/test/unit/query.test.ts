import { runStructuredQuery } from "../../src/query";
import { Database } from "../../src/store";
import { Fields } from "../../src/values";

function dbWith(docs: Record<string, Fields>): Database {
  const db = new Database("projects/p/databases/(default)/documents");
  let t = 1;
  for (const [path, fields] of Object.entries(docs)) db.put(path, { fields, createUs: t, updateUs: t, commitUs: t++ });
  return db;
}
const int = (n: number) => ({ integerValue: String(n) });
const ids = (hits: { entry: { path: string } }[]) => hits.map((h) => h.entry.path);

describe("structured queries", () => {
  const db = dbWith({
    "c/a": { n: int(2) },
    "c/b": { n: int(1) },
    "c/c": { other: int(0) },
    "c/d": { n: { nullValue: "NULL_VALUE" } },
    "x/1/c/e": { n: int(3) },
  });

  it("orders by name when no orderBy is given", () => {
    expect(ids(runStructuredQuery(db, "", { from: [{ collectionId: "c" }] }))).toEqual(["c/a", "c/b", "c/c", "c/d"]);
  });

  it("excludes documents missing the orderBy field and breaks ties by name in the last direction", () => {
    const q = { from: [{ collectionId: "c" }], orderBy: [{ field: { fieldPath: "n" }, direction: "DESCENDING" }] };
    expect(ids(runStructuredQuery(db, "", q))).toEqual(["c/a", "c/b", "c/d"]);
  });

  it("makes != skip missing fields and nulls", () => {
    const q = { from: [{ collectionId: "c" }], where: { fieldFilter: { field: { fieldPath: "n" }, op: "NOT_EQUAL", value: int(1) } } };
    expect(ids(runStructuredQuery(db, "", q))).toEqual(["c/a"]);
  });

  it("scans every collection with the id under the parent for a collection group", () => {
    const q = { from: [{ collectionId: "c", allDescendants: true }], where: { fieldFilter: { field: { fieldPath: "n" }, op: "GREATER_THAN", value: int(1) } } };
    expect(ids(runStructuredQuery(db, "", q))).toEqual(["c/a", "x/1/c/e"]);
    expect(ids(runStructuredQuery(db, "x/1", q))).toEqual(["x/1/c/e"]);
  });

  it("applies startAfter/endAt cursors on the effective order", () => {
    const q = {
      from: [{ collectionId: "c" }],
      orderBy: [{ field: { fieldPath: "n" }, direction: "ASCENDING" }],
      startAt: { values: [{ nullValue: "NULL_VALUE" }], before: false },
      endAt: { values: [int(2)], before: false },
    };
    expect(ids(runStructuredQuery(db, "", q))).toEqual(["c/b", "c/a"]);
  });
});
