/**
 * Jobs against the real Firestore and Auth emulators: the callables are invoked in-process as
 * real users, tasks are captured at the Cloud Tasks transport (the production enqueue code runs)
 * and dispatched in-process to the production `runJobTask`, retried the way Cloud Tasks would
 * (a throw means "dispatch again"). The Cloud Tasks emulator itself is exercised in test/e2e/jobs.
 */
import { createPublicKey, randomBytes } from "node:crypto";
import { Timestamp } from "firebase-admin/firestore";
import { jobObjectStore, setJobObjectStore, bucketObjectStore } from "../../src/jobs/object-store";
import { jobTypes } from "../../src/jobs/registry";
import { jobDeadLetterId, jobEventId, JOB_QUEUE, runJobTask, type RunDeps } from "../../src/jobs/runner";
import { rootFirestore } from "../../src/platform/admin";
import { decryptString, encrypt, parseKeyring } from "../../src/platform/crypto";
import { metrics } from "../../src/platform/metrics";
import { secretAad as mfaSecretAad } from "../../src/mfa/service";
import { setTaskTransport } from "../../src/webhooks/tasks";
import { exportedFunction } from "../support/exports";
import { callAs, countOps, createTestUser, expectHttpsError, seedTenant, type TestUser } from "../support/firebase";
import { useThrowawaySigner, verifyV4 } from "../support/storage";

jest.setTimeout(120_000);

interface Task {
  queue: string;
  payload: Record<string, unknown>;
  id: string;
}

const tasks: Task[] = [];
const seen = new Set<string>();
const db = () => rootFirestore();
const call = <R = Record<string, unknown>>(name: string, user: TestUser, data: unknown) =>
  callAs(exportedFunction(name), user, data) as Promise<R>;

let owner: TestUser;
let admin: TestUser;
let member: TestUser;
let platformAdmin: TestUser;
let tid: string;
let otherTid: string;

const deps = (overrides: Partial<RunDeps> = {}): RunDeps => ({
  types: jobTypes(),
  queueMaxAttempts: 12,
  retentionMs: 86_400_000,
  pollMs: 50,
  publish: async () => undefined,
  ...overrides,
});

/** Dispatches a job task like Cloud Tasks: again after every throw, up to `max` dispatches. */
async function dispatch(task: Task, max = 12): Promise<{ outcome: string; dispatches: number }> {
  for (let n = 1; ; n++) {
    try {
      return { outcome: await runJobTask(task.payload, n, deps({ queueMaxAttempts: max })), dispatches: n };
    } catch (error) {
      if (n >= max) throw error;
    }
  }
}

const jobTasks = () => tasks.filter((t) => t.queue === JOB_QUEUE);
const jobDoc = (tenant: string, id: string) => db().doc(`tenants/${tenant}/jobs/${id}`);

beforeAll(async () => {
  setTaskTransport(async (queue, payload, options) => {
    // The real queue refuses a task id it has seen; the production code treats that as success.
    if (seen.has(options.id)) throw Object.assign(new Error("exists"), { code: "functions/task-already-exists" });
    seen.add(options.id);
    tasks.push({ queue, payload, id: options.id });
  });
  [owner, admin, member, platformAdmin] = await Promise.all([
    createTestUser(),
    createTestUser(),
    createTestUser(),
    createTestUser({ claims: { platformAdmin: true } }),
  ]);
  tid = await seedTenant({
    owner: { user: owner, roles: ["owner"] },
    admin: { user: admin, roles: ["admin"] },
    member: { user: member, roles: ["member"] },
  });
  otherTid = await seedTenant({ other: { user: await createTestUser(), roles: ["owner"] } });
});

afterAll(() => {
  setTaskTransport(undefined);
  setJobObjectStore(undefined);
});

beforeEach(() => {
  tasks.length = 0;
});

describe("enqueueJob", () => {
  it("refuses an unknown type or invalid input with invalid-argument, writing nothing and queueing nothing", async () => {
    const before = (await db().collection(`tenants/${tid}/jobs`).get()).size;
    const { ops } = await countOps(async () => {
      const unknown = await expectHttpsError(
        call("enqueueJob", admin, { type: "no.such", input: {} }),
        "invalid-argument",
      );
      expect(unknown.details).toMatchObject({ fields: { type: ["unknown job type"] } });
      const invalid = await expectHttpsError(
        call("enqueueJob", admin, { type: "example.steps", input: { steps: 0, extra: 1 } }),
        "invalid-argument",
      );
      expect(Object.keys((invalid.details as { fields: object }).fields).sort()).toEqual(["input", "input.steps"]);
      await expectHttpsError(call("enqueueJob", admin, { type: "__proto__", input: {} }), "invalid-argument");
    });
    // (The metrics flush may write its own counters under _metrics/ meanwhile.)
    expect(ops.log.filter((e) => e.kind !== "read" && !e.path.startsWith("_metrics/"))).toEqual([]);
    expect(tasks).toEqual([]);
    expect((await db().collection(`tenants/${tid}/jobs`).get()).size).toBe(before);
  });

  it("makes one job and one task out of 20 concurrent calls with the same dedupe key", async () => {
    const dedupeKey = `report-${randomBytes(4).toString("hex")}`;
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        call<{ job: { id: string }; created: boolean }>("enqueueJob", admin, {
          type: "example.steps",
          input: { steps: 1 },
          dedupeKey,
        }),
      ),
    );
    expect(new Set(results.map((r) => r.job.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const jobs = await db().collection(`tenants/${tid}/jobs`).where("dedupeKey", "==", dedupeKey).get();
    expect(jobs.size).toBe(1);
    expect(new Set(jobTasks().map((t) => t.id)).size).toBe(1);
  });

  it("is refused to a member without the type's permission, and operator types to tenant owners", async () => {
    await expectHttpsError(
      call("enqueueJob", member, { type: "example.steps", input: { steps: 1 } }),
      "permission-denied",
    );
    await expectHttpsError(call("enqueueJob", owner, { type: "secrets.reencrypt", input: {} }), "permission-denied");
    await expectHttpsError(
      call("enqueueJob", owner, { type: "tenant.export", input: {}, tenantId: otherTid }),
      "permission-denied",
    );
    expect(tasks).toEqual([]);
  });
});

describe("running jobs", () => {
  async function enqueue(input: Record<string, unknown>, user = admin) {
    const { job } = await call<{ job: { id: string } }>("enqueueJob", user, { type: "example.steps", input });
    const task = jobTasks().find((t) => t.payload.jobId === job.id)!;
    return { id: job.id, task };
  }

  it("runs to success with progress, counts it, stages and publishes job.succeeded, and never runs a finished job again", async () => {
    metrics.reset();
    const { id, task } = await enqueue({ steps: 3 });
    expect((await dispatch(task)).outcome).toBe("succeeded");
    const job = (await jobDoc(tid, id).get()).data()!;
    expect(job).toMatchObject({ status: "succeeded", attempts: 1, result: { steps: 3 }, error: null, leaseId: null });
    expect(job.progress).toEqual({ done: 3, total: 3, message: "step 3 of 3" });
    expect(await metrics.value("jobs_total", { type: "example.steps", outcome: "succeeded" })).toBe(1);
    const durations = (await metrics.snapshot()).find((f) => f.name === "job_duration_seconds");
    expect(
      durations?.values.find((v) => v.metricName === "job_duration_seconds_count" && v.labels.type === "example.steps")
        ?.value,
    ).toBe(1);
    const eventId = jobEventId(tid, id, 0, "succeeded");
    const event = await db().doc(`tenants/${tid}/webhookEvents/${eventId}`).get();
    expect(event.get("type")).toBe("job.succeeded");
    expect(event.get("payload")).toMatchObject({ jobId: id, type: "example.steps", attempts: 1, error: null });
    expect((await db().doc(`tenants/${tid}/eventOutbox/${eventId}`).get()).exists).toBe(false);

    // A duplicate dispatch of the same task finds the job finished: nothing runs, nothing changes.
    expect(await runJobTask(task.payload, 1, deps())).toBe("finished");
    expect((await jobDoc(tid, id).get()).get("attempts")).toBe(1);
  });

  it("retries a failing job with its attempts, then dead-letters it (source job); replay runs it again and resolves the letter", async () => {
    const { id, task } = await enqueue({ steps: 1, failAttempts: 3 });
    const { outcome, dispatches } = await dispatch(task);
    expect({ outcome, dispatches }).toEqual({ outcome: "failed", dispatches: 3 });
    const failed = (await jobDoc(tid, id).get()).data()!;
    expect(failed).toMatchObject({
      status: "failed",
      attempts: 3,
      error: { code: "internal", message: "Internal error." },
    });
    expect(failed.errors.map((e: { attempt: number }) => e.attempt)).toEqual([1, 2, 3]);
    const letterId = jobDeadLetterId(id);
    const letter = (await db().doc(`tenants/${tid}/deadLetters/${letterId}`).get()).data()!;
    expect(letter).toMatchObject({ source: "job", queue: JOB_QUEUE, status: "open", attempts: 3, reference: id });
    expect(letter.errors.map((e: { message: string }) => e.message)).toEqual([
      "example failure on attempt 1",
      "example failure on attempt 2",
      "example failure on attempt 3",
    ]);
    expect(
      (
        await db()
          .doc(`tenants/${tid}/webhookEvents/${jobEventId(tid, id, 0, "failed")}`)
          .get()
      ).get("type"),
    ).toBe("job.failed");

    const replay = await call<{ results: { outcome: string }[] }>("replayDeadLetters", admin, { ids: [letterId] });
    expect(replay.results[0].outcome).toBe("replayed");
    const replayTask = tasks.find((t) => t.id === `${letterId}-r1`)!;
    expect(replayTask.queue).toBe(JOB_QUEUE);
    expect((await dispatch(replayTask)).outcome).toBe("succeeded");
    expect((await jobDoc(tid, id).get()).data()).toMatchObject({ status: "succeeded", attempts: 4, round: 1 });
    expect((await db().doc(`tenants/${tid}/deadLetters/${letterId}`).get()).get("status")).toBe("resolved");
    // A second dispatch of the replay changes nothing.
    expect(await runJobTask(replayTask.payload, 1, deps())).toBe("finished");
  });

  it("retryJob gives a failed job a fresh round; only a failed job can be retried", async () => {
    const { id, task } = await enqueue({ steps: 1, failAttempts: 1 });
    expect((await dispatch(task, 1)).outcome).toBe("failed"); // the queue's last dispatch ends the round
    await expectHttpsError(call("retryJob", member, { jobId: id }), "not-found");
    const view = await call<{ status: string }>("retryJob", admin, { jobId: id });
    expect(view.status).toBe("queued");
    const next = jobTasks().find((t) => t.id === `${id}-r1`)!;
    expect((await dispatch(next)).outcome).toBe("succeeded");
    await expectHttpsError(call("retryJob", admin, { jobId: id }), "failed-precondition");
  });

  it("cancels a queued job: its task then runs nothing", async () => {
    const { id, task } = await enqueue({ steps: 1 });
    expect(await call<{ status: string }>("cancelJob", admin, { jobId: id })).toMatchObject({ status: "cancelled" });
    expect(await runJobTask(task.payload, 1, deps())).toBe("finished");
    expect((await jobDoc(tid, id).get()).data()).toMatchObject({
      status: "cancelled",
      attempts: 0,
      cancelledBy: admin.uid,
    });
    await expectHttpsError(call("cancelJob", admin, { jobId: id }), "failed-precondition");
  });

  it("cancels a running job: the handler is aborted and its outcome discarded", async () => {
    const { id, task } = await enqueue({ steps: 100, stepMs: 50 });
    const running = runJobTask(task.payload, 1, deps());
    for (let i = 0; i < 200 && !((await jobDoc(tid, id).get()).get("progress.done") >= 1); i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    await call("cancelJob", admin, { jobId: id });
    expect(await running).toBe("cancelled");
    const job = (await jobDoc(tid, id).get()).data()!;
    expect(job.status).toBe("cancelled");
    expect(job.progress.done).toBeLessThan(100);
    expect(job.result).toBeNull();
  });

  it("backs off while another dispatch holds the lease, and takes over a lease that expired", async () => {
    const { id, task } = await enqueue({ steps: 1 });
    const now = Date.now();
    await jobDoc(tid, id).update({
      status: "running",
      attempts: 1,
      leaseId: "other",
      leaseExpiresAt: Timestamp.fromMillis(now + 60_000),
    });
    await expect(runJobTask(task.payload, 2, deps())).rejects.toThrow(/another lease/);
    await jobDoc(tid, id).update({ leaseExpiresAt: Timestamp.fromMillis(now - 1) });
    expect(await runJobTask(task.payload, 3, deps())).toBe("succeeded");
    expect((await jobDoc(tid, id).get()).get("attempts")).toBe(2);
  });
});

describe("reading jobs", () => {
  it("getJob and listJobs: jobs:read sees all, a member only their own, another tenant nothing", async () => {
    const { job: mine } = await call<{ job: { id: string } }>("enqueueJob", owner, {
      type: "tenant.export",
      input: {},
    });
    const list = await call<{ items: { id: string; type: string }[] }>("listJobs", admin, {
      type: "tenant.export",
      limit: 100,
    });
    expect(list.items.map((i) => i.id)).toContain(mine.id);
    const own = await call<{ items: { createdBy: string }[] }>("listJobs", member, { limit: 100 });
    expect(own.items.every((i) => i.createdBy === member.uid)).toBe(true);
    await expectHttpsError(call("getJob", member, { jobId: mine.id }), "not-found");
    expect(await call("getJob", owner, { jobId: mine.id })).toMatchObject({ id: mine.id, status: "queued" });
    await expectHttpsError(call("getJob", platformAdmin, { jobId: mine.id, tenantId: otherTid }), "not-found");
    await expectHttpsError(call("getJob", admin, { jobId: mine.id, tenantId: tid }), "permission-denied");
    await call("cancelJob", owner, { jobId: mine.id });
  });
});

describe("secrets.reencrypt", () => {
  it("leaves nothing under the old key after a rotation; with the old key removed everything still decrypts", async () => {
    const original = process.env.DATA_ENCRYPTION_KEY as string;
    const oldRing = parseKeyring(original); // key id "1"
    // Fixed, so a re-run against the same emulator can still read what an earlier run re-encrypted.
    const newKey = Buffer.alloc(32, 9).toString("base64");
    const endpointId = `ep-${randomBytes(4).toString("hex")}`;
    const endpointPath = `tenants/${tid}/webhookEndpoints/${endpointId}`;
    const whsec = `whsec_${randomBytes(32).toString("base64")}`;
    await db()
      .doc(endpointPath)
      .set({
        url: "https://example.com/hook",
        eventTypes: ["*"],
        status: "disabled",
        secrets: [
          {
            ciphertext: encrypt(whsec, { aad: `${endpointPath}#secret`, keyring: oldRing }),
            createdAt: Timestamp.now(),
            expiresAt: null,
          },
        ],
      });
    const seed = "JBSWY3DPEHPK3PXP";
    await db()
      .doc(`users/${member.uid}/private/mfa`)
      .set({
        status: "enabled",
        secret: encrypt(seed, { aad: mfaSecretAad(member.uid), keyring: oldRing }),
        pendingSecret: null,
      });

    process.env.DATA_ENCRYPTION_KEY = `new:${newKey},1:${original}`;
    try {
      const { job } = await call<{ job: { id: string } }>("enqueueJob", platformAdmin, {
        type: "secrets.reencrypt",
        input: {},
        tenantId: tid,
      });
      const task = jobTasks().find((t) => t.payload.jobId === job.id)!;
      expect((await dispatch(task)).outcome).toBe("succeeded");
      const result = (await jobDoc(tid, job.id).get()).get("result");
      expect(result.keyId).toBe("new");
      expect(result.endpointSecrets).toBeGreaterThanOrEqual(1);
      expect(result.mfaSecrets).toBeGreaterThanOrEqual(1);

      // Nothing anywhere is left under key "1".
      const endpoints = await db().collectionGroup("webhookEndpoints").get();
      const keyIds = endpoints.docs.flatMap((d) =>
        ((d.get("secrets") as { ciphertext: string }[] | undefined) ?? []).map((s) => s.ciphertext.split(".")[1]),
      );
      const mfa = (await db().collectionGroup("private").get()).docs.filter((d) => d.id === "mfa");
      for (const d of mfa)
        for (const f of ["secret", "pendingSecret"])
          if (typeof d.get(f) === "string") keyIds.push(d.get(f).split(".")[1]);
      expect(new Set(keyIds)).toEqual(new Set(["new"]));

      // The old key can go: the new key alone decrypts what this test wrote.
      const onlyNew = parseKeyring(`new:${newKey}`);
      const stored = (await db().doc(endpointPath).get()).get("secrets")[0].ciphertext;
      expect(decryptString(stored, { aad: `${endpointPath}#secret`, keyring: onlyNew })).toBe(whsec);
      const storedSeed = (await db().doc(`users/${member.uid}/private/mfa`).get()).get("secret");
      expect(decryptString(storedSeed, { aad: mfaSecretAad(member.uid), keyring: onlyNew })).toBe(seed);
    } finally {
      // Back to "1" as primary (the rest of the run encrypts with it); "new" still decrypts.
      process.env.DATA_ENCRYPTION_KEY = `1:${original},new:${newKey}`;
    }
  });
});

describe("tenant.purge", () => {
  async function suspendedTenant(daysAgo: number): Promise<string> {
    const victim = await seedTenant({ v: { user: await createTestUser(), roles: ["owner"] } }, { status: "suspended" });
    await db()
      .doc(`tenants/${victim}`)
      .update({ suspendedAt: Timestamp.fromMillis(Date.now() - daysAgo * 86_400_000) });
    await db().doc(`tenants/${victim}/payments/p1`).set({ amount: 1, currency: "eur", status: "created" });
    await db().doc(`tenants/${victim}/payments/p1/refunds/r1`).set({ amount: 1 });
    await db().doc(`tenants/${victim}/jobs/j1`).set({ type: "x", status: "succeeded" });
    return victim;
  }

  async function purge(victim: string) {
    const { job } = await call<{ job: { id: string } }>("enqueueJob", platformAdmin, {
      type: "tenant.purge",
      input: { tenantId: victim },
      tenantId: tid,
    });
    const task = jobTasks().find((t) => t.payload.jobId === job.id)!;
    return { id: job.id, run: await dispatch(task) };
  }

  it("deletes every document and object of a tenant suspended past the grace period", async () => {
    const deleted: string[] = [];
    setJobObjectStore({
      ...bucketObjectStore,
      write: async () => undefined,
      deletePrefix: async (prefix) => {
        deleted.push(prefix);
        return 2;
      },
    });
    const victim = await suspendedTenant(31);
    const { id, run } = await purge(victim);
    expect(run.outcome).toBe("succeeded");
    expect((await db().doc(`tenants/${victim}`).get()).exists).toBe(false);
    expect(await db().doc(`tenants/${victim}`).listCollections()).toEqual([]);
    expect(deleted).toEqual([`tenants/${victim}/`]);
    const job = (await jobDoc(tid, id).get()).data()!;
    expect(job.result).toEqual({ tenantId: victim, documents: 5, objects: 2 });
    expect(job.progress.message).toBe("purged");
  });

  it("refuses (without retrying) a tenant still inside its grace period, and an active one", async () => {
    for (const victim of [await suspendedTenant(1), otherTid]) {
      const { id, run } = await purge(victim);
      expect(run).toEqual({ outcome: "failed", dispatches: 1 });
      expect((await jobDoc(tid, id).get()).get("error.code")).toBe("failed-precondition");
      expect((await db().doc(`tenants/${victim}`).get()).exists).toBe(true);
    }
  });
});

describe("tenant.export", () => {
  it("writes the tenant's documents as NDJSON under the tenant prefix and returns a verifiable signed URL", async () => {
    const signer = useThrowawaySigner();
    const files = new Map<string, { content: Buffer; contentType: string }>();
    setJobObjectStore({
      ...bucketObjectStore,
      write: async (path, content, contentType) => void files.set(path, { content, contentType }),
    });
    const exported = await seedTenant({ o: { user: owner, roles: ["owner"] } });
    await db()
      .doc(`tenants/${exported}/payments/p1`)
      .set({ amount: 1200, currency: "eur", createdAt: Timestamp.fromMillis(0) });
    await db().doc(`tenants/${exported}/payments/p1/refunds/r1`).set({ amount: 200 });
    await db()
      .doc(`tenants/${exported}/webhookEndpoints/e1`)
      .set({ url: "https://x.test", secrets: [{ ciphertext: "enc1.x" }] });
    await db().doc(`tenants/${exported}/idempotency/k1`).set({ response: "stored" });

    const { job } = await call<{ job: { id: string } }>("enqueueJob", owner, { type: "tenant.export", input: {} });
    const task = jobTasks().find((t) => t.payload.jobId === job.id)!;
    expect((await dispatch(task)).outcome).toBe("succeeded");
    const result = (await jobDoc(exported, job.id).get()).get("result");
    const path = `tenants/${exported}/exports/${job.id}.ndjson`;
    expect(result).toMatchObject({ path, documents: 6 });

    const file = files.get(path)!;
    expect(file.contentType).toBe("application/x-ndjson");
    const lines = file.content
      .toString("utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { path: string; data: Record<string, unknown> });
    const byPath = new Map(lines.map((l) => [l.path, l.data]));
    expect([...byPath.keys()].sort()).toEqual(
      [
        "",
        `jobs/${job.id}`,
        `members/${owner.uid}`,
        "payments/p1",
        "payments/p1/refunds/r1",
        "webhookEndpoints/e1",
      ].sort(),
    );
    expect(byPath.get("payments/p1")).toEqual({ amount: 1200, currency: "eur", createdAt: "1970-01-01T00:00:00.000Z" });
    expect(byPath.get("webhookEndpoints/e1")).toEqual({ url: "https://x.test" });
    expect(result.bytes).toBe(file.content.length);

    const query = verifyV4(result.url, "GET", {}, createPublicKey(signer.privateKeyPem));
    expect(new URL(result.url).pathname).toBe(`/demo-saas-core.appspot.com/${path}`);
    expect(query.get("X-Goog-Expires")).toBe("900");
    expect(jobObjectStore()).not.toBe(bucketObjectStore);
  });
});
