/**
 * Commit: set, set merge, mergeFields, update (dotted and backtick-escaped paths),
 * FieldValue.delete, preconditions (exists / lastUpdateTime), delete with precondition,
 * batches (atomic), CreateDocument / UpdateDocument / DeleteDocument raw RPCs.
 */
import { FieldPath, FieldValue, Timestamp } from "@google-cloud/firestore";
import { Code, codeOf, setupConformance, sleep } from "./helpers";

const ctx = setupConformance(__filename);

describe("Commit: set", () => {
  it("set() replaces the whole document", async () => {
    const ref = ctx.db.doc("w/a");
    await ref.set({ a: 1, b: { c: 2 } });
    await ref.set({ z: true });
    expect((await ref.get()).data()).toEqual({ z: true });
  });

  it("keeps createTime and advances updateTime on overwrite", async () => {
    const ref = ctx.db.doc("w/a");
    await ref.set({ v: 1 });
    const s1 = await ref.get();
    await sleep(2);
    await ref.set({ v: 2 });
    const s2 = await ref.get();
    expect(s2.createTime!.isEqual(s1.createTime!)).toBe(true);
    expect(s2.updateTime!.toMillis()).toBeGreaterThanOrEqual(s1.updateTime!.toMillis());
    expect(s2.updateTime!.isEqual(s1.updateTime!)).toBe(false);
  });

  it("gives a re-created document a new createTime", async () => {
    const ref = ctx.db.doc("w/re");
    await ref.set({ v: 1 });
    const first = (await ref.get()).createTime!;
    await ref.delete();
    await sleep(2);
    await ref.set({ v: 2 });
    const second = (await ref.get()).createTime!;
    expect(second.toMillis()).toBeGreaterThan(first.toMillis());
  });

  it("stores timestamps with microsecond precision (nanoseconds are truncated)", async () => {
    const ref = ctx.db.doc("w/ts");
    await ref.set({ t: new Timestamp(1_700_000_000, 123_456_789) });
    const t = (await ref.get()).get("t") as Timestamp;
    expect([t.seconds, t.nanoseconds]).toEqual([1_700_000_000, 123_456_000]);
  });

  it("set(..., {merge: true}) deep-merges maps and keeps untouched fields", async () => {
    const ref = ctx.db.doc("w/a");
    await ref.set({ a: { x: 1, y: 2 }, b: 1 });
    await ref.set({ a: { y: 3, z: 4 }, c: 5 }, { merge: true });
    expect((await ref.get()).data()).toEqual({ a: { x: 1, y: 3, z: 4 }, b: 1, c: 5 });
  });

  it("set merge creates a missing document", async () => {
    const ref = ctx.db.doc("w/new");
    await ref.set({ a: 1 }, { merge: true });
    expect((await ref.get()).data()).toEqual({ a: 1 });
  });

  it("set merge with FieldValue.delete() removes the field", async () => {
    const ref = ctx.db.doc("w/a");
    await ref.set({ a: 1, b: 2 });
    await ref.set({ a: FieldValue.delete() }, { merge: true });
    expect((await ref.get()).data()).toEqual({ b: 2 });
  });

  it("set with mergeFields writes only the listed paths and ignores other provided fields", async () => {
    const ref = ctx.db.doc("w/a");
    await ref.set({ a: { x: 1, y: 2 }, b: 1 });
    await ref.set({ a: { x: 100, y: 200 }, b: 999 }, { mergeFields: ["a.y"] });
    expect((await ref.get()).data()).toEqual({ a: { x: 1, y: 200 }, b: 1 });
  });

  it("deletes a field named in the update mask but absent from the written data (raw commit)", async () => {
    // Via the raw protocol: an update mask path not present in the document removes the field.
    const ref = ctx.db.doc("w/a");
    await ref.set({ a: 1, b: 2 });
    await ctx.raw.commit(
      {
        database: `projects/${ctx.projectId}/databases/(default)`,
        writes: [
          {
            update: { name: `${ctx.docsRoot}/w/a`, fields: { c: { integerValue: "3" } } },
            updateMask: { fieldPaths: ["b", "c"] },
          },
        ],
      },
      ctx.callOpts,
    );
    expect((await ref.get()).data()).toEqual({ a: 1, c: 3 });
  });
});

describe("Commit: update", () => {
  it("update() with a dotted path changes the nested field only", async () => {
    const ref = ctx.db.doc("w/a");
    await ref.set({ a: { x: 1, y: 2 }, b: 1 });
    await ref.update({ "a.x": 5 });
    expect((await ref.get()).data()).toEqual({ a: { x: 5, y: 2 }, b: 1 });
  });

  it("update() of a top-level map replaces the map (no deep merge)", async () => {
    const ref = ctx.db.doc("w/a");
    await ref.set({ a: { x: 1, y: 2 } });
    await ref.update({ a: { z: 3 } });
    expect((await ref.get()).data()).toEqual({ a: { z: 3 } });
  });

  it("update() with a FieldPath containing dots and spaces (sent backtick-escaped) targets the literal key", async () => {
    const ref = ctx.db.doc("w/a");
    await ref.set({ "a.b": { c: 1 }, a: { b: { c: 2 } } });
    await ref.update(new FieldPath("a.b", "c"), 10, new FieldPath("with space", "x-y"), "s");
    expect((await ref.get()).data()).toEqual({
      "a.b": { c: 10 },
      a: { b: { c: 2 } },
      "with space": { "x-y": "s" },
    });
  });

  it("accepts a raw update mask with backtick-escaped segments (`a.b`.c and `` ` `` escapes)", async () => {
    const ref = ctx.db.doc("w/a");
    await ref.set({ keep: true });
    await ctx.raw.commit(
      {
        database: `projects/${ctx.projectId}/databases/(default)`,
        writes: [
          {
            update: {
              name: `${ctx.docsRoot}/w/a`,
              fields: {
                "a.b": { mapValue: { fields: { c: { integerValue: "7" } } } },
                "tick`": { stringValue: "t" },
              },
            },
            updateMask: { fieldPaths: ["`a.b`.c", "`tick\\``"] },
            currentDocument: { exists: true },
          },
        ],
      },
      ctx.callOpts,
    );
    expect((await ref.get()).data()).toEqual({ keep: true, "a.b": { c: 7 }, "tick`": "t" });
  });

  it("update() with FieldValue.delete() removes nested and top-level fields", async () => {
    const ref = ctx.db.doc("w/a");
    await ref.set({ a: { x: 1, y: 2 }, b: 1, c: 2 });
    await ref.update({ "a.x": FieldValue.delete(), b: FieldValue.delete() });
    expect((await ref.get()).data()).toEqual({ a: { y: 2 }, c: 2 });
  });

  it("update() of a missing document fails with NOT_FOUND (implicit exists precondition)", async () => {
    expect(await codeOf(ctx.db.doc("w/missing").update({ a: 1 }))).toBe(Code.NOT_FOUND);
    expect((await ctx.db.doc("w/missing").get()).exists).toBe(false);
  });

  it("update() through a non-map intermediate field replaces it with a map", async () => {
    const ref = ctx.db.doc("w/a");
    await ref.set({ a: 1 });
    await ref.update({ "a.b": 2 });
    expect((await ref.get()).data()).toEqual({ a: { b: 2 } });
  });
});

describe("Commit: preconditions", () => {
  it("create() succeeds on a missing document and fails with ALREADY_EXISTS on an existing one", async () => {
    const ref = ctx.db.doc("w/a");
    await ref.create({ v: 1 });
    expect(await codeOf(ref.create({ v: 2 }))).toBe(Code.ALREADY_EXISTS);
    expect((await ref.get()).get("v")).toBe(1);
  });

  it("update() with a matching lastUpdateTime succeeds", async () => {
    const ref = ctx.db.doc("w/a");
    const wr = await ref.set({ v: 1 });
    await ref.update({ v: 2 }, { lastUpdateTime: wr.writeTime });
    expect((await ref.get()).get("v")).toBe(2);
  });

  it("update() with a stale lastUpdateTime fails with FAILED_PRECONDITION and writes nothing", async () => {
    const ref = ctx.db.doc("w/a");
    const wr = await ref.set({ v: 1 });
    await sleep(2);
    await ref.set({ v: 2 });
    expect(await codeOf(ref.update({ v: 3 }, { lastUpdateTime: wr.writeTime }))).toBe(Code.FAILED_PRECONDITION);
    expect((await ref.get()).get("v")).toBe(2);
  });

  it("delete() with a stale lastUpdateTime fails with FAILED_PRECONDITION; with the current one it deletes", async () => {
    const ref = ctx.db.doc("w/a");
    const wr1 = await ref.set({ v: 1 });
    await sleep(2);
    const wr2 = await ref.set({ v: 2 });
    expect(await codeOf(ref.delete({ lastUpdateTime: wr1.writeTime }))).toBe(Code.FAILED_PRECONDITION);
    expect((await ref.get()).exists).toBe(true);
    await ref.delete({ lastUpdateTime: wr2.writeTime });
    expect((await ref.get()).exists).toBe(false);
  });

  it("delete() with exists:true on a missing document fails with NOT_FOUND", async () => {
    expect(await codeOf(ctx.db.doc("w/none").delete({ exists: true }))).toBe(Code.NOT_FOUND);
  });

  it("delete() of a missing document without precondition succeeds", async () => {
    await expect(ctx.db.doc("w/none").delete()).resolves.toBeDefined();
  });

  it("delete() removes the document but not its subcollections", async () => {
    await ctx.db.doc("w/p").set({ v: 1 });
    await ctx.db.doc("w/p/sub/c").set({ v: 2 });
    await ctx.db.doc("w/p").delete();
    expect((await ctx.db.doc("w/p").get()).exists).toBe(false);
    expect((await ctx.db.doc("w/p/sub/c").get()).exists).toBe(true);
  });

  it("fails (FAILED_PRECONDITION or NOT_FOUND) and creates nothing when a lastUpdateTime precondition targets a missing document", async () => {
    // Documented: update_time precondition requires the document to exist with that update time.
    const code = await codeOf(
      ctx.db.doc("w/none").update({ v: 1 }, { lastUpdateTime: Timestamp.fromMillis(1000) }),
    );
    expect([Code.FAILED_PRECONDITION, Code.NOT_FOUND]).toContain(code);
    expect((await ctx.db.doc("w/none").get()).exists).toBe(false);
  });
});

describe("Commit: batches are atomic", () => {
  it("applies several writes to the same document in order within one batch", async () => {
    const ref = ctx.db.doc("w/a");
    const b = ctx.db.batch();
    b.set(ref, { a: 1, b: 1 });
    b.update(ref, { b: 2 });
    b.set(ref, { c: 3 }, { merge: true });
    await b.commit();
    expect((await ref.get()).data()).toEqual({ a: 1, b: 2, c: 3 });
  });

  it("gives every write of one commit the same writeTime / updateTime", async () => {
    const b = ctx.db.batch();
    b.set(ctx.db.doc("w/x"), { v: 1 });
    b.set(ctx.db.doc("w/y"), { v: 1 });
    const [r1, r2] = await b.commit();
    expect(r1.writeTime.isEqual(r2.writeTime)).toBe(true);
    const [x, y] = await ctx.db.getAll(ctx.db.doc("w/x"), ctx.db.doc("w/y"));
    expect(x.updateTime!.isEqual(y.updateTime!)).toBe(true);
  });

  it("writes nothing when one write's precondition fails", async () => {
    await ctx.db.doc("w/exists").set({ v: 1 });
    const b = ctx.db.batch();
    b.set(ctx.db.doc("w/x"), { v: 1 });
    b.update(ctx.db.doc("w/exists"), { v: 2 });
    b.update(ctx.db.doc("w/missing"), { v: 3 }); // NOT_FOUND -> the whole commit fails
    expect(await codeOf(b.commit())).toBe(Code.NOT_FOUND);
    const [x, e] = await ctx.db.getAll(ctx.db.doc("w/x"), ctx.db.doc("w/exists"));
    expect(x.exists).toBe(false);
    expect(e.data()).toEqual({ v: 1 });
  });
});

describe("CreateDocument / UpdateDocument / DeleteDocument (raw RPCs)", () => {
  const parent = () => ctx.docsRoot;

  it("CreateDocument creates with the given id and fails with ALREADY_EXISTS the second time", async () => {
    const req = {
      parent: parent(),
      collectionId: "raw",
      documentId: "d1",
      document: { fields: { a: { integerValue: "1" } } },
    };
    const [doc] = await ctx.raw.createDocument(req, ctx.callOpts);
    expect(doc.name).toBe(`${ctx.docsRoot}/raw/d1`);
    expect(await codeOf(ctx.raw.createDocument(req, ctx.callOpts))).toBe(Code.ALREADY_EXISTS);
  });

  it("UpdateDocument with an update mask merges; with exists precondition on a missing doc fails with NOT_FOUND", async () => {
    await ctx.db.doc("raw/d2").set({ a: 1, b: 2 });
    await ctx.raw.updateDocument(
      {
        document: { name: `${ctx.docsRoot}/raw/d2`, fields: { b: { integerValue: "3" } } },
        updateMask: { fieldPaths: ["b"] },
      },
      ctx.callOpts,
    );
    expect((await ctx.db.doc("raw/d2").get()).data()).toEqual({ a: 1, b: 3 });
    const code = await codeOf(
      ctx.raw.updateDocument(
        {
          document: { name: `${ctx.docsRoot}/raw/none`, fields: {} },
          currentDocument: { exists: true },
        },
        ctx.callOpts,
      ),
    );
    expect(code).toBe(Code.NOT_FOUND);
  });

  it("DeleteDocument deletes; with exists precondition on a missing doc fails with NOT_FOUND", async () => {
    await ctx.db.doc("raw/d3").set({ a: 1 });
    await ctx.raw.deleteDocument({ name: `${ctx.docsRoot}/raw/d3` }, ctx.callOpts);
    expect((await ctx.db.doc("raw/d3").get()).exists).toBe(false);
    const code = await codeOf(
      ctx.raw.deleteDocument({ name: `${ctx.docsRoot}/raw/d3`, currentDocument: { exists: true } }, ctx.callOpts),
    );
    expect(code).toBe(Code.NOT_FOUND);
  });
});
