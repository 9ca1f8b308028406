import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { openSource, type Source, SourceError } from "../../src/source";
import { BSON, Decimal128, Long, oid, tmp, typedOrder, writeDump, writeExport } from "../support/fixtures";

async function all(source: Source, collection: string, from = 0) {
  const out = [];
  for await (const d of source.read(collection, from)) out.push(d);
  return out;
}

async function preflightError(source: Source, collections: string[]): Promise<string> {
  try {
    await source.preflight(collections);
  } catch (error) {
    expect(error).toBeInstanceOf(SourceError);
    return (error as Error).message;
  }
  throw new Error("expected a SourceError");
}

const orders = Array.from({ length: 5 }, (_, i) => typedOrder(i, "acme"));

describe("source readers", () => {
  it("reads a mongodump directory in order, from any index, with int64 as bigint", async () => {
    const root = writeDump(tmp(), "shop", { orders, empty: [] });
    const source = openSource(root);
    expect(source.description).toBe(`mongodump ${join(root, "shop")}`);
    expect(await source.preflight(["orders", "empty"])).toEqual(
      new Map([
        ["orders", 5],
        ["empty", 0],
      ]),
    );
    const docs = await all(source, "orders", 3);
    expect(docs.map((d) => d.index)).toEqual([3, 4]);
    expect(docs[0].doc._id).toEqual(oid(3));
    expect(docs[0].doc.views).toBe(9007199254740993n);
    expect(docs[0].doc.total).toEqual(Decimal128.fromString("3.10"));
  });

  it("reads gzipped dumps and picks the database named in the mapping", async () => {
    const root = tmp();
    writeDump(root, "a", { x: [{ _id: 1 }] });
    writeDump(root, "b", { x: [{ _id: 2 }, { _id: 3 }] });
    writeFileSync(
      join(root, "b", "x.bson.gz"),
      gzipSync(Buffer.concat([{ _id: 2 }, { _id: 3 }].map((d) => BSON.serialize(d)))),
    );
    expect(() => openSource(root)).toThrow(/several databases \(a, b\); set "database"/);
    const b = openSource(root, "b");
    expect((await all(b, "x")).map((d) => d.doc._id)).toEqual([2, 3]);
  });

  it("reads mongoexport lines and --jsonArray files as the same documents", async () => {
    const dir = tmp();
    const lines = openSource(writeExport(join(dir, "orders.json"), orders));
    const array = openSource(writeExport(join(dir, "orders-array.json"), orders, { array: true }));
    expect(await lines.preflight(["orders"])).toEqual(new Map([["orders", 5]]));
    const a = await all(lines, "orders");
    const b = await all(array, "orders-array");
    expect(b).toEqual(a);
    expect(a[1].doc.views).toEqual(Long.fromString("9007199254740993"));
    expect(a[1].doc.placedAt).toEqual(orders[1].placedAt);
  });

  it("rejects a truncated or corrupt dump before anything is read for writing", async () => {
    const root = writeDump(tmp(), "shop", { orders });
    const file = join(root, "shop", "orders.bson");
    writeFileSync(file, BSON.serialize(orders[0]).subarray(0, 40), { flag: "a" });
    expect(await preflightError(openSource(root), ["orders"])).toMatch(/truncated BSON document at byte \d+/);
    writeFileSync(file, Buffer.concat([BSON.serialize(orders[0]), Buffer.from([3, 0, 0, 0, 0])]));
    expect(await preflightError(openSource(root), ["orders"])).toMatch(/corrupt BSON at byte \d+: document length 3/);
    const bad = BSON.serialize({ a: "x" });
    bad[bad.length - 1] = 7;
    writeFileSync(file, bad);
    expect(await preflightError(openSource(root), ["orders"])).toMatch(/document 0 is not valid BSON/);
  });

  it("rejects missing collections, missing metadata and invalid Extended JSON with the line", async () => {
    const root = writeDump(tmp(), "shop", { orders });
    expect(await preflightError(openSource(root), ["orders", "users"])).toMatch(
      /no users\.bson \(collections here: orders\)/,
    );
    mkdirSync(join(root, "other"));
    writeFileSync(join(root, "other", "x.bson"), BSON.serialize({ _id: 1 }));
    expect(await preflightError(openSource(root, "other"), ["x"])).toMatch(/x\.metadata\.json is missing/);
    const file = join(tmp(), "users.json");
    writeFileSync(file, '{"_id": 1}\n{"_id": {"$oid": "nope"}}\n');
    expect(await preflightError(openSource(file), ["users"])).toMatch(/users\.json: line 2 is not valid Extended JSON/);
    expect(() => openSource(join(tmp(), "nothing-here"))).toThrow(SourceError);
    expect(() => openSource(tmp())).toThrow(/neither a mongodump directory/);
  });

  it("describes a live source without its credentials", () => {
    expect(openSource("mongodb://admin:s3cret@db.example:27017/shop").description).toBe(
      "mongodb mongodb://***@db.example:27017/shop",
    );
  });
});
