/**
 * Cloud Tasks unreachable while a provider's webhook is acknowledged: the answer must be a 5xx
 * (the provider retries), never a 2xx for an event that was not queued. The acknowledge path
 * enqueues through a relay to the stack's Cloud Tasks emulator that the test cuts and restores
 * (the emulator itself shares its process with the functions emulator).
 */
import { createPayment, paymentWebhook } from "../../src/payments";
import { inboundEventRef, tenantDbFor } from "../../src/webhooks/store";
import { callAs, callHttps, createTestUser, seedTenant, type TestUser } from "../support/firebase";
import { eventually, freePort, Relay, signedEvent } from "./support";

jest.setTimeout(3 * 60_000);

let relay: Relay;
let owner: TestUser;
let tenantId: string;

beforeAll(async () => {
  relay = new Relay(await freePort(), process.env.CLOUD_TASKS_EMULATOR_HOST as string);
  await relay.open();
  process.env.CLOUD_TASKS_EMULATOR_HOST = `127.0.0.1:${relay.port}`;
  owner = await createTestUser();
  tenantId = await seedTenant({ owner: { user: owner, roles: ["owner"] } });
}, 60_000);

afterAll(() => relay.cut());

const deliver = (event: ReturnType<typeof signedEvent>) =>
  callHttps(paymentWebhook, {
    rawBody: event.body,
    headers: { "stripe-signature": event.signature, "content-type": "application/json" },
  });

it("answers 503 with Retry-After while Tasks is down, and the provider's retry gets the event applied once", async () => {
  const { payment } = await callAs<{ payment: { id: string } }>(createPayment, owner, {
    amount: 1200,
    currency: "eur",
  });
  const event = signedEvent(tenantId, payment.id);

  await relay.cut();
  const during = await deliver(event);
  expect(during.status).toBe(503);
  expect(Number(during.headers?.["Retry-After"])).toBeGreaterThan(0);
  // The event is recorded but only pending: nothing claims it was queued or applied.
  expect((await inboundEventRef("stripe", event.id).get()).get("state")).toBe("pending");
  expect((await tenantDbFor(tenantId).doc(`payments/${payment.id}`).get()).get("appliedEventIds")).toEqual([]);

  await relay.open();
  const retry = await deliver(event);
  expect(retry.status).toBe(200);
  const applied = await eventually("the event applied", async () => {
    const ids = (await tenantDbFor(tenantId).doc(`payments/${payment.id}`).get()).get("appliedEventIds") as string[];
    return ids.includes(event.id) ? ids : undefined;
  });
  expect(applied).toEqual([event.id]);
});
