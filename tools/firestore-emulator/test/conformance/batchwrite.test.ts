/**
 * BatchWrite (BulkWriter in the SDK): writes are applied independently — a failing write does
 * not fail (or roll back) the others, and each write reports its own status.
 */
import { Code, codeOf, setupConformance } from "./helpers";

const ctx = setupConformance(__filename);

describe("BatchWrite via BulkWriter", () => {
  it("applies the successful writes when others in the same batch fail, each with its own error code", async () => {
    await ctx.db.doc("bw/existing").set({ v: 1 });
    await ctx.db.doc("bw/toDelete").set({ v: 1 });
    const writer = ctx.db.bulkWriter();
    writer.onWriteError(() => false); // no retries: we want the first status
    const pending = [
      writer.create(ctx.db.doc("bw/existing"), { v: 2 }), // ALREADY_EXISTS
      writer.set(ctx.db.doc("bw/new"), { v: 3 }),
      writer.update(ctx.db.doc("bw/missing"), { v: 4 }), // NOT_FOUND
      writer.delete(ctx.db.doc("bw/toDelete")),
      writer.update(ctx.db.doc("bw/existing"), { w: 5 }),
    ];
    await writer.close(); // BulkWriter sends its batches on flush/close
    const results = await Promise.allSettled(pending);
    const codes = results.map((r) => (r.status === "fulfilled" ? 0 : (r.reason as { code: number }).code));
    expect(codes).toEqual([Code.ALREADY_EXISTS, 0, Code.NOT_FOUND, 0, 0]);
    const [existing, created, missing, deleted] = await ctx.db.getAll(
      ctx.db.doc("bw/existing"),
      ctx.db.doc("bw/new"),
      ctx.db.doc("bw/missing"),
      ctx.db.doc("bw/toDelete"),
    );
    expect(existing.data()).toEqual({ v: 1, w: 5 });
    expect(created.data()).toEqual({ v: 3 });
    expect(missing.exists).toBe(false);
    expect(deleted.exists).toBe(false);
  });

  it("returns per-write statuses from the raw BatchWrite RPC", async () => {
    await ctx.db.doc("bw/a").set({ v: 1 });
    await ctx.db.doc("bw/c").set({ v: 1 });
    // One write per document: google.firestore.v1 Firestore.BatchWrite "does not allow more than
    // one write per document" (see the next test).
    const [res] = await ctx.raw.batchWrite(
      {
        database: `projects/${ctx.projectId}/databases/(default)`,
        writes: [
          { update: { name: `${ctx.docsRoot}/bw/b`, fields: { v: { integerValue: "2" } } } },
          {
            update: { name: `${ctx.docsRoot}/bw/a`, fields: { v: { integerValue: "3" } } },
            currentDocument: { exists: false },
          },
          { delete: `${ctx.docsRoot}/bw/c`, currentDocument: { exists: true } },
        ],
      },
      ctx.callOpts,
    );
    expect(res.status.map((s: { code?: number }) => s.code ?? 0)).toEqual([0, Code.ALREADY_EXISTS, 0]);
    expect(res.writeResults).toHaveLength(3);
    const [a, b, c] = await ctx.db.getAll(ctx.db.doc("bw/a"), ctx.db.doc("bw/b"), ctx.db.doc("bw/c"));
    expect(a.get("v")).toBe(1);
    expect(b.get("v")).toBe(2);
    expect(c.exists).toBe(false);
  });

  it("rejects a raw BatchWrite that writes one document twice (INVALID_ARGUMENT, nothing applied)", async () => {
    // google.firestore.v1 firestore.proto: BatchWrite "does not allow more than one write per
    // document"; BatchWriteRequest.writes: "You cannot write to the same document more than once
    // per request". Production rejects the whole request.
    await ctx.db.doc("bw/a").set({ v: 1 });
    const code = await codeOf(
      ctx.raw.batchWrite(
        {
          database: `projects/${ctx.projectId}/databases/(default)`,
          writes: [
            { update: { name: `${ctx.docsRoot}/bw/b`, fields: { v: { integerValue: "2" } } } },
            { update: { name: `${ctx.docsRoot}/bw/a`, fields: { v: { integerValue: "3" } } } },
            { delete: `${ctx.docsRoot}/bw/a` },
          ],
        },
        ctx.callOpts,
      ),
    );
    expect(code).toBe(Code.INVALID_ARGUMENT);
    const [a, b] = await ctx.db.getAll(ctx.db.doc("bw/a"), ctx.db.doc("bw/b"));
    expect(a.get("v")).toBe(1);
    expect(b.exists).toBe(false);
  });

  it("writes many documents (bulk import of 250 docs)", async () => {
    const writer = ctx.db.bulkWriter();
    for (let i = 0; i < 250; i++) void writer.set(ctx.db.doc(`bulk/d${i}`), { i });
    await writer.close();
    expect((await ctx.db.collection("bulk").count().get()).data().count).toBe(250);
  });
});
