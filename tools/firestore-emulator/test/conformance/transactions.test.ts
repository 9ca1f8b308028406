/**
 * Transactions (BeginTransaction / Commit / Rollback, BatchGetDocuments and RunQuery with
 * transaction / newTransaction): the semantics applications rely on — serializable read-modify-
 * write under contention with default SDK retry settings, exactly one winner for racing
 * create(), locks released on rollback, consistent read-only snapshots, atomic commits.
 */
import { FieldValue, Firestore } from "@google-cloud/firestore";
import { Code, codeOf, deferred, setupConformance, sleep } from "./helpers";

const ctx = setupConformance(__filename);

describe("concurrent read-write transactions", () => {
  it("50 concurrent runTransaction increments of one counter end at exactly 50 (default SDK settings)", async () => {
    const ref = ctx.db.doc("tx/counter");
    await ref.set({ n: 0 });
    await Promise.all(
      Array.from({ length: 50 }, () =>
        ctx.db.runTransaction(async (t) => {
          const snap = await t.get(ref);
          t.update(ref, { n: (snap.get("n") as number) + 1 });
        }),
      ),
    );
    expect((await ref.get()).get("n")).toBe(50);
  }, 60_000);

  it("20 concurrent read-modify-write transactions from separate clients each land exactly once", async () => {
    const ref = ctx.db.doc("tx/rmw");
    // a separate client per writer: separate gRPC channels, like separate function instances
    const clients: Firestore[] = Array.from({ length: 4 }, () => ctx.newDb());
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        clients[i % clients.length].runTransaction(async (t) => {
          const r = clients[i % clients.length].doc(ref.path);
          const snap = await t.get(r);
          const seen: string[] = snap.exists ? (snap.get("seen") as string[]) : [];
          t.set(r, { seen: [...seen, `w${i}`], count: seen.length + 1 });
        }),
      ),
    );
    const data = (await ref.get()).data()!;
    expect(data.count).toBe(20);
    expect([...(data.seen as string[])].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `w${i}`).sort());
  }, 60_000);

  it("fails the second of two racing create() calls with ALREADY_EXISTS", async () => {
    const ref = ctx.db.doc("tx/once");
    const results = await Promise.allSettled([ref.create({ by: 1 }), ref.create({ by: 2 })]);
    const ok = results.filter((r) => r.status === "fulfilled");
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect(failed[0].reason.code).toBe(Code.ALREADY_EXISTS);
  });

  it("two transactions that both create the same missing document after reading it: exactly one wins", async () => {
    const ref = ctx.db.doc("tx/claim");
    const outcomes = await Promise.allSettled(
      [1, 2].map((who) =>
        ctx.db.runTransaction(async (t) => {
          const snap = await t.get(ref);
          if (snap.exists) return `lost-${who}`;
          t.create(ref, { who });
          return `won-${who}`;
        }),
      ),
    );
    const values = outcomes.map((o) => (o.status === "fulfilled" ? o.value : `error-${o.reason.code}`));
    expect(values.filter((v) => v.startsWith("won"))).toHaveLength(1);
    const winner = (await ref.get()).get("who");
    expect(values).toContain(`won-${winner}`);
  }, 30_000);
});

describe("isolation against non-transactional writes", () => {
  it("a transaction reading a doc while another client writes it ends in a serializable state", async () => {
    const ref = ctx.db.doc("tx/iso");
    await ref.set({ v: 0 });
    const other = ctx.newDb();
    let outsideWrite: Promise<unknown> | undefined;
    const readValues: number[] = [];
    await ctx.db.runTransaction(async (t) => {
      const v = (await t.get(ref)).get("v") as number;
      readValues.push(v);
      if (!outsideWrite) {
        // a concurrent plain write of the same document while this transaction holds its read
        outsideWrite = other.doc(ref.path).set({ v: 100 });
        await sleep(150);
      }
      t.set(ref, { v: v + 1 });
    });
    await outsideWrite;
    const final = (await ref.get()).get("v");
    // Serializable outcomes only: the plain write ordered after the transaction (100), or the
    // transaction retried after the write and saw it (101). Never the lost update (1).
    expect([100, 101]).toContain(final);
    if (final === 101) expect(readValues[readValues.length - 1]).toBe(100);
  }, 30_000);

  it("a failed (throwing) transaction rolls back and leaves the document writable immediately", async () => {
    const ref = ctx.db.doc("tx/rollback");
    await ref.set({ v: 1 });
    await expect(
      ctx.db.runTransaction(async (t) => {
        await t.get(ref);
        t.update(ref, { v: 2 });
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    const started = Date.now();
    await ref.set({ v: 3 });
    // another transaction can read and write it on its first attempt
    await ctx.db.runTransaction(
      async (t) => {
        const v = (await t.get(ref)).get("v") as number;
        t.update(ref, { v: v + 1 });
      },
      { maxAttempts: 1 },
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await ref.get()).get("v")).toBe(4);
  });

  it("a read-only transaction sees one consistent snapshot while others write", async () => {
    const a = ctx.db.doc("tx/a");
    const b = ctx.db.doc("tx/b");
    await a.set({ v: 1 });
    await b.set({ v: 1 });
    const [va, vb] = await ctx.db.runTransaction(
      async (t) => {
        const sa = await t.get(a);
        await ctx.db.batch().set(a, { v: 2 }).set(b, { v: 2 }).commit(); // not blocked: no locks
        const sb = await t.get(b);
        return [sa.get("v"), sb.get("v")];
      },
      { readOnly: true },
    );
    expect([va, vb]).toEqual([1, 1]);
    expect((await b.get()).get("v")).toBe(2);
  });

  it("a read-only transaction with readTime runs queries as of that time", async () => {
    const first = await ctx.db.doc("hist/a").set({ k: 1 });
    await sleep(5);
    await ctx.db.doc("hist/b").set({ k: 1 });
    await ctx.db.doc("hist/a").update({ k: 2 });
    const snap = await ctx.db.runTransaction((t) => t.get(ctx.db.collection("hist").where("k", "==", 1)), {
      readOnly: true,
      readTime: first.writeTime,
    });
    expect(snap.docs.map((d) => d.id)).toEqual(["a"]);
  });
});

describe("queries inside transactions", () => {
  it("runs a query in a read-write transaction and commits writes derived from it", async () => {
    await ctx.db.doc("inv/1").set({ open: true, amt: 5 });
    await ctx.db.doc("inv/2").set({ open: true, amt: 7 });
    await ctx.db.doc("inv/3").set({ open: false, amt: 100 });
    const total = await ctx.db.runTransaction(async (t) => {
      const snap = await t.get(ctx.db.collection("inv").where("open", "==", true));
      const sum = snap.docs.reduce((s, d) => s + (d.get("amt") as number), 0);
      for (const d of snap.docs) t.update(d.ref, { open: false });
      t.set(ctx.db.doc("summary/s"), { total: sum });
      return sum;
    });
    expect(total).toBe(12);
    expect((await ctx.db.collection("inv").where("open", "==", true).get()).size).toBe(0);
    expect((await ctx.db.doc("summary/s").get()).get("total")).toBe(12);
  });

  it("concurrent transactions that query-then-increment stay serializable", async () => {
    await ctx.db.doc("qc/c").set({ n: 0, kind: "counter" });
    await Promise.all(
      Array.from({ length: 10 }, () =>
        ctx.db.runTransaction(async (t) => {
          const snap = await t.get(ctx.db.collection("qc").where("kind", "==", "counter"));
          const d = snap.docs[0];
          t.update(d.ref, { n: (d.get("n") as number) + 1 });
        }),
      ),
    );
    expect((await ctx.db.doc("qc/c").get()).get("n")).toBe(10);
  }, 30_000);
});

describe("atomicity", () => {
  it("a transaction commit with one failing precondition writes nothing", async () => {
    const ref = ctx.db.doc("tx/x");
    await ref.set({ v: 1 });
    const code = await codeOf(
      ctx.db.runTransaction(
        async (t) => {
          await t.get(ref);
          t.update(ref, { v: 2 });
          t.set(ctx.db.doc("tx/y"), { v: 2 });
          t.create(ref, { v: 3 }); // ALREADY_EXISTS at commit
        },
        { maxAttempts: 1 },
      ),
    );
    expect(code).toBe(Code.ALREADY_EXISTS);
    const [x, y] = await ctx.db.getAll(ref, ctx.db.doc("tx/y"));
    expect(x.get("v")).toBe(1);
    expect(y.exists).toBe(false);
  });

  it("a transform in a transaction is applied once per successful commit", async () => {
    const ref = ctx.db.doc("tx/t");
    await ref.set({ n: 0 });
    await Promise.all(
      Array.from({ length: 10 }, () =>
        ctx.db.runTransaction(async (t) => {
          await t.get(ref);
          t.update(ref, { n: FieldValue.increment(1) });
        }),
      ),
    );
    expect((await ref.get()).get("n")).toBe(10);
  }, 30_000);
});

describe("ABORTED for contended transactions (low level)", () => {
  it("of two transactions that read each other's documents, one fails with ABORTED (no retry) and the other commits", async () => {
    // Valid whether reads take shared locks (production, pessimistic mode) or exclusive ones:
    // A (older: it reads first) reads X, B reads Y, then B reads X and A reads Y. With wound-wait
    // the older A wins: B is aborted (while waiting for X, or at commit).
    const x = ctx.db.doc("tx/X");
    const y = ctx.db.doc("tx/Y");
    await ctx.db.batch().set(x, { v: 0 }).set(y, { v: 0 }).commit();
    const aReadX = deferred();
    const bReadY = deferred();
    const a = ctx.db.runTransaction(
      async (t) => {
        const vx = (await t.get(x)).get("v") as number;
        aReadX.resolve();
        await bReadY.promise;
        const vy = (await t.get(y)).get("v") as number;
        t.set(x, { v: vx + 1 }).set(y, { v: vy + 1 });
      },
      { maxAttempts: 1 },
    );
    const b = ctx.db.runTransaction(
      async (t) => {
        await aReadX.promise;
        const vy = (await t.get(y)).get("v") as number;
        bReadY.resolve();
        const vx = (await t.get(x)).get("v") as number;
        t.set(x, { v: vx + 1 }).set(y, { v: vy + 1 });
      },
      { maxAttempts: 1 },
    );
    const results = await Promise.allSettled([a, b]);
    const codes = results.map((r) => (r.status === "fulfilled" ? 0 : (r.reason as { code: number }).code));
    expect(codes.filter((c) => c === Code.ABORTED).length).toBeGreaterThanOrEqual(1);
    expect(codes.every((c) => c === 0 || c === Code.ABORTED)).toBe(true);
    const wins = codes.filter((c) => c === 0).length;
    const [sx, sy] = await ctx.db.getAll(x, y);
    expect([sx.get("v"), sy.get("v")]).toEqual([wins, wins]);
  }, 15_000); // production resolves this at once (wound-wait); waiting out a lock timeout is a failure

  it("raw BeginTransaction + BatchGetDocuments + Commit: of two transactions that read and write one document, one commits and the other gets ABORTED", async () => {
    await ctx.db.doc("tx/raw").set({ v: 0 });
    const name = `${ctx.docsRoot}/tx/raw`;
    const database = `projects/${ctx.projectId}/databases/(default)`;
    const [t1] = await ctx.raw.beginTransaction({ database }, ctx.callOpts);
    const [t2] = await ctx.raw.beginTransaction({ database }, ctx.callOpts);
    const read = async (tx: Buffer) => {
      const out: any[] = await new Promise((resolve, reject) => {
        const acc: any[] = [];
        const s = ctx.raw.batchGetDocuments({ database, documents: [name], transaction: tx }, ctx.callOpts);
        s.on("data", (d: any) => acc.push(d));
        s.on("error", reject);
        s.on("end", () => resolve(acc));
      });
      return out.find((r) => r.found)?.found;
    };
    // the younger reads first, then the older: with wound-wait the older never waits on the younger
    await read(t2.transaction);
    await read(t1.transaction);
    const commit = (tx: Buffer, v: string) =>
      ctx.raw.commit(
        { database, transaction: tx, writes: [{ update: { name, fields: { v: { integerValue: v } } } }] },
        ctx.callOpts,
      );
    const results = await Promise.allSettled([commit(t1.transaction, "1"), commit(t2.transaction, "2")]);
    const codes = results.map((r) => (r.status === "fulfilled" ? 0 : (r.reason as { code: number }).code));
    expect(codes.filter((c) => c === Code.ABORTED).length).toBeGreaterThanOrEqual(1);
    expect(codes.every((c) => c === 0 || c === Code.ABORTED)).toBe(true);
    // clean up any transaction that did not commit
    for (const [i, c] of codes.entries()) {
      if (c !== 0) {
        await ctx.raw
          .rollback({ database, transaction: [t1, t2][i].transaction }, ctx.callOpts)
          .catch(() => undefined);
      }
    }
  }, 15_000);

  it("BeginTransaction accepts retryTransaction (the SDK's retry of an aborted transaction)", async () => {
    const database = `projects/${ctx.projectId}/databases/(default)`;
    const [t1] = await ctx.raw.beginTransaction({ database }, ctx.callOpts);
    await ctx.raw.rollback({ database, transaction: t1.transaction }, ctx.callOpts);
    const [t2] = await ctx.raw.beginTransaction(
      { database, options: { readWrite: { retryTransaction: t1.transaction } } },
      ctx.callOpts,
    );
    expect(Buffer.from(t2.transaction).length).toBeGreaterThan(0);
    await ctx.raw.commit(
      {
        database,
        transaction: t2.transaction,
        writes: [{ update: { name: `${ctx.docsRoot}/tx/retried`, fields: { ok: { booleanValue: true } } } }],
      },
      ctx.callOpts,
    );
    expect((await ctx.db.doc("tx/retried").get()).get("ok")).toBe(true);
  });

  it("Rollback of an open raw transaction releases its read lock", async () => {
    await ctx.db.doc("tx/rb").set({ v: 0 });
    const name = `${ctx.docsRoot}/tx/rb`;
    const database = `projects/${ctx.projectId}/databases/(default)`;
    const [t1] = await ctx.raw.beginTransaction({ database }, ctx.callOpts);
    await new Promise<void>((resolve, reject) => {
      const s = ctx.raw.batchGetDocuments({ database, documents: [name], transaction: t1.transaction }, ctx.callOpts);
      s.on("data", () => undefined);
      s.on("error", reject);
      s.on("end", () => resolve());
    });
    await ctx.raw.rollback({ database, transaction: t1.transaction }, ctx.callOpts);
    const started = Date.now();
    await ctx.db.doc("tx/rb").set({ v: 1 });
    expect(Date.now() - started).toBeLessThan(5000);
    // the rolled-back transaction can no longer commit
    const code = await codeOf(
      ctx.raw.commit(
        { database, transaction: t1.transaction, writes: [{ update: { name, fields: { v: { integerValue: "9" } } } }] },
        ctx.callOpts,
      ),
    );
    expect(code).not.toBe("resolved");
    expect((await ctx.db.doc("tx/rb").get()).get("v")).toBe(1);
  });
});
