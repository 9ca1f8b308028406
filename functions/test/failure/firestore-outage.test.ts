/**
 * Firestore goes away under load and comes back. The server SDKs of this process talk to a
 * private Firestore endpoint that is SIGKILLed while createPayment (idempotent, with fresh keys)
 * and paymentWebhook calls are in flight and arriving, then restarted 3 s later. The Firestore
 * client would retry for ten minutes; the request deadline (2 s here) answers first. Claims:
 * - calls caught by the outage answer retryable codes (callable `unavailable`/`aborted`, HTTPS
 *   503), each with Retry-After, never `internal` or a 500;
 * - after recovery, clients retrying the failed calls get each idempotency key's one payment
 *   (no key has two), and every event the provider saw acknowledged is applied exactly once.
 */
import { HttpsError } from "firebase-functions/v2/https";
import { randomUUID } from "node:crypto";
import { createPayment, paymentWebhook } from "../../src/payments";
import { log } from "../../src/platform/logger";
import { tenantDbFor } from "../../src/webhooks/store";
import { callAs, callHttps, createTestUser, seedTenant, type TestUser } from "../support/firebase";
import { eventually, FirestoreEndpoint, freePort, signedEvent, sleep } from "./support";

jest.setTimeout(4 * 60_000);

const RETRYABLE = ["unavailable", "aborted", "deadline-exceeded"];
let endpoint: FirestoreEndpoint;
let owner: TestUser;
let tenantId: string;

beforeAll(async () => {
  endpoint = new FirestoreEndpoint(await freePort());
  await endpoint.start();
  // Before anything in this process connects to Firestore.
  process.env.FIRESTORE_EMULATOR_HOST = endpoint.host;
  // A short lease, so a claim whose answer was lost in the outage is taken over within the test.
  process.env.IDEMPOTENCY_LOCK_SECONDS = "3";
  owner = await createTestUser();
  tenantId = await seedTenant({ owner: { user: owner, roles: ["owner"] } });
}, 60_000);

afterAll(() => endpoint.kill());

interface Outcome {
  kind: "payment" | "webhook";
  startedAt: number;
  endedAt: number;
  ok: boolean;
  /** Callable code or HTTP status of a failure. */
  failure?: string;
  retryAfter?: number;
}

async function pay(key: string): Promise<{ outcome: Outcome; id?: string }> {
  const startedAt = Date.now();
  try {
    const result = await callAs<{ payment: { id: string } }>(createPayment, owner, {
      amount: 1200,
      currency: "eur",
      idempotencyKey: key,
    });
    return { outcome: { kind: "payment", startedAt, endedAt: Date.now(), ok: true }, id: result.payment.id };
  } catch (error) {
    const code = error instanceof HttpsError ? error.code : `not an HttpsError: ${String(error)}`;
    const retryAfter = ((error as HttpsError).details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
    return { outcome: { kind: "payment", startedAt, endedAt: Date.now(), ok: false, failure: code, retryAfter } };
  }
}

async function deliver(event: ReturnType<typeof signedEvent>): Promise<Outcome> {
  const startedAt = Date.now();
  const result = await callHttps(paymentWebhook, {
    rawBody: event.body,
    headers: { "stripe-signature": event.signature, "content-type": "application/json" },
  });
  const ok = result.status >= 200 && result.status < 300;
  const retryAfter = result.headers?.["Retry-After"] ? Number(result.headers["Retry-After"]) : undefined;
  return {
    kind: "webhook",
    startedAt,
    endedAt: Date.now(),
    ok,
    failure: ok ? undefined : String(result.status),
    retryAfter,
  };
}

it("answers retryable codes during the outage and loses or doubles nothing after it", async () => {
  // What the wrappers log for an answer they mapped to `internal`, so a failure names its cause.
  const unhandled: unknown[] = [];
  const spy = jest.spyOn(log, "error").mockImplementation((message, fields) => {
    if (message === "unhandled error") unhandled.push(fields);
  });
  const targets: string[] = [];
  for (let i = 0; i < 6; i++) {
    targets.push(
      (await callAs<{ payment: { id: string } }>(createPayment, owner, { amount: 1200, currency: "eur" })).payment.id,
    );
  }
  const keys = Array.from({ length: 10 }, () => randomUUID());
  const events = targets.map((paymentId) => signedEvent(tenantId, paymentId));

  // From here calls answer within 2 s whatever Firestore does, so those the outage catches answer.
  process.env.REQUEST_DEADLINE_SECONDS = "2";
  // Calls arrive every 150 ms for 3 s; Firestore dies 400 ms in and is back 3 s later.
  const first: Promise<{ outcome: Outcome; id?: string }>[] = [];
  const arrivals = (async () => {
    const all: (() => Promise<{ outcome: Outcome; id?: string }>)[] = [
      ...keys.map((key) => () => pay(key)),
      ...events.map((event) => async () => ({ outcome: await deliver(event) })),
    ];
    for (const call of all) {
      first.push(call());
      await sleep(150);
    }
  })();
  await sleep(400);
  const killedAt = Date.now();
  await endpoint.kill();
  await sleep(3000);
  await endpoint.start();
  const restartedAt = Date.now();
  await arrivals;
  const results = await Promise.all(first);
  const outcomes = results.map((r) => r.outcome);

  // The outage was real: nothing succeeded while the endpoint was down.
  expect(outcomes.filter((o) => o.ok && o.endedAt > killedAt + 100 && o.endedAt < restartedAt)).toEqual([]);
  // Calls were in flight or arriving during it.
  expect(outcomes.filter((o) => o.endedAt > killedAt && o.startedAt < restartedAt).length).toBeGreaterThan(5);
  // Calls caught by it answered, and every failure is retryable: never internal, never a 500,
  // always with a wait.
  spy.mockRestore();
  expect(unhandled).toEqual([]);
  expect(outcomes.filter((o) => !o.ok).length).toBeGreaterThan(0);
  for (const o of outcomes.filter((x) => !x.ok)) {
    if (o.kind === "payment") expect(RETRYABLE).toContain(o.failure);
    else expect(o.failure).toBe("503");
    expect(o.retryAfter).toBeGreaterThan(0);
  }
  process.stdout.write(
    `firestore outage: ${outcomes.length} calls, ${outcomes.filter((o) => !o.ok).length} retryable failures ` +
      `(${[...new Set(outcomes.filter((o) => !o.ok).map((o) => o.failure))].join(", ") || "none"})\n`,
  );

  // Clients retry what failed, as the codes tell them to.
  const ids = new Map<string, string>();
  for (const [i, key] of keys.entries()) {
    let result = results[i];
    for (let attempt = 0; !result.outcome.ok && attempt < 30; attempt++) {
      await sleep(1000);
      result = await pay(key);
      if (!result.outcome.ok) expect(RETRYABLE).toContain(result.outcome.failure);
    }
    expect(result.outcome.ok).toBe(true);
    ids.set(key, result.id!);
    // A replay answers the same payment.
    let replay = await pay(key);
    for (let attempt = 0; !replay.outcome.ok && attempt < 30; attempt++) {
      expect(RETRYABLE).toContain(replay.outcome.failure);
      await sleep(1000);
      replay = await pay(key);
    }
    expect(replay.id).toBe(result.id);
  }
  for (const [i, event] of events.entries()) {
    let outcome = results[keys.length + i].outcome;
    for (let attempt = 0; !outcome.ok && attempt < 30; attempt++) {
      await sleep(1000);
      outcome = await deliver(event);
    }
    expect(outcome.ok).toBe(true);
  }

  // One payment per key: the tenant holds the 6 targets and exactly one payment per key.
  const payments = await tenantDbFor(tenantId).collection("payments").get();
  expect(payments.size).toBe(targets.length + keys.length);
  expect(new Set(ids.values()).size).toBe(keys.length);

  // Every acknowledged event is applied exactly once.
  for (const [i, paymentId] of targets.entries()) {
    const applied = await eventually(`event ${events[i].id} applied`, async () => {
      const data = (await tenantDbFor(tenantId).doc(`payments/${paymentId}`).get()).data()!;
      const ids = (data.appliedEventIds as string[]) ?? [];
      return ids.includes(events[i].id) ? { ids, status: data.status } : undefined;
    });
    expect(applied.ids.filter((id) => id === events[i].id)).toHaveLength(1);
    expect(applied.status).toBe("processing");
  }
});
