import { initializeApp } from "firebase-admin/app";
import { DocumentReference, getFirestore, Timestamp } from "firebase-admin/firestore";
import { type ConversionStats, convertDocument } from "../../src/convert";
import { checksum, documentSize } from "../../src/firestore-value";
import { parseMapping } from "../../src/mapping";
import { Binary, BSON, Decimal128, EJSON, Int32, Long, oid, typedOrder } from "../support/fixtures";

// No request is ever sent: the instance only builds DocumentReferences.
const db = getFirestore(initializeApp({ projectId: "demo-convert-unit" }, "convert-unit"));

function mappingFor(extra: Record<string, unknown> = {}, types: Record<string, unknown> = {}) {
  return parseMapping({
    version: 1,
    types,
    collections: [
      { source: "orders", target: "tenants/{tenantId}/orders/{_id}", tenant: { field: "orgId" }, ...extra },
    ],
  }).collections[0];
}

const convert = (doc: Record<string, unknown>, mapping = mappingFor(), stats: ConversionStats = new Map()) =>
  convertDocument(doc, mapping, db, stats);

/** A document as mongodump stores it and as the reader gets it back. */
const viaBson = (doc: Record<string, unknown>) => BSON.deserialize(BSON.serialize(doc), { useBigInt64: true });

describe("document conversion", () => {
  it("maps every BSON type deliberately and counts each conversion", () => {
    const stats: ConversionStats = new Map();
    const m = mappingFor({ drop: ["__v"], references: { customerId: "tenants/{tenantId}/customers/{value}" } });
    const result = convert(viaBson(typedOrder(7, "acme")), m, stats);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.path).toBe("tenants/acme/orders/000000000000000000000007");
    expect(result.tenantId).toBe("acme");
    const d = result.data;
    expect(d._id).toBeUndefined();
    expect(d.__v).toBeUndefined();
    expect(d.number).toBe(7);
    expect(d.weight).toBe(7.5);
    expect(d.placedAt).toEqual(Timestamp.fromMillis(Date.UTC(2024, 0, 1) + 7000));
    expect(d.total).toBe("7.10");
    expect(d.views).toBe("9007199254740993");
    expect(d.small).toBe(7);
    expect(d.receipt).toEqual(Buffer.from([7, 1, 2, 3]));
    expect(d.customerId).toBeInstanceOf(DocumentReference);
    expect((d.customerId as DocumentReference).path).toBe(`tenants/acme/customers/${oid(1_000_007).toHexString()}`);
    expect(d.lines).toEqual([
      { sku: "sku-7", qty: 2, price: "4.05" },
      { sku: "extra", qty: 1, price: "0.00" },
    ]);
    expect(d.note).toBeNull();
    expect(Object.fromEntries(stats)).toEqual({
      "ObjectId→string": 1,
      "ObjectId→reference": 1,
      "Date→Timestamp": 1,
      "Decimal128→string": 3,
      "Int64→string": 1,
      "Int64→number": 1,
      "Binary→Bytes": 1,
    });
    expect(result.checksum).toBe(checksum(d));
  });

  it("gives the same result for mongodump BSON and mongoexport Extended JSON", () => {
    const order = typedOrder(3, "acme");
    const fromBson = convert(viaBson(order));
    const fromEjson = convert(EJSON.parse(EJSON.stringify(order, { relaxed: false }), { relaxed: false }));
    expect(fromBson.ok && fromEjson.ok).toBe(true);
    if (fromBson.ok && fromEjson.ok) expect(fromEjson.checksum).toBe(fromBson.checksum);
  });

  it("writes Decimal128 as a number only when the double is exact, and never rounds silently", () => {
    const m = mappingFor({}, { decimal128: "number" });
    const ok = convert(
      {
        _id: 1,
        orgId: "t",
        a: Decimal128.fromString("12.50"),
        b: Decimal128.fromString("-0.1"),
        c: Decimal128.fromString("NaN"),
      },
      m,
    );
    expect(ok.ok && ok.data).toEqual({ orgId: "t", a: 12.5, b: -0.1, c: NaN });
    const lossy = convert(
      { _id: 2, orgId: "t", price: { amount: Decimal128.fromString("12345678901234567890.12") } },
      m,
    );
    expect(lossy).toEqual({
      ok: false,
      path: "tenants/t/orders/2",
      tenantId: "t",
      errors: [{ field: "price.amount", message: expect.stringContaining("not exactly representable") }],
    });
    expect(convert({ _id: 3, orgId: "t", x: Decimal128.fromString("1E+400") }, m).ok).toBe(false);
  });

  it("writes Int64 beyond 2^53 as a string and, with the string policy, every Int64", () => {
    const big = {
      _id: 1,
      orgId: "t",
      max: Long.fromString("9223372036854775807"),
      neg: Long.fromString("-9007199254740993"),
      safe: Long.fromNumber(9007199254740991),
    };
    const auto = convert(viaBson(big));
    expect(auto.ok && auto.data).toEqual({
      orgId: "t",
      max: "9223372036854775807",
      neg: "-9007199254740993",
      safe: 9007199254740991,
    });
    const str = convert(viaBson(big), mappingFor({}, { int64: "string" }));
    expect(str.ok && str.data.safe).toBe("9007199254740991");
  });

  it("reports nested arrays, invalid field names and unsupported types with their paths", () => {
    const doc = JSON.parse(
      '{"_id": 5, "orgId": "t", "ok": 1, "m": [[1], {"x": [2, [3]]}], "a": {"__proto__": {"polluted": true}, "__x__": 1, "": 2}}',
    );
    const result = convert(doc);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.field)).toEqual(["m[0]", "m[1].x[1]", "a.__proto__", "a.__x__", "a."]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const regex = convert(viaBson({ _id: 6, orgId: "t", r: /x/ }));
    expect(!regex.ok && regex.errors[0].field).toBe("r");
  });

  it("reports a document over 1 MiB with its size instead of truncating it", () => {
    const result = convert({ _id: 1, orgId: "t", blob: new Binary(Buffer.alloc(1_048_000)), text: "x".repeat(1000) });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([
      { field: "", message: expect.stringMatching(/^document is 1049\d+ bytes, over Firestore's 1048576-byte limit/) },
    ]);
    // Just under the limit is written as it is.
    const small = { blob: Buffer.alloc(1_048_000) };
    expect(documentSize("tenants/t/orders/1", small)).toBeLessThan(1_048_576);
  });

  it("rejects documents whose tenant or id cannot form a valid path", () => {
    expect(convert({ _id: 1, orgId: "a b" })).toMatchObject({ ok: false, errors: [{ field: "orgId" }] });
    expect(convert({ _id: 1 })).toMatchObject({
      ok: false,
      errors: [{ field: "orgId", message: "tenant field is missing" }],
    });
    expect(convert({ _id: "a/b", orgId: "t" })).toMatchObject({
      ok: false,
      errors: [{ field: "_id", message: expect.stringContaining("contains '/'") }],
    });
    expect(convert({ _id: { compound: 1 }, orgId: "t" })).toMatchObject({ ok: false, errors: [{ field: "_id" }] });
    const objectIdTenant = convert({ _id: new Int32(4), orgId: oid(255) });
    expect(objectIdTenant.ok && objectIdTenant.path).toBe(`tenants/${oid(255).toHexString()}/orders/4`);
  });

  it("renames before converting, keeps _id when it is renamed, and refuses to overwrite a field", () => {
    const m = mappingFor({ rename: { _id: "legacyId", "meta.$type": "meta.kind", a: "b" }, drop: ["meta.secret"] });
    const ok = convert({ _id: oid(1), orgId: "t", meta: { $type: "x", secret: "s" } }, m);
    expect(ok.ok && ok.data).toEqual({ orgId: "t", legacyId: oid(1).toHexString(), meta: { kind: "x" } });
    const clash = convert({ _id: 1, orgId: "t", a: 1, b: 2 }, m);
    expect(clash).toMatchObject({
      ok: false,
      errors: [{ field: "a", message: 'cannot rename to "b": that field already exists' }],
    });
  });

  it("gives membership documents roles and a status, and tenant documents their defaults", () => {
    const mapping = parseMapping({
      version: 1,
      collections: [
        { source: "orgs", target: "tenants/{tenantId}", tenant: { field: "_id" } },
        {
          source: "users",
          target: "tenants/{tenantId}/members/{uid}",
          tenant: { field: "org" },
          drop: ["org", "uid", "role"],
          membership: { roles: { field: "role" } },
        },
      ],
    });
    const [orgs, users] = mapping.collections;
    expect(convert({ _id: "acme", title: "Acme" }, orgs)).toMatchObject({
      ok: true,
      path: "tenants/acme",
      data: { title: "Acme", name: "acme", status: "active", configVersion: 1 },
    });
    expect(convert({ _id: "acme", status: "gone" }, orgs)).toMatchObject({ ok: false, errors: [{ field: "status" }] });
    expect(convert({ _id: 1, org: "acme", uid: "u1", role: "admin" }, users)).toMatchObject({
      ok: true,
      path: "tenants/acme/members/u1",
      data: { roles: ["admin"], status: "active" },
    });
    expect(convert({ _id: 1, org: "acme", uid: "u1", role: [] }, users)).toMatchObject({
      ok: false,
      errors: [{ field: "role" }],
    });
  });
});
