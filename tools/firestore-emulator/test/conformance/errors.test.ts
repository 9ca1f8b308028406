/**
 * Error codes: the SDK must see the same gRPC status codes as against production, so
 * application code that branches on err.code behaves identically.
 *   NOT_FOUND (5), ALREADY_EXISTS (6), FAILED_PRECONDITION (9), INVALID_ARGUMENT (3), ABORTED (10)
 * INVALID_ARGUMENT cases use the raw GAPIC client: the SDK validates most bad input client-side,
 * so the request never reaches the server.
 * ABORTED (10) is asserted in transactions.test.ts ("ABORTED for contended transactions").
 */
import { Code, codeOf, setupConformance, sleep } from "./helpers";

const ctx = setupConformance(__filename);
const database = () => `projects/${ctx.projectId}/databases/(default)`;

describe("error codes seen through the SDK", () => {
  it("update() of a missing document -> NOT_FOUND (5)", async () => {
    expect(await codeOf(ctx.db.doc("e/none").update({ a: 1 }))).toBe(Code.NOT_FOUND);
  });

  it("create() of an existing document -> ALREADY_EXISTS (6)", async () => {
    await ctx.db.doc("e/a").set({});
    expect(await codeOf(ctx.db.doc("e/a").create({}))).toBe(Code.ALREADY_EXISTS);
  });

  it("update() with a mismatched lastUpdateTime -> FAILED_PRECONDITION (9)", async () => {
    const wr = await ctx.db.doc("e/a").set({ v: 1 });
    await sleep(2);
    await ctx.db.doc("e/a").set({ v: 2 });
    expect(await codeOf(ctx.db.doc("e/a").update({ v: 3 }, { lastUpdateTime: wr.writeTime }))).toBe(
      Code.FAILED_PRECONDITION,
    );
  });

  it("error messages are non-empty and the SDK error carries the numeric code", async () => {
    try {
      await ctx.db.doc("e/none").update({ a: 1 });
      throw new Error("expected a rejection");
    } catch (e) {
      const err = e as { code: number; message: string };
      expect(err.code).toBe(Code.NOT_FOUND);
      expect(err.message.length).toBeGreaterThan(0);
    }
  });
});

describe("INVALID_ARGUMENT (3) for requests the server must reject (raw requests)", () => {
  it("GetDocument with a collection path instead of a document name", async () => {
    const code = await codeOf(ctx.raw.getDocument({ name: `${ctx.docsRoot}/onlycollection` }, ctx.callOpts));
    expect(code).toBe(Code.INVALID_ARGUMENT);
  });

  it("Commit writing to a collection path (odd number of segments)", async () => {
    const code = await codeOf(
      ctx.raw.commit(
        { database: database(), writes: [{ update: { name: `${ctx.docsRoot}/a/b/c`, fields: {} } }] },
        ctx.callOpts,
      ),
    );
    expect(code).toBe(Code.INVALID_ARGUMENT);
  });

  it("Commit with a transaction id that was never issued", async () => {
    const code = await codeOf(
      ctx.raw.commit(
        {
          database: database(),
          transaction: Buffer.from("not-a-transaction"),
          writes: [{ update: { name: `${ctx.docsRoot}/e/x`, fields: {} } }],
        },
        ctx.callOpts,
      ),
    );
    expect(code).toBe(Code.INVALID_ARGUMENT);
    expect((await ctx.db.doc("e/x").get()).exists).toBe(false);
  });
});

describe("read-only transactions refuse writes", () => {
  it("rejects a Commit with writes in a read-only transaction and writes nothing", async () => {
    const [t] = await ctx.raw.beginTransaction({ database: database(), options: { readOnly: {} } }, ctx.callOpts);
    const code = await codeOf(
      ctx.raw.commit(
        {
          database: database(),
          transaction: t.transaction,
          writes: [{ update: { name: `${ctx.docsRoot}/e/ro`, fields: {} } }],
        },
        ctx.callOpts,
      ),
    );
    // Production error code is not documented; INVALID_ARGUMENT is the likely one.
    expect([Code.INVALID_ARGUMENT, Code.FAILED_PRECONDITION]).toContain(code);
    expect((await ctx.db.doc("e/ro").get()).exists).toBe(false);
  });
});
