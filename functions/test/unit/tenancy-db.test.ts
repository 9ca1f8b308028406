import { Firestore } from "@google-cloud/firestore";
import { toHttpsError } from "../../src/platform/errors";
import { TenantDb, TenantPathError, assertSafeSegment, isSafeSegment } from "../../src/tenancy/db";

/** A real Firestore client (no network until a read) wrapped to record every method it is asked for. */
function recordingFirestore(): { firestore: Firestore; touched: string[] } {
  const real = new Firestore({ projectId: "demo-unit" });
  const touched: string[] = [];
  const firestore = new Proxy(real, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value === "function") {
        touched.push(String(prop));
        return value.bind(target);
      }
      return value;
    },
  });
  return { firestore, touched };
}

const ESCAPES = [
  "../tenant-b/payments/p1",
  "payments/../../tenant-b/payments/p1",
  "payments/..",
  "./payments/p1",
  "/tenants/tenant-b/payments/p1",
  "payments/p1/",
  "payments//p1",
  "payments/__name__",
  "__payments__/p1",
  "payments/\u0000",
  "payments/ ",
  "",
];

describe("TenantDb: the tenant-scoped data layer", () => {
  it("addresses documents and collections below tenants/{tid} only", () => {
    const { firestore } = recordingFirestore();
    const db = new TenantDb("tenant-a", firestore as never);
    expect(db.doc("payments/p1").path).toBe("tenants/tenant-a/payments/p1");
    expect(db.collection("payments/p1/refunds").path).toBe("tenants/tenant-a/payments/p1/refunds");
    expect(db.tenantDoc().path).toBe("tenants/tenant-a");
  });

  it.each(ESCAPES)("refuses %j before touching Firestore", (path) => {
    const { firestore, touched } = recordingFirestore();
    const db = new TenantDb("tenant-a", firestore as never);
    expect(() => db.doc(path)).toThrow(TenantPathError);
    expect(() => db.collection(path)).toThrow(TenantPathError);
    expect(touched).toEqual([]);
  });

  it("reaches clients as invalid-argument (reason illegal-path), never as internal", () => {
    const { firestore } = recordingFirestore();
    const db = new TenantDb("tenant-a", firestore as never);
    expect(() => db.doc("payments/__name__")).toThrow(expect.objectContaining({ code: "invalid-argument" }));
    expect(toHttpsError(new TenantPathError("x"))).toMatchObject({
      code: "invalid-argument",
      details: { reason: "illegal-path" },
    });
  });

  it("treats '%2e%2e' as an odd but literal id, never as '..' (Firestore does not URL-decode ids)", () => {
    const { firestore } = recordingFirestore();
    const db = new TenantDb("tenant-a", firestore as never);
    expect(db.doc("payments/%2e%2e").path).toBe("tenants/tenant-a/payments/%2e%2e");
  });

  it("refuses a document path where a collection is expected and vice versa", () => {
    const { firestore, touched } = recordingFirestore();
    const db = new TenantDb("tenant-a", firestore as never);
    expect(() => db.doc("payments")).toThrow(TenantPathError);
    expect(() => db.collection("payments/p1")).toThrow(TenantPathError);
    expect(touched).toEqual([]);
  });

  it.each(["", "..", ".", "a/b", "__x__", "tenant\u0000", " "])("refuses tenant id %j at construction", (tid) => {
    const { firestore, touched } = recordingFirestore();
    expect(() => new TenantDb(tid, firestore as never)).toThrow(TenantPathError);
    expect(touched).toEqual([]);
  });

  it("refuses non-string input smuggled past types", () => {
    const { firestore } = recordingFirestore();
    const db = new TenantDb("tenant-a", firestore as never);
    expect(() => db.doc(["payments", "p1"] as unknown as string)).toThrow(TenantPathError);
    expect(() => db.doc({ toString: () => "payments/p1" } as unknown as string)).toThrow(TenantPathError);
    expect(isSafeSegment(42)).toBe(false);
    expect(() => assertSafeSegment(undefined as unknown as string)).toThrow(TenantPathError);
  });

  it("bounds collection-group queries to the tenant's subtree", () => {
    const { firestore } = recordingFirestore();
    const db = new TenantDb("tenant-a", firestore as never);
    type Cursor = { before?: boolean; values: { referenceValue: string }[] };
    type Proto = { structuredQuery: { from: unknown; startAt: Cursor; endAt: Cursor } };
    const query = (db.collectionGroup("payments") as unknown as { toProto(): Proto }).toProto().structuredQuery;
    expect(query.from).toEqual([{ collectionId: "payments", allDescendants: true }]);
    // startAfter: "before" is false (proto3 may omit it); endBefore: "before" is true.
    expect(query.startAt.before ?? false).toBe(false);
    expect(query.startAt.values[0].referenceValue).toMatch(/\/documents\/tenants\/tenant-a$/);
    expect(query.endAt.before).toBe(true);
    expect(query.endAt.values[0].referenceValue).toMatch(/\/documents\/tenants\/tenant-a\u0000$/);
    expect(() => db.collectionGroup("../payments")).toThrow(TenantPathError);
    expect(() => db.collectionGroup("a/b")).toThrow(TenantPathError);
  });

  it("refuses references from another tenant in getAll and assertOwns", async () => {
    const { firestore, touched } = recordingFirestore();
    const a = new TenantDb("tenant-a", firestore as never);
    const b = new TenantDb("tenant-b", firestore as never);
    const foreign = b.doc("payments/p1");
    // "tenant-ab" shares a prefix with "tenant-a": the check is on whole segments.
    const prefix = new TenantDb("tenant-ab", firestore as never).doc("payments/p1");
    touched.length = 0;
    await expect(a.getAll(a.doc("payments/p1"), foreign)).rejects.toThrow(TenantPathError);
    expect(() => a.assertOwns(prefix)).toThrow(TenantPathError);
    expect(() => a.assertOwns(a.tenantDoc())).toThrow(TenantPathError);
    expect(touched).not.toContain("getAll");
  });
});
