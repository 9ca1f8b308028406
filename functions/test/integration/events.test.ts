/**
 * The event producers against the real emulators: membership changes and payment events reach a
 * subscribed endpoint as catalogued events (deliveries created, their tasks captured at the Cloud
 * Tasks transport), and the payment outbox publishes an event exactly once even when the first
 * publish fails after the change committed.
 */
import { randomUUID } from "node:crypto";
import { Timestamp } from "firebase-admin/firestore";
import { paymentEventId, processPaymentTask } from "../../src/payments/inbound";
import { rootFirestore } from "../../src/platform/admin";
import { applyParamDefaults } from "../../src/platform/config";
import { createWebhookEndpoint } from "../../src/webhooks";
import { setTaskTransport } from "../../src/webhooks/tasks";
import { exportedFunction } from "../support/exports";
import { callAs, createTestUser, seedTenant, type TestUser } from "../support/firebase";

jest.setTimeout(60_000);

let owner: TestUser;
let tid: string;
let endpointId: string;
let failDeliveries = 0;
const tasks: { queue: string; id: string }[] = [];
const db = () => rootFirestore();

async function eventsOf(type: string) {
  const snap = await db().collection(`tenants/${tid}/webhookEvents`).where("type", "==", type).get();
  return snap.docs.map((d) => ({ id: d.id, payload: d.get("payload") as Record<string, unknown> }));
}

beforeAll(async () => {
  process.env.WEBHOOK_ALLOW_HTTP = "true";
  applyParamDefaults();
  setTaskTransport(async (queue, _payload, options) => {
    if (queue === "deliverWebhook" && failDeliveries > 0) {
      failDeliveries -= 1;
      throw new Error("Cloud Tasks unavailable");
    }
    tasks.push({ queue, id: options.id });
  });
  owner = await createTestUser();
  tid = await seedTenant({ owner: { user: owner, roles: ["owner"] } });
  const created = await callAs(createWebhookEndpoint, owner, {
    url: "https://receiver.example.com/hooks",
    eventTypes: ["member.added", "member.removed", "member.roles_changed", "payment.succeeded"],
  });
  endpointId = created.endpoint.id;
});

afterAll(() => setTaskTransport(undefined));

describe("member events", () => {
  it("publishes member.added, member.roles_changed and member.removed to the subscribed endpoint", async () => {
    const email = `new-${randomUUID().slice(0, 8)}@example.test`;
    const invited = (await callAs(exportedFunction("inviteMember"), owner, { email, roles: ["member"] })) as {
      uid: string;
    };
    await callAs(exportedFunction("assignRoles"), owner, { uid: invited.uid, roles: ["admin"] });
    await callAs(exportedFunction("removeMember"), owner, { uid: invited.uid });

    expect((await eventsOf("member.added")).map((e) => e.payload)).toEqual([
      { uid: invited.uid, email, roles: ["member"], by: owner.uid },
    ]);
    expect((await eventsOf("member.roles_changed")).map((e) => e.payload)).toEqual([
      { uid: invited.uid, roles: ["admin"], by: owner.uid },
    ]);
    const removed = await eventsOf("member.removed");
    expect(removed.map((e) => e.payload)).toEqual([{ uid: invited.uid, by: owner.uid }]);
    const delivery = await db().doc(`tenants/${tid}/webhookDeliveries/${removed[0].id}_${endpointId}`).get();
    expect(delivery.get("status")).toBe("pending");
  });

  it("publishes nothing when an assignment changes nothing", async () => {
    const before = (await eventsOf("member.roles_changed")).length;
    await callAs(exportedFunction("assignRoles"), owner, { uid: owner.uid, roles: ["owner"] });
    expect((await eventsOf("member.roles_changed")).length).toBe(before);
  });
});

describe("payment events through the outbox", () => {
  it("publishes payment.succeeded once, even when the first publish fails after the payment changed", async () => {
    const paymentId = `pay_${randomUUID().slice(0, 8)}`;
    const now = Timestamp.now();
    await db().doc(`tenants/${tid}/payments/${paymentId}`).set({
      status: "created",
      amount: 500,
      currency: "eur",
      providerPaymentId: null,
      appliedEventIds: [],
      createdAt: now,
      updatedAt: now,
    });
    const event = {
      provider: "stripe",
      eventId: `evt_${randomUUID().replace(/-/g, "")}`,
      type: "payment_intent.succeeded",
      status: "succeeded" as const,
      created: Math.floor(Date.now() / 1000),
      tenantId: tid,
      paymentId,
      providerPaymentId: `pi_${paymentId}`,
      amount: 500,
      currency: "eur",
    };
    const deps = { maxAttempts: 8, retentionDays: 4, publish: async () => undefined };
    failDeliveries = 1;
    await expect(processPaymentTask({ event }, 1, deps)).rejects.toThrow(/Cloud Tasks unavailable/);
    const id = paymentEventId(event);
    expect((await db().doc(`tenants/${tid}/payments/${paymentId}`).get()).get("status")).toBe("succeeded");
    expect((await db().doc(`tenants/${tid}/eventOutbox/${id}`).get()).exists).toBe(true);

    // Cloud Tasks retries: the payment is already applied, the staged event goes out now.
    expect(await processPaymentTask({ event }, 2, deps)).toBe("duplicate");
    expect(await processPaymentTask({ event }, 3, deps)).toBe("duplicate");
    const published = (await eventsOf("payment.succeeded")).filter((e) => e.payload.paymentId === paymentId);
    expect(published).toEqual([
      {
        id,
        payload: {
          paymentId,
          status: "succeeded",
          previousStatus: "created",
          amount: 500,
          currency: "eur",
          providerPaymentId: `pi_${paymentId}`,
          providerEventId: event.eventId,
        },
      },
    ]);
    expect((await db().doc(`tenants/${tid}/eventOutbox/${id}`).get()).exists).toBe(false);
    expect(tasks.filter((t) => t.id.startsWith("out-") && t.queue === "deliverWebhook").length).toBeGreaterThanOrEqual(
      1,
    );
    const deliveries = await db().collection(`tenants/${tid}/webhookDeliveries`).where("eventId", "==", id).get();
    expect(deliveries.size).toBe(1);
  });
});
