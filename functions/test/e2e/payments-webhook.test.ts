/**
 * Inbound webhooks through the real stack: signed events over HTTP to `paymentWebhook` in the
 * functions emulator, queued on the real Cloud Tasks emulator, processed by `processPaymentEvent`
 * with its real retry config, while the emulator-only fault hook fails 30 % of attempts (half of
 * them after the commit). Every event must end applied exactly once or dead-lettered — none lost,
 * none applied twice — and dead letters replay through the operator callables.
 *
 * Needs the stack with the emulator values in functions/.env.local:
 *   WEBHOOK_FAULT_INJECTION_PERCENT=30  WEBHOOK_MIN_BACKOFF_SECONDS=1  WEBHOOK_MAX_BACKOFF_SECONDS=4
 */
import { createHmac, randomUUID } from "node:crypto";
import { Timestamp } from "firebase-admin/firestore";
import { rootFirestore } from "../../src/platform/admin";
import { createTestUser, refreshUser, seedTenant, type TestUser } from "../support/firebase";
import { callCallable, functionUrl } from "../support/http";
import { stripeSignature } from "../support/provider";

jest.setTimeout(6 * 60_000);

const db = () => rootFirestore();

async function send(body: string, header = stripeSignature(body)): Promise<number> {
  const res = await fetch(functionUrl("paymentWebhook"), {
    method: "POST",
    headers: { "content-type": "application/json", "stripe-signature": header },
    body,
  });
  await res.arrayBuffer();
  return res.status;
}

interface SentEvent {
  id: string;
  paymentId: string;
  status: string;
  body: string;
}

const TYPES: Record<string, string> = {
  processing: "payment_intent.processing",
  succeeded: "payment_intent.succeeded",
  refunded: "charge.refunded",
};

function eventBody(tenantId: string, paymentId: string, status: string, id = `evt_${randomUUID().replace(/-/g, "")}`) {
  const object =
    status === "refunded"
      ? { id: `ch_${paymentId}`, object: "charge", payment_intent: `pi_${paymentId}`, amount_refunded: 1200 }
      : { id: `pi_${paymentId}`, object: "payment_intent" };
  return {
    id,
    body: JSON.stringify({
      id,
      object: "event",
      type: TYPES[status],
      created: Math.floor(Date.now() / 1000),
      data: { object: { ...object, amount: 1200, currency: "eur", metadata: { tenantId, paymentId } } },
    }),
  };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]);
      }
    }),
  );
  return results;
}

async function inboundStates(ids: string[]): Promise<Map<string, { state: string; attempts?: number }>> {
  const out = new Map<string, { state: string; attempts?: number }>();
  for (let i = 0; i < ids.length; i += 100) {
    const refs = ids.slice(i, i + 100).map((id) => db().doc(`inboundEvents/stripe:${id}`));
    for (const snap of await db().getAll(...refs)) {
      if (snap.exists)
        out.set(snap.id.slice("stripe:".length), { state: snap.get("state"), attempts: snap.get("attempts") });
    }
  }
  return out;
}

async function waitUntilSettled(ids: string[], timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await inboundStates(ids);
    const open = ids.filter((id) => !["processed", "dead-lettered"].includes(states.get(id)?.state ?? ""));
    if (open.length === 0) return states;
    if (Date.now() > deadline)
      throw new Error(`${open.length} events never settled, e.g. ${open.slice(0, 3).join(", ")}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

let admin: TestUser;
let platformAdmin: TestUser;
let tenantId: string;

beforeAll(async () => {
  admin = await createTestUser();
  platformAdmin = await createTestUser({ claims: { platformAdmin: true } });
  tenantId = await seedTenant({ admin: { user: admin, roles: ["admin"] } });
});

/** A fresh, unpaid payment document as createPayment leaves it. */
function newPayment(now: FirebaseFirestore.Timestamp): Record<string, unknown> {
  return {
    status: "created",
    amount: 1200,
    currency: "eur",
    providerPaymentId: null,
    appliedEventIds: [],
    createdAt: now,
    updatedAt: now,
  };
}

async function seedPayments(n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `pay${i}_${randomUUID().slice(0, 8)}`);
  const batch = db().batch();
  const now = Timestamp.now();
  for (const id of ids) batch.set(db().doc(`tenants/${tenantId}/payments/${id}`), newPayment(now));
  await batch.commit();
  return ids;
}

describe("inbound payment webhooks through the Cloud Tasks emulator", () => {
  it("settles 300 events under 30 % injected failures: each applied exactly once or dead-lettered, none lost", async () => {
    const payments = await seedPayments(100);
    const events: SentEvent[] = payments.flatMap((paymentId) =>
      ["processing", "succeeded", "refunded"].map((status) => ({
        paymentId,
        status,
        ...eventBody(tenantId, paymentId, status),
      })),
    );
    // Provider-like delivery: shuffled, and a third of the events delivered twice.
    const deliveries = [...events, ...events.filter((_, i) => i % 3 === 0)].sort(() => Math.random() - 0.5);
    const statuses = await pool(deliveries, 4, (e) => send(e.body));
    expect(statuses.filter((s) => s !== 200)).toEqual([]);

    const ids = events.map((e) => e.id);
    const settled = await waitUntilSettled(ids, 5 * 60_000);

    const retried = [...settled.values()].filter((s) => (s.attempts ?? 1) > 1).length;
    if (retried === 0) {
      throw new Error("no event needed a retry: is WEBHOOK_FAULT_INJECTION_PERCENT=30 set for the functions emulator?");
    }

    const paymentDocs = await db().getAll(...payments.map((p) => db().doc(`tenants/${tenantId}/payments/${p}`)));
    const applied = new Map<string, number>();
    for (const doc of paymentDocs) {
      for (const id of doc.get("appliedEventIds") as string[]) applied.set(id, (applied.get(id) ?? 0) + 1);
    }
    const letters = await db()
      .collection(`tenants/${tenantId}/deadLetters`)
      .where("source", "==", "payments.inbound")
      .get();
    const deadLettered = new Set(letters.docs.map((d) => (d.get("reference") as string).slice("stripe:".length)));

    for (const e of events) {
      const times = applied.get(e.id) ?? 0;
      expect({ id: e.id, times, deadLettered: deadLettered.has(e.id) }).toEqual({
        id: e.id,
        times: deadLettered.has(e.id) ? 0 : 1,
        deadLettered: deadLettered.has(e.id),
      });
    }
    // A payment whose three events all applied ends refunded, whatever order they arrived in.
    for (const doc of paymentDocs) {
      if ((doc.get("appliedEventIds") as string[]).length === 3) expect(doc.get("status")).toBe("refunded");
    }
    console.info(
      `settled ${events.length} events (${deliveries.length} deliveries): ${retried} needed retries, ${deadLettered.size} dead-lettered`,
    );
  });

  it("refuses a forged signature over HTTP with 400 and queues nothing", async () => {
    const [paymentId] = await seedPayments(1);
    const { id, body } = eventBody(tenantId, paymentId, "succeeded");
    const forged = `t=${Math.floor(Date.now() / 1000)},v1=${createHmac("sha256", "whsec_wrong").update(body).digest("hex")}`;
    expect(await send(body, forged)).toBe(400);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await db().doc(`inboundEvents/stripe:${id}`).get()).exists).toBe(false);
    expect((await db().doc(`tenants/${tenantId}/payments/${paymentId}`).get()).get("status")).toBe("created");
  });

  it("replays a dead letter through the operator callable once the cause is fixed", async () => {
    // An event for a payment that does not exist yet cannot be routed: it is dead-lettered at
    // platform level, without touching the tenant.
    const paymentId = `late_${randomUUID().slice(0, 8)}`;
    const { id, body } = eventBody(tenantId, paymentId, "succeeded");
    expect(await send(body)).toBe(200);
    const settled = await waitUntilSettled([id], 60_000);
    expect(settled.get(id)?.state).toBe("dead-lettered");

    // Platform-admin functions are sensitive: the operator's sign-in must be recent.
    await refreshUser(platformAdmin);
    const list = await callCallable<{ items: { id: string; reference: string; status: string }[] }>(
      "adminListDeadLetters",
      { status: "open", limit: 100 },
      platformAdmin.idToken,
    );
    expect(list.status).toBe(200);
    const letter = list.result!.items.find((i) => i.reference === `stripe:${id}`)!;
    expect(letter).toBeDefined();
    const denied = await callCallable("adminReplayDeadLetters", { ids: [letter.id] }, admin.idToken);
    expect(denied.status).toBe(403);

    await seedPaymentWithId(paymentId);
    const first = await callCallable<{ results: { outcome: string }[] }>(
      "adminReplayDeadLetters",
      { ids: [letter.id] },
      platformAdmin.idToken,
    );
    const second = await callCallable<{ results: { outcome: string }[] }>(
      "adminReplayDeadLetters",
      { ids: [letter.id] },
      platformAdmin.idToken,
    );
    expect(first.result?.results[0].outcome).toBe("replayed");
    expect(["already-replaying", "already-resolved"]).toContain(second.result?.results[0].outcome);

    const deadline = Date.now() + 60_000;
    let status = "";
    while (Date.now() < deadline) {
      status = (await db().doc(`deadLetters/${letter.id}`).get()).get("status");
      if (status === "resolved") break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(status).toBe("resolved");
    const payment = await db().doc(`tenants/${tenantId}/payments/${paymentId}`).get();
    expect(payment.get("status")).toBe("succeeded");
    expect(payment.get("appliedEventIds")).toEqual([id]);
  });
});

async function seedPaymentWithId(paymentId: string): Promise<void> {
  await db().doc(`tenants/${tenantId}/payments/${paymentId}`).set(newPayment(Timestamp.now()));
}
