/**
 * Reads: GetDocument (raw RPC — the SDK's doc.get() uses BatchGetDocuments) and
 * BatchGetDocuments (doc.get(), getAll(), field masks, transactions, readTime).
 */
import { FieldPath, Timestamp } from "@google-cloud/firestore";
import { Code, codeOf, setupConformance } from "./helpers";

const ctx = setupConformance(__filename);

describe("GetDocument", () => {
  it("returns the stored fields with createTime and updateTime", async () => {
    const ref = ctx.db.doc("people/alice");
    const wr = await ref.set({ name: "Alice", age: 30 });
    const [doc] = await ctx.raw.getDocument({ name: `${ctx.docsRoot}/people/alice` }, ctx.callOpts);
    expect(doc.name).toBe(`${ctx.docsRoot}/people/alice`);
    expect(doc.fields.name).toMatchObject({ stringValue: "Alice" });
    expect(Number(doc.fields.age.integerValue)).toBe(30);
    expect(doc.updateTime).toBeTruthy();
    expect(doc.createTime).toBeTruthy();
    expect(
      new Timestamp(Number(doc.updateTime.seconds), doc.updateTime.nanos).isEqual(wr.writeTime),
    ).toBe(true);
  });

  it("fails with NOT_FOUND for a missing document", async () => {
    const code = await codeOf(ctx.raw.getDocument({ name: `${ctx.docsRoot}/people/nobody` }, ctx.callOpts));
    expect(code).toBe(Code.NOT_FOUND);
  });

  it("applies a field mask", async () => {
    await ctx.db.doc("people/bob").set({ name: "Bob", age: 40, address: { city: "Oslo", zip: "0150" } });
    const [doc] = await ctx.raw.getDocument(
      { name: `${ctx.docsRoot}/people/bob`, mask: { fieldPaths: ["name", "address.city"] } },
      ctx.callOpts,
    );
    expect(Object.keys(doc.fields).sort()).toEqual(["address", "name"]);
    expect(Object.keys(doc.fields.address.mapValue.fields)).toEqual(["city"]);
  });
});

describe("BatchGetDocuments", () => {
  it("returns an existing document through doc.get() with data, createTime, updateTime and readTime", async () => {
    const ref = ctx.db.doc("c/a");
    const wr = await ref.set({ x: 1 });
    const snap = await ref.get();
    expect(snap.exists).toBe(true);
    expect(snap.data()).toEqual({ x: 1 });
    expect(snap.createTime!.isEqual(wr.writeTime)).toBe(true);
    expect(snap.updateTime!.isEqual(wr.writeTime)).toBe(true);
    expect(snap.readTime.toMillis()).toBeGreaterThanOrEqual(wr.writeTime.toMillis());
  });

  it("reports a missing document as not existing (no error)", async () => {
    const snap = await ctx.db.doc("c/missing").get();
    expect(snap.exists).toBe(false);
    expect(snap.data()).toBeUndefined();
    expect(snap.readTime).toBeInstanceOf(Timestamp);
  });

  it("getAll returns documents in request order, with missing ones marked as not existing", async () => {
    await ctx.db.doc("c/a").set({ v: "a" });
    await ctx.db.doc("c/b").set({ v: "b" });
    const snaps = await ctx.db.getAll(ctx.db.doc("c/b"), ctx.db.doc("c/nope"), ctx.db.doc("c/a"));
    expect(snaps.map((s) => [s.id, s.exists])).toEqual([
      ["b", true],
      ["nope", false],
      ["a", true],
    ]);
    expect(snaps[0].get("v")).toBe("b");
    expect(snaps[2].get("v")).toBe("a");
  });

  it("getAll with a field mask returns only the masked fields (nested paths included)", async () => {
    await ctx.db.doc("c/a").set({ keep: 1, drop: 2, nested: { in: 3, out: 4 } });
    const [snap] = await ctx.db.getAll(ctx.db.doc("c/a"), { fieldMask: ["keep", new FieldPath("nested", "in")] });
    expect(snap.data()).toEqual({ keep: 1, nested: { in: 3 } });
  });

  it("getAll inside a transaction reads existing and missing documents", async () => {
    await ctx.db.doc("c/a").set({ n: 1 });
    const result = await ctx.db.runTransaction(async (t) => {
      const [a, m] = await t.getAll(ctx.db.doc("c/a"), ctx.db.doc("c/m"));
      t.set(ctx.db.doc("c/m"), { n: (a.get("n") as number) + 1 });
      return [a.exists, m.exists];
    });
    expect(result).toEqual([true, false]);
    expect((await ctx.db.doc("c/m").get()).get("n")).toBe(2);
  });

  it("reads the state as of readTime in a read-only transaction", async () => {
    const ref = ctx.db.doc("c/versioned");
    const first = await ref.set({ v: 1 });
    await new Promise((r) => setTimeout(r, 5));
    await ref.set({ v: 2 });
    await ctx.db.doc("c/later").set({ v: 9 }); // created after readTime
    const [old, later] = await ctx.db.runTransaction(
      (t) => t.getAll(ref, ctx.db.doc("c/later")),
      { readOnly: true, readTime: first.writeTime },
    );
    expect(old.get("v")).toBe(1);
    expect(later.exists).toBe(false);
    expect((await ref.get()).get("v")).toBe(2);
  });

  it("is reachable through firebase-admin's getFirestore() as well", async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { initializeApp, deleteApp } = require("firebase-admin/app");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { getFirestore } = require("firebase-admin/firestore");
    const app = initializeApp({ projectId: ctx.projectId }, `conformance-${Date.now()}`);
    try {
      const adb = getFirestore(app);
      await adb.doc("admin/x").set({ via: "firebase-admin" });
      expect((await ctx.db.doc("admin/x").get()).get("via")).toBe("firebase-admin");
      await adb.terminate();
    } finally {
      await deleteApp(app);
    }
  });
});
