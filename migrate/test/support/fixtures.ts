/**
 * Source fixtures made with the official `bson` library in the layouts the MongoDB tools write:
 * mongodump (`<db>/<coll>.bson` + `<coll>.metadata.json`) and mongoexport (Extended JSON, one
 * document a line or `--jsonArray`). No MongoDB server is needed (none can run here).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Binary, BSON, BSONRegExp, Decimal128, Double, EJSON, Int32, Long, ObjectId, UUID } from "bson";

export type Doc = Record<string, unknown>;

export const tmp = (prefix = "migrate-test-") => mkdtempSync(join(tmpdir(), prefix));

/** Writes a mongodump directory `<root>/<db>/` with one `.bson` and `.metadata.json` per collection. */
export function writeDump(root: string, db: string, collections: Record<string, Doc[]>): string {
  const dir = join(root, db);
  mkdirSync(dir, { recursive: true });
  for (const [name, docs] of Object.entries(collections)) {
    writeFileSync(join(dir, `${name}.bson`), Buffer.concat(docs.map((d) => BSON.serialize(d))));
    writeFileSync(
      join(dir, `${name}.metadata.json`),
      JSON.stringify({
        indexes: [{ v: 2, key: { _id: 1 }, name: "_id_" }],
        uuid: new UUID().toHexString(false),
        collectionName: name,
        type: "collection",
      }),
    );
  }
  return root;
}

/** Writes a mongoexport file: canonical Extended JSON, one document a line or one array. */
export function writeExport(file: string, docs: Doc[], { array = false } = {}): string {
  const lines = docs.map((d) => EJSON.stringify(d, { relaxed: false }));
  writeFileSync(file, array ? `[${lines.join(",\n")}]` : `${lines.join("\n")}\n`);
  return file;
}

export const oid = (n: number) => new ObjectId(n.toString(16).padStart(24, "0"));

/** One order per type the migrator maps; `tenant` decides the tenant field. */
export function typedOrder(n: number, tenant: string): Doc {
  return {
    _id: oid(n),
    orgId: tenant,
    number: new Int32(n),
    customerId: oid(1_000_000 + n),
    placedAt: new Date(Date.UTC(2024, 0, 1) + n * 1000),
    total: Decimal128.fromString(`${n}.10`),
    weight: new Double(n + 0.5),
    views: Long.fromString("9007199254740993"),
    small: Long.fromNumber(n),
    receipt: new Binary(Buffer.from([n & 255, 1, 2, 3]), 0),
    lines: [
      { sku: `sku-${n}`, qty: new Int32(2), price: Decimal128.fromString("4.05") },
      { sku: "extra", qty: new Int32(1), price: Decimal128.fromString("0.00") },
    ],
    tags: ["a", "b"],
    meta: { source: "legacy", nested: { deep: true } },
    note: null,
    __v: new Int32(0),
  };
}

/** Documents that each break one Firestore rule (the error must name its path). */
export function badOrders(tenant: string): Doc[] {
  return [
    { _id: oid(9001), orgId: tenant, matrix: [[1, 2], [3]] },
    { _id: oid(9002), orgId: tenant, meta: { __proto__x: 1, ["__secret__"]: "x" } },
    { _id: oid(9003), orgId: tenant, blob: "x".repeat(1_100_000) },
    { _id: oid(9004), orgId: tenant, pattern: new BSONRegExp("^a", "i") },
    { _id: oid(9005), orgId: "bad tenant id!" },
  ];
}

export { Binary, BSON, Decimal128, EJSON, Int32, Long };
