/**
 * Outgoing webhooks through the real stack: `sendTestWebhook` over HTTP enqueues on the Cloud
 * Tasks emulator, `deliverWebhook` in the functions emulator posts to a receiver in this process,
 * and the `standardwebhooks` package verifies what arrives. The receiver fails twice first: the
 * retries carry the same webhook-id (the Cloud Tasks emulator dispatches delayed tasks at once,
 * so the schedule itself is covered by the integration tests).
 *
 * Needs WEBHOOK_ALLOW_HTTP=true for the functions emulator (loopback receivers, emulator only).
 */
import { Webhook } from "standardwebhooks";
import { applyParamDefaults } from "../../src/platform/config";
import { createWebhookEndpoint } from "../../src/webhooks";
import { tenantDbFor } from "../../src/webhooks/store";
import { callAs, createTestUser, seedTenant, type TestUser } from "../support/firebase";
import { callCallable } from "../support/http";
import { Receiver } from "../support/receiver";

jest.setTimeout(120_000);

const receiver = new Receiver();
let admin: TestUser;
let tenantId: string;

beforeAll(async () => {
  process.env.WEBHOOK_ALLOW_HTTP = "true";
  applyParamDefaults();
  // Two failures first, so the delivery is retried with the same webhook-id.
  receiver.script("/hooks", { status: 500 }, { status: 500 }, { status: 204 });
  await receiver.start();
  admin = await createTestUser();
  tenantId = await seedTenant({ admin: { user: admin, roles: ["admin"] } });
});

afterAll(() => receiver.stop());

describe("outgoing webhooks through the Cloud Tasks emulator", () => {
  it("delivers a signed test event, retrying a failing receiver with the same webhook-id", async () => {
    const { endpoint, secret } = await callAs(createWebhookEndpoint, admin, {
      url: receiver.url("/hooks"),
      eventTypes: ["payment.succeeded"],
    });
    const sent = await callCallable<{ eventId: string }>("sendTestWebhook", { endpointId: endpoint.id }, admin.idToken);
    expect(sent.status).toBe(200);
    const eventId = sent.result!.eventId;

    const deadline = Date.now() + 90_000;
    let status = "";
    while (Date.now() < deadline) {
      status = (await tenantDbFor(tenantId).doc(`webhookDeliveries/${eventId}_${endpoint.id}`).get()).get("status");
      if (status && status !== "pending") break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(status).toBe("delivered");
    const received = receiver.on("/hooks");
    expect(received).toHaveLength(3);
    expect(new Set(received.map((r) => r.headers["webhook-id"]))).toEqual(new Set([eventId]));
    const last = received[2];
    const verified = new Webhook(secret).verify(last.body, {
      "webhook-id": last.headers["webhook-id"] as string,
      "webhook-timestamp": last.headers["webhook-timestamp"] as string,
      "webhook-signature": last.headers["webhook-signature"] as string,
    });
    expect(verified).toMatchObject({ type: "webhook.test", data: { endpointId: endpoint.id, requestedBy: admin.uid } });
  });
});
