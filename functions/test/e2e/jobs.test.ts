/**
 * Jobs and events through the real stack: callables over HTTP to the functions emulator, `runJob`
 * dispatched by the Cloud Tasks emulator with its real retry config (JOB_MIN_BACKOFF_SECONDS=1,
 * JOB_MAX_BACKOFF_SECONDS=2, JOB_TASK_CONCURRENCY=4 in functions/.env.local), and events
 * delivered by `deliverWebhook` to a receiver in this process that verifies them with the
 * `standardwebhooks` package.
 *
 * Progress is watched the way a web app does: the official `firebase` web SDK, signed in as the
 * user who started the job, listens to the job record with `onSnapshot` under firestore.rules.
 */
import { randomUUID } from "node:crypto";
import { deleteApp, initializeApp } from "firebase/app";
import { connectAuthEmulator, getAuth, signInWithEmailAndPassword } from "firebase/auth";
import { connectFirestoreEmulator, doc, initializeFirestore, onSnapshot } from "firebase/firestore";
import { Timestamp } from "firebase-admin/firestore";
import { Webhook } from "standardwebhooks";
import { rootFirestore } from "../../src/platform/admin";
import { applyParamDefaults } from "../../src/platform/config";
import { createWebhookEndpoint } from "../../src/webhooks";
import { callAs, createTestUser, seedTenant, type TestUser } from "../support/firebase";
import { callCallable, functionUrl } from "../support/http";
import { paymentIntentEvent, stripeSignature } from "../support/provider";
import { Receiver } from "../support/receiver";

jest.setTimeout(5 * 60_000);

interface JobView {
  id: string;
  status: string;
  attempts: number;
  progress: { done: number; total: number | null };
  result: unknown;
}

const receiver = new Receiver();
let admin: TestUser;
let tenantId: string;
let secret: string;
const db = () => rootFirestore();

async function call<T>(name: string, data: unknown, user = admin): Promise<T> {
  const res = await callCallable<T>(name, data, user.idToken);
  if (res.status !== 200) throw new Error(`${name}: ${res.status} ${JSON.stringify(res.error)}`);
  return res.result as T;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const jobIn = (id: string, statuses: string[]) => async () => {
  const job = await call<JobView>("getJob", { jobId: id });
  return statuses.includes(job.status) ? job : undefined;
};

/** The first received event of `type` whose data matches, after `standardwebhooks` verified it. */
function verified(type: string, match: (data: Record<string, unknown>) => boolean) {
  return async () => {
    for (const r of receiver.requests) {
      const body = JSON.parse(r.body) as { type: string; data: Record<string, unknown> };
      if (body.type !== type || !match(body.data)) continue;
      const event = new Webhook(secret).verify(r.body, {
        "webhook-id": r.headers["webhook-id"] as string,
        "webhook-timestamp": r.headers["webhook-timestamp"] as string,
        "webhook-signature": r.headers["webhook-signature"] as string,
      }) as { type: string; data: Record<string, unknown> };
      return { event, id: r.headers["webhook-id"] as string };
    }
    return undefined;
  };
}

/**
 * Calls enqueueJob, retrying when the functions emulator itself fails the request (under a burst
 * it can time out starting a worker): what a client does with an idempotent call.
 */
async function enqueueIdempotently<T>(data: unknown): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(functionUrl("enqueueJob"), {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${admin.idToken}` },
        body: JSON.stringify({ data }),
        signal: AbortSignal.timeout(60_000),
      });
      const json = (await res.json().catch(() => ({}))) as { result?: T; error?: unknown };
      if (res.status === 200) return json.result as T;
      if (res.status < 500 || attempt >= 10) throw new Error(`enqueueJob: ${res.status} ${JSON.stringify(json.error)}`);
    } catch (error) {
      if (attempt >= 10 || (error as Error).message.startsWith("enqueueJob:")) throw error;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

beforeAll(async () => {
  process.env.WEBHOOK_ALLOW_HTTP = "true";
  applyParamDefaults();
  await receiver.start();
  admin = await createTestUser();
  tenantId = await seedTenant({ admin: { user: admin, roles: ["admin"] } });
  const created = await callAs(createWebhookEndpoint, admin, {
    url: receiver.url("/hooks"),
    eventTypes: ["payment.succeeded", "job.succeeded", "job.failed"],
  });
  secret = created.secret;
});

afterAll(async () => {
  await receiver.stop();
});

describe("jobs on the Cloud Tasks emulator", () => {
  it("runs an enqueued job to success, its progress seen by a web SDK onSnapshot listener, and delivers job.succeeded", async () => {
    const app = initializeApp({ projectId: process.env.GCLOUD_PROJECT, apiKey: "demo-key" }, `jobs-${randomUUID()}`);
    const auth = getAuth(app);
    connectAuthEmulator(auth, `http://${process.env.FIREBASE_AUTH_EMULATOR_HOST}`, { disableWarnings: true });
    const firestore = initializeFirestore(app, {});
    const [host, port] = (process.env.FIRESTORE_CLIENT_HOST as string).split(":");
    connectFirestoreEmulator(firestore, host, Number(port));
    await signInWithEmailAndPassword(auth, admin.email, admin.password);
    try {
      const { job } = await call<{ job: JobView }>("enqueueJob", {
        type: "example.steps",
        input: { steps: 5, stepMs: 400 },
      });
      const seen: { status: string; done: number }[] = [];
      const final = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const unsubscribe = onSnapshot(
          doc(firestore, `tenants/${tenantId}/jobs/${job.id}`),
          (snap) => {
            const data = snap.data() ?? {};
            seen.push({ status: data.status, done: data.progress?.done });
            if (data.status === "succeeded" || data.status === "failed") {
              unsubscribe();
              resolve(data);
            }
          },
          reject,
        );
      });
      expect(final).toMatchObject({
        status: "succeeded",
        attempts: 1,
        progress: { done: 5, total: 5 },
        result: { steps: 5 },
      });
      // The listener saw the job running part-way, before it finished.
      expect(seen.some((s) => s.status === "running" && s.done > 0 && s.done < 5)).toBe(true);
      const delivered = await until(
        "job.succeeded at the receiver",
        verified("job.succeeded", (d) => d.jobId === job.id),
      );
      expect(delivered.event.data).toMatchObject({ type: "example.steps", attempts: 1, error: null });
    } finally {
      await deleteApp(app);
    }
  });

  it("retries a failing job with backoff, dead-letters it, and replays it to success", async () => {
    const { job } = await call<{ job: JobView }>("enqueueJob", {
      type: "example.steps",
      input: { steps: 1, failAttempts: 3 },
    });
    await until("the job to fail", jobIn(job.id, ["failed"]));
    const record = (await db().doc(`tenants/${tenantId}/jobs/${job.id}`).get()).data()!;
    const times = (record.errors as { at: string }[]).map((e) => Date.parse(e.at));
    expect(times).toHaveLength(3);
    // Cloud Tasks waited at least the configured minimum backoff (1 s, then 2 s) between attempts.
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(900);
    expect(times[2] - times[1]).toBeGreaterThanOrEqual(1800);
    await until(
      "job.failed at the receiver",
      verified("job.failed", (d) => d.jobId === job.id),
    );

    const letters = await call<{ items: { id: string; source: string; reference: string }[] }>("listDeadLetters", {
      status: "open",
      limit: 100,
    });
    const letter = letters.items.find((l) => l.source === "job" && l.reference === job.id)!;
    expect(letter).toBeDefined();
    const replay = await call<{ results: { outcome: string }[] }>("replayDeadLetters", { ids: [letter.id] });
    expect(replay.results[0].outcome).toBe("replayed");
    const replayed = await until("the replayed job to succeed", jobIn(job.id, ["succeeded"]));
    expect(replayed.attempts).toBe(4);
    await until("the letter to resolve", async () =>
      (await db().doc(`tenants/${tenantId}/deadLetters/${letter.id}`).get()).get("status") === "resolved"
        ? true
        : undefined,
    );
  });

  it("cancels a job while it is queued: its task, when it comes, runs nothing", async () => {
    const { job } = await call<{ job: JobView }>("enqueueJob", {
      type: "example.steps",
      input: { steps: 1 },
      delaySeconds: 20,
    });
    expect(await call<JobView>("cancelJob", { jobId: job.id })).toMatchObject({ status: "cancelled", attempts: 0 });
    // The emulator dispatches the task at once (it ignores schedules); give it time to do so.
    await new Promise((r) => setTimeout(r, 5000));
    expect(await call<JobView>("getJob", { jobId: job.id })).toMatchObject({ status: "cancelled", attempts: 0 });
  });

  it("cancels a running job: its handler stops and its outcome is never applied", async () => {
    const { job } = await call<{ job: JobView }>("enqueueJob", {
      type: "example.steps",
      input: { steps: 40, stepMs: 250 },
    });
    await until("the job to run", async () => {
      const view = await call<JobView>("getJob", { jobId: job.id });
      return view.status === "running" && view.progress.done >= 1 ? view : undefined;
    });
    await call("cancelJob", { jobId: job.id });
    // The runner notices within its poll interval (2 s); after that progress no longer moves.
    await new Promise((r) => setTimeout(r, 3000));
    const stopped = await call<JobView>("getJob", { jobId: job.id });
    await new Promise((r) => setTimeout(r, 3000));
    const later = await call<JobView>("getJob", { jobId: job.id });
    expect(later).toMatchObject({ status: "cancelled", result: null, progress: stopped.progress });
    expect(later.progress.done).toBeLessThan(40);
  });

  it("makes one job of 20 concurrent enqueueJob calls with one dedupe key, and runs it once", async () => {
    const dedupeKey = `nightly-${randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        enqueueIdempotently<{ job: JobView; created: boolean }>({
          type: "example.steps",
          input: { steps: 2 },
          dedupeKey,
        }),
      ),
    );
    const ids = new Set(results.map((r) => r.job.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const [id] = [...ids];
    const done = await until("the deduplicated job to succeed", jobIn(id, ["succeeded"]));
    expect(done.attempts).toBe(1);
    const jobs = await db().collection(`tenants/${tenantId}/jobs`).where("dedupeKey", "==", dedupeKey).get();
    expect(jobs.size).toBe(1);
  });
});

describe("payment events to webhook endpoints", () => {
  it("turns a provider's payment_intent.succeeded into a payment.succeeded delivery that standardwebhooks verifies", async () => {
    const paymentId = `pay_${randomUUID().slice(0, 8)}`;
    const now = Timestamp.now();
    await db().doc(`tenants/${tenantId}/payments/${paymentId}`).set({
      status: "created",
      amount: 4200,
      currency: "eur",
      providerPaymentId: null,
      appliedEventIds: [],
      createdAt: now,
      updatedAt: now,
    });
    const { id: eventId, body } = paymentIntentEvent(tenantId, paymentId, {
      type: "payment_intent.succeeded",
      amount: 4200,
    });
    const res = await fetch(functionUrl("paymentWebhook"), {
      method: "POST",
      headers: { "content-type": "application/json", "stripe-signature": stripeSignature(body) },
      body,
    });
    expect(res.status).toBe(200);

    const delivered = await until(
      "payment.succeeded at the receiver",
      verified("payment.succeeded", (d) => d.paymentId === paymentId),
      120_000,
    );
    expect(delivered.event.data).toEqual({
      paymentId,
      status: "succeeded",
      previousStatus: "created",
      amount: 4200,
      currency: "eur",
      providerPaymentId: `pi_${paymentId}`,
      providerEventId: eventId,
    });
    // Retries of the inbound task (the stack injects faults) never publish a second event.
    await new Promise((r) => setTimeout(r, 2000));
    const ids = receiver.requests
      .filter((r) => r.body.includes(paymentId))
      .map((r) => r.headers["webhook-id"] as string);
    expect(new Set(ids)).toEqual(new Set([delivered.id]));
  });
});
