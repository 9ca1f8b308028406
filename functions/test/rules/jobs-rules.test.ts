/**
 * firestore.rules for job records `tenants/{tid}/jobs/{jobId}`, through @firebase/rules-unit-testing
 * (the official web SDK) on the official Firestore emulator: who may read, that nobody writes, and
 * that a member's `onSnapshot` listener sees a job's progress move as the runner writes it.
 *
 * Skipped (one printed line says why) where the official emulator is absent; see emulators.ts.
 */
import { assertFails, assertSucceeds, type RulesTestEnvironment } from "@firebase/rules-unit-testing";
import { A, B, type Members, rulesEmulators, rulesEnvironment, S, seedTenants } from "./env";

const PROJECT = "demo-saas-jobs-rules";
const emulators = rulesEmulators(PROJECT);

const members: Members = {
  adminA: { tid: A, roles: ["admin"] },
  memberA: { tid: A, roles: ["member"] },
  viewerA: { tid: A, roles: ["viewer"] },
  customA: { tid: A, roles: ["billing"] },
  invitedA: { tid: A, roles: ["member"], status: "invited" },
  adminB: { tid: B, roles: ["admin"] },
  adminS: { tid: S, roles: ["admin"] },
};

emulators.describeFirestore("firestore.rules: jobs", () => {
  let env: RulesTestEnvironment;
  const db = (uid: string, tid = members[uid].tid) =>
    env.authenticatedContext(uid, { tid, roles: members[uid].roles }).firestore();
  const job = (createdBy: string, extra: Record<string, unknown> = {}) => ({
    type: "tenant.export",
    status: "queued",
    progress: { done: 0, total: 3, message: null },
    createdBy,
    ...extra,
  });

  beforeAll(async () => {
    env = await rulesEnvironment(PROJECT, emulators);
  });

  beforeEach(async () => {
    await seedTenants(env, members);
    await env.withSecurityRulesDisabled(async (ctx) => {
      const admin = ctx.firestore();
      await admin.doc(`tenants/${A}/jobs/byMember`).set(job("memberA"));
      await admin.doc(`tenants/${A}/jobs/byAdmin`).set(job("adminA"));
      await admin.doc(`tenants/${A}/jobs/byCustom`).set(job("customA"));
      await admin.doc(`tenants/${B}/jobs/jb`).set(job("adminB"));
      await admin.doc(`tenants/${S}/jobs/js`).set(job("adminS"));
    });
  });

  afterAll(async () => {
    await env?.cleanup();
  });

  it("lets jobs:read (admin and up) read and list every job of the tenant", async () => {
    await assertSucceeds(db("adminA").doc(`tenants/${A}/jobs/byMember`).get());
    const all = await assertSucceeds(db("adminA").collection(`tenants/${A}/jobs`).get());
    expect(all.size).toBe(3);
  });

  it("lets any active member read the jobs they started, and no one else's", async () => {
    await assertSucceeds(db("memberA").doc(`tenants/${A}/jobs/byMember`).get());
    await assertFails(db("memberA").doc(`tenants/${A}/jobs/byAdmin`).get());
    await assertFails(db("viewerA").doc(`tenants/${A}/jobs/byMember`).get());
    // A member whose roles are all custom still sees their own job (no role check on it).
    await assertSucceeds(db("customA").doc(`tenants/${A}/jobs/byCustom`).get());
  });

  it("lets a member list only with a createdBy filter on themselves", async () => {
    const own = await assertSucceeds(
      db("memberA").collection(`tenants/${A}/jobs`).where("createdBy", "==", "memberA").get(),
    );
    expect(own.docs.map((d) => d.id)).toEqual(["byMember"]);
    await assertFails(db("memberA").collection(`tenants/${A}/jobs`).get());
    await assertFails(db("memberA").collection(`tenants/${A}/jobs`).where("createdBy", "==", "adminA").get());
  });

  it("refuses other tenants, tokens naming another tenant, inactive members and suspended tenants", async () => {
    await assertFails(db("adminB").doc(`tenants/${A}/jobs/byMember`).get());
    await assertFails(db("adminB", A).doc(`tenants/${A}/jobs/byMember`).get());
    await assertFails(db("adminA", B).doc(`tenants/${A}/jobs/byAdmin`).get());
    await assertFails(db("invitedA").doc(`tenants/${A}/jobs/byMember`).get());
    await assertFails(db("adminS").doc(`tenants/${S}/jobs/js`).get());
    await assertFails(env.unauthenticatedContext().firestore().doc(`tenants/${A}/jobs/byMember`).get());
  });

  it("refuses every client write, even to the creator and admins", async () => {
    await assertFails(db("memberA").doc(`tenants/${A}/jobs/byMember`).update({ status: "succeeded" }));
    await assertFails(db("adminA").doc(`tenants/${A}/jobs/new`).set(job("adminA")));
    await assertFails(db("adminA").doc(`tenants/${A}/jobs/byAdmin`).delete());
  });

  it("shows a member's onSnapshot listener the job's progress as it moves, up to its result", async () => {
    const seen: { done: number; status: string }[] = [];
    let finished: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (finished = resolve));
    const unsubscribe = db("memberA")
      .doc(`tenants/${A}/jobs/byMember`)
      .onSnapshot(
        (snap) => {
          seen.push({ done: snap.get("progress.done"), status: snap.get("status") });
          if (snap.get("status") === "succeeded") finished();
        },
        (error) => {
          throw error;
        },
      );
    const write = (data: Record<string, unknown>) =>
      env.withSecurityRulesDisabled((ctx) => ctx.firestore().doc(`tenants/${A}/jobs/byMember`).update(data));
    const waitFor = async (n: number) => {
      for (let i = 0; i < 200 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 25));
    };
    await waitFor(1);
    for (const step of [1, 2, 3]) {
      await write({ status: "running", progress: { done: step, total: 3, message: `step ${step}` } });
      await waitFor(step + 1);
    }
    await write({ status: "succeeded", result: { rows: 3 } });
    await done;
    unsubscribe();
    expect(seen).toEqual([
      { done: 0, status: "queued" },
      { done: 1, status: "running" },
      { done: 2, status: "running" },
      { done: 3, status: "running" },
      { done: 3, status: "succeeded" },
    ]);
  });
});
