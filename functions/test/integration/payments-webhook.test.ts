/**
 * Inbound payment webhooks against the real Firestore emulator: the acknowledge path (signature,
 * de-duplication, enqueue, its Firestore cost), the task handler (idempotent, ordered, dead
 * letters with error history, fail-soft notices) and dead-letter replay.
 *
 * Cloud Tasks is replaced here by a recorder that behaves like it (task-id de-duplication,
 * JSON payloads); test/e2e/payments-webhook.test.ts runs the same flow through the real
 * Cloud Tasks emulator.
 */
import { acknowledge, inboundDeadLetterId, processPaymentTask, type ProcessDeps } from "../../src/payments/inbound";
import { createPayment, getPayment, paymentWebhook } from "../../src/payments";
import { rootFirestore } from "../../src/platform/admin";
import { applyParamDefaults } from "../../src/platform/config";
import { replayDeadLetterIds, type DeadLetterNotice } from "../../src/webhooks/deadletters";
import { listDeadLetters } from "../../src/webhooks";
import { tenantDbFor } from "../../src/webhooks/store";
import type { Enqueue } from "../../src/webhooks/tasks";
import {
  callAs,
  callHttps,
  countOps,
  createTestUser,
  expectHttpsError,
  seedTenant,
  type TestUser,
} from "../support/firebase";
import { stripeSignature } from "../support/provider";

const SECRET = process.env.PAYMENT_WEBHOOK_SECRET as string;

interface Task {
  queue: string;
  payload: Record<string, unknown>;
  id: string;
}

/** A stand-in for Cloud Tasks: de-duplicates by task id, passes payloads through JSON. */
function taskRecorder(options: { failNext?: number } = {}) {
  const tasks: Task[] = [];
  const ids = new Set<string>();
  let failures = options.failNext ?? 0;
  const enqueue: Enqueue = async (queue, payload, opts) => {
    if (failures > 0) {
      failures -= 1;
      throw new Error("Cloud Tasks unavailable");
    }
    if (ids.has(opts.id)) return "exists";
    ids.add(opts.id);
    tasks.push({ queue, payload: JSON.parse(JSON.stringify(payload)), id: opts.id });
    return "enqueued";
  };
  return { tasks, enqueue, calls: () => ids.size };
}

let seq = 0;
function providerEvent(
  target: { tenantId: string; paymentId: string },
  type = "payment_intent.succeeded",
  overrides: { id?: string; amount?: number; currency?: string; providerId?: string; amountRefunded?: number } = {},
): string {
  seq += 1;
  const amount = overrides.amount ?? 2500;
  const providerId = overrides.providerId ?? `pi_${target.paymentId}`;
  // A refund event is about the charge, which names its payment intent and the refunded total.
  const object =
    type === "charge.refunded"
      ? {
          id: `ch_${seq}`,
          object: "charge",
          payment_intent: providerId,
          amount_refunded: overrides.amountRefunded ?? amount,
        }
      : { id: providerId, object: "payment_intent" };
  return JSON.stringify({
    id: overrides.id ?? `evt_${Date.now()}_${seq}`,
    object: "event",
    type,
    created: Math.floor(Date.now() / 1000),
    data: {
      object: {
        ...object,
        amount,
        currency: overrides.currency ?? "eur",
        metadata: { tenantId: target.tenantId, paymentId: target.paymentId },
      },
    },
  });
}

const ackDeps = (enqueue: Enqueue) => ({ enqueue, secrets: [SECRET], toleranceSeconds: 300, retentionDays: 4 });
const processDeps = (over: Partial<ProcessDeps> = {}): ProcessDeps => ({
  maxAttempts: 8,
  retentionDays: 4,
  publish: async () => undefined,
  ...over,
});

async function deliver(body: string, enqueue: Enqueue, header = stripeSignature(body)) {
  return acknowledge(Buffer.from(body), header, ackDeps(enqueue));
}

let admin: TestUser;
let member: TestUser;
let tenantId: string;

async function newPayment(amount = 2500, currency = "eur"): Promise<{ tenantId: string; paymentId: string }> {
  const result = await callAs<{ payment: { id: string }; providerMetadata: { tenantId: string; paymentId: string } }>(
    createPayment,
    member,
    { amount, currency },
  );
  return result.providerMetadata;
}

async function paymentDoc(target: { tenantId: string; paymentId: string }) {
  return (await tenantDbFor(target.tenantId).doc(`payments/${target.paymentId}`).get()).data()!;
}

beforeAll(async () => {
  applyParamDefaults();
  admin = await createTestUser();
  member = await createTestUser();
  tenantId = await seedTenant({
    admin: { user: admin, roles: ["admin"] },
    member: { user: member, roles: ["member"] },
  });
});

describe("createPayment", () => {
  it("creates a payment in the caller's tenant and replays the same result for the same idempotency key", async () => {
    const first = await callAs<{ payment: { id: string; status: string } }>(createPayment, member, {
      amount: 100,
      currency: "usd",
      idempotencyKey: `k-${seq++}-${Date.now()}`,
    });
    expect(first.payment.status).toBe("created");
    const read = await callAs<{ id: string; amount: number }>(getPayment, member, { paymentId: first.payment.id });
    expect(read).toMatchObject({ id: first.payment.id, amount: 100 });
  });

  it("refuses bad input with field errors and writes nothing", async () => {
    const { ops } = await countOps(() =>
      expectHttpsError(callAs(createPayment, member, { amount: -5, currency: "EURO" }), "invalid-argument"),
    );
    expect(ops.writes).toBe(0);
  });
});

describe("acknowledging a provider webhook", () => {
  it("answers 2xx after one Firestore write and one enqueue, with no read", async () => {
    const target = await newPayment();
    const body = providerEvent(target);
    const recorder = taskRecorder();
    const { result, ops } = await countOps(() => deliver(body, recorder.enqueue));
    expect(result.status).toBe(200);
    expect(ops.writes).toBe(1);
    expect(ops.reads).toBe(0);
    expect(ops.log.map((e) => e.path)).toEqual([`inboundEvents/stripe:${JSON.parse(body).id}`]);
    expect(recorder.tasks).toHaveLength(1);
    expect(recorder.tasks[0].queue).toBe("processPaymentEvent");
  });

  it("refuses a forged or stale signature with 400 problem+json through the real endpoint, writing nothing", async () => {
    const target = await newPayment();
    const body = providerEvent(target);
    const forged = stripeSignature(body, Math.floor(Date.now() / 1000), "whsec_attacker");
    const stale = stripeSignature(body, Math.floor(Date.now() / 1000) - 301);
    for (const [header, reason] of [
      [forged, "bad-signature"],
      [stale, "stale-timestamp"],
      [undefined, "bad-signature"],
    ] as const) {
      const { result, ops } = await countOps(() =>
        callHttps(paymentWebhook, {
          rawBody: Buffer.from(body),
          headers: header ? { "stripe-signature": header } : {},
        }),
      );
      expect(result.status).toBe(400);
      expect(result.contentType).toBe("application/problem+json");
      expect(result.body).toMatchObject({ code: "invalid-argument", reason });
      expect(ops.writes).toBe(0);
    }
  });

  it("acknowledges unhandled event types without writing", async () => {
    const target = await newPayment();
    const body = providerEvent(target, "customer.created");
    const recorder = taskRecorder();
    const { result, ops } = await countOps(() => deliver(body, recorder.enqueue));
    expect(result).toMatchObject({ status: 200, body: { ignored: "unhandled-type" } });
    expect(ops.writes).toBe(0);
    expect(recorder.tasks).toHaveLength(0);
  });

  it("acknowledges a signed event whose routing metadata is unusable, recording it as ignored", async () => {
    for (const target of [
      { tenantId: "../other", paymentId: "p1" },
      { tenantId, paymentId: "p/../q" },
    ]) {
      const body = providerEvent(target, "payment_intent.succeeded", { providerId: "pi_route" });
      const { result, ops } = await countOps(() =>
        callHttps(paymentWebhook, {
          rawBody: Buffer.from(body),
          headers: { "stripe-signature": stripeSignature(body) },
        }),
      );
      expect(result).toMatchObject({ status: 200, body: { received: true, ignored: "unroutable" } });
      const eventId = JSON.parse(body).id as string;
      expect(ops.log.filter((e) => e.kind === "write").map((e) => e.path)).toEqual([`inboundEvents/stripe:${eventId}`]);
      const record = await rootFirestore().doc(`inboundEvents/stripe:${eventId}`).get();
      expect(record.data()).toMatchObject({ state: "ignored", reason: "unroutable", eventId });
      // The provider's retry is acknowledged the same way, and nothing is queued either time.
      const retry = await callHttps(paymentWebhook, {
        rawBody: Buffer.from(body),
        headers: { "stripe-signature": stripeSignature(body) },
      });
      expect(retry.status).toBe(200);
    }
  });

  it("answers 503 when the event cannot be queued, and a provider retry still gets it queued", async () => {
    const target = await newPayment();
    const body = providerEvent(target);
    const recorder = taskRecorder({ failNext: 1 });
    await expect(deliver(body, recorder.enqueue)).rejects.toMatchObject({ code: "unavailable" });
    expect(recorder.tasks).toHaveLength(0);
    const retry = await deliver(body, recorder.enqueue);
    expect(retry.status).toBe(200);
    expect(recorder.tasks).toHaveLength(1);
  });

  it("applies an event delivered 5 times exactly once", async () => {
    const target = await newPayment();
    const body = providerEvent(target);
    const recorder = taskRecorder();
    const answers = await Promise.all(Array.from({ length: 5 }, () => deliver(body, recorder.enqueue)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(recorder.tasks).toHaveLength(1);
    // Even if Cloud Tasks ran the task five times, the effect is one.
    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(await processPaymentTask(recorder.tasks[0].payload, 1, processDeps()));
    expect(outcomes).toEqual(["applied", "duplicate", "duplicate", "duplicate", "duplicate"]);
    const payment = await paymentDoc(target);
    expect(payment.status).toBe("succeeded");
    expect(payment.appliedEventIds).toEqual([JSON.parse(body).id]);
    // Once processed, a further duplicate is not even enqueued again.
    await deliver(body, recorder.enqueue);
    expect(recorder.calls()).toBe(1);
  });
});

describe("processing payment events", () => {
  async function acceptAndRun(target: { tenantId: string; paymentId: string }, type: string, deps = processDeps()) {
    const recorder = taskRecorder();
    await deliver(providerEvent(target, type), recorder.enqueue);
    return processPaymentTask(recorder.tasks[0].payload, 1, deps);
  }

  it("never moves a payment backwards when events arrive out of order", async () => {
    const target = await newPayment();
    expect(await acceptAndRun(target, "payment_intent.succeeded")).toBe("applied");
    expect(await acceptAndRun(target, "payment_intent.processing")).toBe("stale");
    expect(await acceptAndRun(target, "payment_intent.payment_failed")).toBe("stale");
    expect((await paymentDoc(target)).status).toBe("succeeded");
    expect(await acceptAndRun(target, "charge.refunded")).toBe("applied");
    expect(await acceptAndRun(target, "payment_intent.succeeded")).toBe("stale");
    const payment = await paymentDoc(target);
    expect(payment.status).toBe("refunded");
    expect(payment.appliedEventIds).toHaveLength(5);
  });

  it("models partial refunds: partially_refunded with the total, refunded once the total reaches the amount", async () => {
    const target = await newPayment(2500);
    const refund = async (total: number) => {
      const recorder = taskRecorder();
      await deliver(providerEvent(target, "charge.refunded", { amountRefunded: total }), recorder.enqueue);
      return processPaymentTask(recorder.tasks[0].payload, 1, processDeps());
    };
    expect(await acceptAndRun(target, "payment_intent.succeeded")).toBe("applied");
    expect(await refund(1000)).toBe("applied");
    expect(await paymentDoc(target)).toMatchObject({ status: "partially_refunded", amountRefunded: 1000 });
    expect(await callAs(getPayment, member, { paymentId: target.paymentId })).toMatchObject({
      status: "partially_refunded",
      amountRefunded: 1000,
    });
    // An older, smaller total arriving late changes nothing.
    expect(await refund(400)).toBe("stale");
    expect(await refund(2500)).toBe("applied");
    expect(await paymentDoc(target)).toMatchObject({ status: "refunded", amountRefunded: 2500 });
  });

  it("dead-letters at once an event for a payment that is not in the named tenant, writing nothing there", async () => {
    const target = { tenantId, paymentId: `missing${seq++}` };
    const notices: DeadLetterNotice[] = [];
    const outcome = await acceptAndRun(
      target,
      "payment_intent.succeeded",
      processDeps({ publish: async (_t, m) => void notices.push(m) }),
    );
    expect(outcome).toBe("dead-lettered");
    const tenantLetters = await tenantDbFor(tenantId).collection("deadLetters").where("reference", ">=", "").get();
    expect(tenantLetters.docs.some((d) => (d.get("reference") as string).includes(target.paymentId))).toBe(false);
    const platform = await rootFirestore().collection("deadLetters").doc(notices[0].deadLetterId).get();
    expect(platform.get("status")).toBe("open");
    expect(notices[0]).toMatchObject({ tenantId: null, source: "payments.inbound" });
  });

  it("dead-letters into the tenant an event whose amount disagrees with the payment", async () => {
    const target = await newPayment(700);
    const recorder = taskRecorder();
    await deliver(providerEvent(target, "payment_intent.succeeded", { amount: 70000 }), recorder.enqueue);
    expect(await processPaymentTask(recorder.tasks[0].payload, 1, processDeps())).toBe("dead-lettered");
    expect((await paymentDoc(target)).status).toBe("created");
    const letters = await tenantDbFor(target.tenantId).collection("deadLetters").get();
    expect(letters.docs.some((d) => /amount or currency/.test(d.get("lastError")))).toBe(true);
  });
});

/** An event id whose injected faults at 100 % all happen before the commit (a transient outage). */
function eventIdFailingBeforeCommit(attempts: number): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { injectedFault } = require("../../src/payments/inbound") as typeof import("../../src/payments/inbound");
  for (let i = 0; ; i++) {
    const id = `evt_outage_${Date.now()}_${i}`;
    if (Array.from({ length: attempts }, (_, a) => injectedFault(id, a + 1, 100)).every((f) => f === "before"))
      return id;
  }
}

describe("dead letters and replay", () => {
  it("retries transient failures, dead-letters on the final attempt with the error history, and survives a failed notice", async () => {
    const target = await newPayment();
    const id = eventIdFailingBeforeCommit(8);
    const recorder = taskRecorder();
    await deliver(providerEvent(target, "payment_intent.succeeded", { id }), recorder.enqueue);
    const deps = processDeps({
      faultPercent: 100,
      publish: async () => {
        throw new Error("no Pub/Sub here");
      },
    });
    for (let attempt = 1; attempt < 8; attempt++) {
      await expect(processPaymentTask(recorder.tasks[0].payload, attempt, deps)).rejects.toThrow(/injected fault/);
    }
    expect(await processPaymentTask(recorder.tasks[0].payload, 8, deps)).toBe("dead-lettered");
    const letter = (
      await tenantDbFor(target.tenantId)
        .doc(`deadLetters/${inboundDeadLetterId({ provider: "stripe", eventId: id } as never)}`)
        .get()
    ).data()!;
    expect(letter).toMatchObject({
      status: "open",
      attempts: 8,
      source: "payments.inbound",
      queue: "processPaymentEvent",
    });
    expect(letter.errors.map((e: { attempt: number }) => e.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect((await paymentDoc(target)).status).toBe("created");
  });

  it("does not dead-letter an event that was applied before its final attempt failed", async () => {
    const target = await newPayment();
    const recorder = taskRecorder();
    await deliver(providerEvent(target), recorder.enqueue);
    // Find an attempt number whose injected fault at 100 % happens after the commit.
    const eventId = (recorder.tasks[0].payload.event as { eventId: string }).eventId;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { injectedFault } = require("../../src/payments/inbound") as typeof import("../../src/payments/inbound");
    const max = Array.from({ length: 64 }, (_, i) => i + 1).find((a) => injectedFault(eventId, a, 100) === "after")!;
    const outcome = await processPaymentTask(
      recorder.tasks[0].payload,
      max,
      processDeps({ maxAttempts: max, faultPercent: 100 }),
    );
    expect(outcome).toBe("duplicate");
    expect((await paymentDoc(target)).status).toBe("succeeded");
    expect(
      (await tenantDbFor(target.tenantId).collection("deadLetters").get()).docs.map((d) => d.get("reference")),
    ).not.toContain(`stripe:${eventId}`);
  });

  it("replays a dead letter once: the event applies, the letter resolves, a second replay does nothing", async () => {
    const target = await newPayment();
    const id = eventIdFailingBeforeCommit(1);
    const recorder = taskRecorder();
    await deliver(providerEvent(target, "payment_intent.succeeded", { id }), recorder.enqueue);
    expect(
      await processPaymentTask(recorder.tasks[0].payload, 1, processDeps({ maxAttempts: 1, faultPercent: 100 })),
    ).toBe("dead-lettered");
    const scope = { kind: "tenant" as const, db: tenantDbFor(target.tenantId) };
    const letterId = inboundDeadLetterId({ provider: "stripe", eventId: id } as never);

    // Operators see it through the callable (webhooks:manage); members do not.
    const listed = await callAs<{ items: { id: string; status: string }[] }>(listDeadLetters, admin, {
      status: "open",
    });
    if (target.tenantId === tenantId) expect(listed.items.map((i) => i.id)).toContain(letterId);
    await expectHttpsError(callAs(listDeadLetters, member, {}), "permission-denied");

    const first = await replayDeadLetterIds(scope, [letterId, letterId], { enqueue: recorder.enqueue });
    expect(first).toEqual([
      { id: letterId, outcome: "replayed" },
      { id: letterId, outcome: "already-replaying" },
    ]);
    const replayTask = recorder.tasks.at(-1)!;
    expect(replayTask.payload.replay).toMatchObject({ deadLetterId: letterId, round: 1 });
    // Cloud Tasks may run it twice; the payment changes once.
    expect(await processPaymentTask(replayTask.payload, 1, processDeps())).toBe("applied");
    expect(await processPaymentTask(replayTask.payload, 1, processDeps())).toBe("duplicate");
    const payment = await paymentDoc(target);
    expect(payment.status).toBe("succeeded");
    expect(payment.appliedEventIds).toEqual([id]);
    const letter = (await scope.db.doc(`deadLetters/${letterId}`).get()).data()!;
    expect(letter).toMatchObject({ status: "resolved", replayCount: 1 });
    expect(await replayDeadLetterIds(scope, [letterId, "nope"], { enqueue: recorder.enqueue })).toEqual([
      { id: letterId, outcome: "already-resolved" },
      { id: "nope", outcome: "not-found" },
    ]);
  });

  it("re-opens a letter whose replay fails again, keeping the whole history", async () => {
    const target = await newPayment();
    const id = eventIdFailingBeforeCommit(1);
    const recorder = taskRecorder();
    await deliver(providerEvent(target, "payment_intent.succeeded", { id }), recorder.enqueue);
    const failing = processDeps({ maxAttempts: 1, faultPercent: 100 });
    await processPaymentTask(recorder.tasks[0].payload, 1, failing);
    const scope = { kind: "tenant" as const, db: tenantDbFor(target.tenantId) };
    const letterId = inboundDeadLetterId({ provider: "stripe", eventId: id } as never);
    await replayDeadLetterIds(scope, [letterId], { enqueue: recorder.enqueue });
    expect(await processPaymentTask(recorder.tasks.at(-1)!.payload, 1, failing)).toBe("dead-lettered");
    const letter = (await scope.db.doc(`deadLetters/${letterId}`).get()).data()!;
    expect(letter).toMatchObject({ status: "open", replayCount: 1, attempts: 2 });
    expect(letter.errors).toHaveLength(2);
    expect(await replayDeadLetterIds(scope, [letterId], { enqueue: recorder.enqueue })).toEqual([
      { id: letterId, outcome: "replayed" },
    ]);
  });
});
