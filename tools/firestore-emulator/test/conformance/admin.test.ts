/**
 * Emulator HTTP admin endpoints (same port as gRPC):
 *   DELETE /emulator/v1/projects/{p}/databases/(default)/documents   clear a project's data
 *   GET    /emulator/v1/projects/{p}/operations                      counters + op log   [ours only]
 *   DELETE /emulator/v1/projects/{p}/operations                      reset them          [ours only]
 * Billing-like counting: each document returned or looked up by a get = 1 read (missing too);
 * a query = max(1, documents returned); each written document = 1 write; a delete = 1 delete.
 */
import { Firestore } from "@google-cloud/firestore";
import { OURS_ONLY, clearProject, getOps, http, itOurs, resetOps, setupConformance } from "./helpers";

const ctx = setupConformance(__filename);
const otherProject = () => `${ctx.projectId}-b`;
let other: Firestore;
beforeAll(() => {
  other = new Firestore({ projectId: otherProject() });
});
afterAll(async () => {
  await other.terminate();
});
beforeEach(async () => {
  await clearProject(otherProject());
});

describe("clear data endpoint", () => {
  it("DELETE .../documents removes every document, nested ones included", async () => {
    await ctx.db.doc("a/1").set({ v: 1 });
    await ctx.db.doc("a/1/sub/2").set({ v: 2 });
    await ctx.db.doc("b/3/deep/4/deeper/5").set({ v: 3 });
    const r = await http("DELETE", `/emulator/v1/projects/${ctx.projectId}/databases/(default)/documents`);
    expect(r.status).toBe(200);
    expect(await ctx.db.listCollections()).toEqual([]);
    const snaps = await ctx.db.getAll(ctx.db.doc("a/1"), ctx.db.doc("a/1/sub/2"), ctx.db.doc("b/3/deep/4/deeper/5"));
    expect(snaps.map((s) => s.exists)).toEqual([false, false, false]);
    expect((await ctx.db.collectionGroup("deeper").get()).size).toBe(0);
  });

  it("clearing one project leaves another project's data alone", async () => {
    await ctx.db.doc("a/1").set({ v: "mine" });
    await other.doc("a/1").set({ v: "theirs" });
    await clearProject(ctx.projectId);
    expect((await ctx.db.doc("a/1").get()).exists).toBe(false);
    expect((await other.doc("a/1").get()).get("v")).toBe("theirs");
  });
});

describe("project isolation", () => {
  it("the same document path in two projects holds independent data", async () => {
    await ctx.db.doc("tenants/a").set({ owner: "p1" });
    await other.doc("tenants/a").set({ owner: "p2" });
    expect((await ctx.db.doc("tenants/a").get()).get("owner")).toBe("p1");
    expect((await other.doc("tenants/a").get()).get("owner")).toBe("p2");
    expect((await other.collectionGroup("tenants").get()).size).toBe(1);
  });

  itOurs(`${OURS_ONLY}operations in one project are not counted in another`, async () => {
    await resetOps(ctx.projectId);
    await resetOps(otherProject());
    await other.doc("x/1").set({ v: 1 });
    await other.doc("x/1").get();
    const mine = await getOps(ctx.projectId);
    expect([mine.reads, mine.writes, mine.deletes, mine.log.length]).toEqual([0, 0, 0, 0]);
    const theirs = await getOps(otherProject());
    expect([theirs.reads, theirs.writes, theirs.deletes]).toEqual([1, 1, 0]);
  });
});

describe("operation counters and log", () => {
  itOurs(`${OURS_ONLY}counts reads, writes and deletes exactly after a scripted sequence, and logs each document path`, async () => {
    const b = ctx.db.batch();
    for (const id of ["1", "2", "3"]) b.set(ctx.db.doc(`q/${id}`), { k: 1 });
    b.set(ctx.db.doc("x/toDelete"), { v: 1 });
    await b.commit();
    await resetOps(ctx.projectId);

    await ctx.db.doc("s/one").set({ v: 1 }); // 1 write
    await ctx.db.doc("s/one").get(); // 1 read
    await ctx.db.doc("s/missing").get(); // 1 read (missing docs count)
    expect((await ctx.db.collection("q").where("k", "==", 1).get()).size).toBe(3); // 3 reads
    expect((await ctx.db.collection("empty").get()).size).toBe(0); // 1 read (minimum per query)
    await ctx.db.doc("x/toDelete").delete(); // 1 delete

    const ops = await getOps(ctx.projectId);
    expect({ reads: ops.reads, writes: ops.writes, deletes: ops.deletes }).toEqual({ reads: 6, writes: 1, deletes: 1 });
    const byKind = (k: string) => ops.log.filter((e) => e.kind === k).map((e) => e.path);
    expect(byKind("write")).toEqual(["s/one"]);
    expect(byKind("delete")).toEqual(["x/toDelete"]);
    expect(byKind("read")).toEqual(expect.arrayContaining(["s/one", "s/missing", "q/1", "q/2", "q/3"]));
    const seqs = ops.log.map((e) => e.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
    // the write came first and the delete last
    const sorted = [...ops.log].sort((x, y) => x.seq - y.seq);
    expect(sorted[0]).toMatchObject({ kind: "write", path: "s/one" });
    expect(sorted[sorted.length - 1]).toMatchObject({ kind: "delete", path: "x/toDelete" });
    for (const e of ops.log) expect(typeof e.method).toBe("string");
  });

  itOurs(`${OURS_ONLY}DELETE .../operations resets counters and the log`, async () => {
    await ctx.db.doc("a/1").set({ v: 1 });
    await ctx.db.doc("a/1").get();
    const r = await http("DELETE", `/emulator/v1/projects/${ctx.projectId}/operations`);
    expect(r.status).toBe(200);
    const ops = await getOps(ctx.projectId);
    expect([ops.reads, ops.writes, ops.deletes, ops.log.length]).toEqual([0, 0, 0, 0]);
  });

  itOurs(`${OURS_ONLY}a failed commit counts nothing`, async () => {
    await ctx.db.doc("f/exists").set({ v: 1 });
    await resetOps(ctx.projectId);
    const batch = ctx.db.batch();
    batch.set(ctx.db.doc("f/new"), { v: 1 });
    batch.delete(ctx.db.doc("f/exists"));
    batch.update(ctx.db.doc("f/missing"), { v: 2 }); // NOT_FOUND fails the whole commit
    await expect(batch.commit()).rejects.toMatchObject({ code: 5 });
    const ops = await getOps(ctx.projectId);
    expect([ops.writes, ops.deletes]).toEqual([0, 0]);
    expect(ops.log.filter((e) => e.kind !== "read")).toEqual([]);
  });

  itOurs(`${OURS_ONLY}counts each document of a multi-document commit and batch get`, async () => {
    await resetOps(ctx.projectId);
    await ctx.db.batch().set(ctx.db.doc("m/1"), {}).set(ctx.db.doc("m/2"), {}).set(ctx.db.doc("m/3"), {}).commit();
    await ctx.db.getAll(ctx.db.doc("m/1"), ctx.db.doc("m/2"), ctx.db.doc("m/nope"));
    const ops = await getOps(ctx.projectId);
    expect({ reads: ops.reads, writes: ops.writes, deletes: ops.deletes }).toEqual({ reads: 3, writes: 3, deletes: 0 });
  });

  itOurs(`${OURS_ONLY}marks transactional reads and writes with their transaction`, async () => {
    await ctx.db.doc("t/1").set({ n: 0 });
    await resetOps(ctx.projectId);
    await ctx.db.doc("t/1").get();
    await ctx.db.runTransaction(async (t) => {
      const s = await t.get(ctx.db.doc("t/1"));
      t.update(ctx.db.doc("t/1"), { n: (s.get("n") as number) + 1 });
    });
    const ops = await getOps(ctx.projectId);
    const [plainRead, txRead] = ops.log.filter((e) => e.kind === "read").sort((a, b) => a.seq - b.seq);
    const txWrite = ops.log.find((e) => e.kind === "write");
    expect(plainRead.transaction ?? null).toBeFalsy();
    expect(txRead.transaction).toBeTruthy();
    expect(txWrite?.transaction).toBeTruthy();
    expect(txWrite?.transaction).toBe(txRead.transaction);
  });

  itOurs(`${OURS_ONLY}lets a test prove a tenant-scoped request touched only tenants/{id}`, async () => {
    await ctx.db.doc("tenants/a/members/u1").set({ role: "owner" });
    await ctx.db.doc("tenants/b/members/u2").set({ role: "owner" });
    await resetOps(ctx.projectId);
    // "request" for tenant a
    await ctx.db.doc("tenants/a/members/u1").get();
    await ctx.db.collection("tenants/a/members").where("role", "==", "owner").get();
    await ctx.db.doc("tenants/a/audit/e1").set({ at: 1 });
    const ops = await getOps(ctx.projectId);
    expect(ops.log.length).toBeGreaterThanOrEqual(3);
    for (const e of ops.log) expect(e.path.startsWith("tenants/a/")).toBe(true);
  });
});
