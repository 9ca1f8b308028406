/**
 * Outgoing webhooks against the real Firestore and Auth emulators and a local HTTP receiver:
 * endpoint management, Standard Webhooks signatures checked by the `standardwebhooks` package as
 * an independent receiver, retries on the schedule, Retry-After, 410, disabling after a failing
 * period, exhaustion into dead letters and `webhook.delivery.exhausted`, replay, and SSRF checks
 * at delivery time.
 *
 * Cloud Tasks is replaced by a recorder that keeps each task's id and delay; the test runs the
 * tasks itself, with an injected clock, so nothing waits on wall-clock time.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { applyParamDefaults } from "../../src/platform/config";
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  listWebhookDeliveries,
  listWebhookEndpoints,
  rotateWebhookEndpointSecret,
  setWebhookEndpointStatus,
  updateWebhookEndpoint,
} from "../../src/webhooks";
import { replayDeadLetterIds, type DeadLetterNotice } from "../../src/webhooks/deadletters";
import { deadLetterIdOf, publishEvent, runDelivery, type DeliveryDeps } from "../../src/webhooks/outbound";
import { tenantDbFor } from "../../src/webhooks/store";
import type { Enqueue } from "../../src/webhooks/tasks";
import { callAs, createTestUser, expectHttpsError, seedTenant, type TestUser } from "../support/firebase";
import { captureLogs } from "../support/observability-logs";
import { Receiver, type Received } from "../support/receiver";

const logs = captureLogs();

interface Task {
  queue: string;
  payload: Record<string, unknown>;
  id: string;
  delaySeconds?: number;
  ran?: boolean;
}

function taskRecorder() {
  const tasks: Task[] = [];
  const ids = new Set<string>();
  const enqueue: Enqueue = async (queue, payload, opts) => {
    if (ids.has(opts.id)) return "exists";
    ids.add(opts.id);
    tasks.push({ queue, payload: JSON.parse(JSON.stringify(payload)), id: opts.id, delaySeconds: opts.delaySeconds });
    return "enqueued";
  };
  return { tasks, enqueue };
}

const receiver = new Receiver();
let admin: TestUser;
let member: TestUser;
let seq = 0;

/** A fresh tenant with its admin (so endpoint limits and dead letters never collide). */
async function freshTenant(): Promise<string> {
  return seedTenant({ admin: { user: admin, roles: ["admin"] }, member: { user: member, roles: ["member"] } });
}

async function createEndpoint(path: string, eventTypes: string[] = ["payment.succeeded"]) {
  return callAs<{ endpoint: { id: string; status: string }; secret: string }>(createWebhookEndpoint, admin, {
    url: receiver.url(path),
    eventTypes,
  });
}

/**
 * Runs queued delivery tasks (including the ones they enqueue) until none is left, advancing the
 * fake clock by each task's delay, as Cloud Tasks would.
 */
async function drain(
  recorder: ReturnType<typeof taskRecorder>,
  deps: Partial<DeliveryDeps> & { clock?: { t: number } } = {},
) {
  const outcomes: string[] = [];
  for (let guard = 0; guard < 100; guard++) {
    const next = recorder.tasks.find((t) => !t.ran);
    if (!next) return outcomes;
    next.ran = true;
    if (deps.clock && next.delaySeconds) deps.clock.t += next.delaySeconds * 1000;
    outcomes.push(
      await runDelivery(next.payload, {
        enqueue: recorder.enqueue,
        policy: { allowHttp: true, allowLoopback: true },
        maxAttempts: 8,
        timeoutMs: 5000,
        disableAfterMs: 5 * 86_400_000,
        random: () => 0,
        publish: async () => undefined,
        ...(deps.clock ? { now: () => deps.clock!.t } : {}),
        ...deps,
      }),
    );
  }
  throw new Error("delivery tasks did not settle");
}

function verifyWith(secret: string, request: Received): unknown {
  return new Webhook(secret).verify(request.body, {
    "webhook-id": request.headers["webhook-id"] as string,
    "webhook-timestamp": request.headers["webhook-timestamp"] as string,
    "webhook-signature": request.headers["webhook-signature"] as string,
  });
}

/**
 * Checks only the signature (for messages sent under a fake clock, whose timestamp a receiver
 * would rightly reject as too far from now): the library signs the same id, timestamp and body,
 * and that value must be among the header's signatures.
 */
function signatureMatches(secret: string, request: Received): boolean {
  const id = request.headers["webhook-id"] as string;
  const ts = new Date(Number(request.headers["webhook-timestamp"]) * 1000);
  const expected = new Webhook(secret).sign(id, ts, request.body);
  return (request.headers["webhook-signature"] as string).split(" ").includes(expected);
}

beforeAll(async () => {
  process.env.WEBHOOK_ALLOW_HTTP = "true";
  applyParamDefaults();
  await receiver.start();
  admin = await createTestUser();
  member = await createTestUser();
});
afterAll(() => receiver.stop());

describe("endpoint management", () => {
  it("returns a whsec_ secret once, stores it only encrypted, and lists endpoints without secrets", async () => {
    await freshTenant();
    const { endpoint, secret } = await createEndpoint("/mgmt");
    expect(secret).toMatch(/^whsec_/);
    const stored = (
      await tenantDbFor((await callerTenant()) as string)
        .doc(`webhookEndpoints/${endpoint.id}`)
        .get()
    ).data()!;
    expect(JSON.stringify(stored)).not.toContain(secret.slice(6));
    expect(stored.secrets[0].ciphertext).toMatch(/^enc1\./);
    const listed = await callAs(listWebhookEndpoints, admin, {});
    expect(listed.items).toHaveLength(1);
    expect(JSON.stringify(listed.items)).not.toContain("ciphertext");
    const updated = await callAs<{ eventTypes: string[] }>(updateWebhookEndpoint, admin, {
      endpointId: endpoint.id,
      eventTypes: ["payment.refunded", "payment.refunded", "*"],
    });
    expect(updated.eventTypes).toEqual(["payment.refunded", "*"]);
    await callAs(deleteWebhookEndpoint, admin, { endpointId: endpoint.id });
    expect((await callAs<{ items: unknown[] }>(listWebhookEndpoints, admin, {})).items).toHaveLength(0);
  });

  it("refuses private, metadata and (outside the emulator allowance) http URLs at registration", async () => {
    await freshTenant();
    for (const url of ["https://10.0.0.1/h", "https://169.254.169.254/latest", "https://metadata.google.internal/"]) {
      const error = await expectHttpsError(
        callAs(createWebhookEndpoint, admin, { url, eventTypes: ["*"] }),
        "invalid-argument",
      );
      expect(error.details).toMatchObject({ fields: { url: expect.any(Array) } });
    }
    process.env.WEBHOOK_ALLOW_HTTP = "false";
    try {
      for (const url of [receiver.url("/plain"), "https://[::1]/", "https://127.0.0.1/"]) {
        await expectHttpsError(callAs(createWebhookEndpoint, admin, { url, eventTypes: ["*"] }), "invalid-argument");
      }
    } finally {
      process.env.WEBHOOK_ALLOW_HTTP = "true";
    }
  });

  it("is guarded by webhooks:manage", async () => {
    await freshTenant();
    await expectHttpsError(
      callAs(createWebhookEndpoint, member, { url: "https://hooks.example.com/", eventTypes: ["*"] }),
      "permission-denied",
    );
  });
});

/** The tenant the admin currently acts in (the last seeded). */
async function callerTenant(): Promise<string> {
  const { decode } = await import("../support/firebase");
  return (await decode(admin.idToken)).tid as string;
}

describe("delivery", () => {
  it("signs per Standard Webhooks: the standardwebhooks package verifies, and only subscribed endpoints receive", async () => {
    const tid = await freshTenant();
    const a = await createEndpoint("/signed-a");
    await createEndpoint("/signed-b", ["payment.refunded"]);
    const recorder = taskRecorder();
    const { eventId, deliveries } = await publishEvent(
      tid,
      "payment.succeeded",
      { paymentId: "p1", amount: 5 },
      recorder,
    );
    expect(deliveries).toBe(1);
    expect(await drain(recorder)).toEqual(["delivered"]);
    const [request] = receiver.on("/signed-a");
    expect(request.headers["webhook-id"]).toBe(eventId);
    expect(verifyWith(a.secret, request)).toMatchObject({
      type: "payment.succeeded",
      data: { paymentId: "p1", amount: 5 },
    });
    expect(receiver.on("/signed-b")).toHaveLength(0);
    const log = await callAs(listWebhookDeliveries, admin, { endpointId: a.endpoint.id });
    expect(log.items[0].status).toBe("delivered");
    expect(log.items[0].attempts[0].statusCode).toBe(200);
    expect(log.items[0].attempts[0].latencyMs).toBeGreaterThanOrEqual(0);
  });

  it("retries a receiver that fails 3 times on the schedule, with the same webhook-id, then succeeds", async () => {
    const tid = await freshTenant();
    const { secret } = await createEndpoint("/flaky");
    receiver.script("/flaky", { status: 500 }, { status: 502 }, { status: 404 });
    const recorder = taskRecorder();
    const { eventId } = await publishEvent(tid, "payment.succeeded", { n: 1 }, recorder);
    expect(await drain(recorder)).toEqual(["retry-scheduled", "retry-scheduled", "retry-scheduled", "delivered"]);
    expect(recorder.tasks.map((t) => t.delaySeconds ?? 0)).toEqual([0, 5, 300, 1800]);
    const requests = receiver.on("/flaky");
    expect(requests).toHaveLength(4);
    expect(new Set(requests.map((r) => r.headers["webhook-id"]))).toEqual(new Set([eventId]));
    expect(() => verifyWith(secret, requests[3])).not.toThrow();
    const delivery = (
      await tenantDbFor(tid).collection("webhookDeliveries").where("eventId", "==", eventId).get()
    ).docs[0].data();
    expect(delivery.attempts.map((a: { statusCode: number }) => a.statusCode)).toEqual([500, 502, 404, 200]);
    expect(delivery.status).toBe("delivered");
  });

  it("honours Retry-After on 429 and 503", async () => {
    const tid = await freshTenant();
    await createEndpoint("/busy");
    receiver.script(
      "/busy",
      { status: 429, headers: { "retry-after": "120" } },
      { status: 503, headers: { "retry-after": "7" } },
    );
    const recorder = taskRecorder();
    await publishEvent(tid, "payment.succeeded", {}, recorder);
    expect(await drain(recorder)).toEqual(["retry-scheduled", "retry-scheduled", "delivered"]);
    expect(recorder.tasks.map((t) => t.delaySeconds ?? 0)).toEqual([0, 120, 7]);
  });

  it("disables the endpoint on 410 and notifies the owners", async () => {
    const tid = await freshTenant();
    const { endpoint } = await createEndpoint("/gone");
    receiver.script("/gone", { status: 410 });
    const recorder = taskRecorder();
    await publishEvent(tid, "payment.succeeded", {}, recorder);
    expect(await drain(recorder)).toEqual(["endpoint-gone"]);
    const stored = (await tenantDbFor(tid).doc(`webhookEndpoints/${endpoint.id}`).get()).data()!;
    expect(stored).toMatchObject({ status: "disabled", disabledReason: "gone" });
    const notes = await tenantDbFor(tid).collection("notifications").get();
    expect(notes.docs.map((d) => d.data())).toEqual([
      expect.objectContaining({
        type: "webhook.endpoint.disabled",
        audience: "owners",
        endpointId: endpoint.id,
        reason: "gone",
      }),
    ]);
    // A disabled endpoint gets nothing more.
    const later = taskRecorder();
    expect((await publishEvent(tid, "payment.succeeded", {}, later)).deliveries).toBe(0);
  });

  it("disables an endpoint that has failed continuously for the configured period", async () => {
    const tid = await freshTenant();
    const { endpoint } = await createEndpoint("/down");
    receiver.script("/down", ...Array.from({ length: 8 }, () => ({ status: 500 })));
    const clock = { t: Date.now() };
    const recorder = taskRecorder();
    await publishEvent(tid, "payment.succeeded", {}, { ...recorder, now: () => clock.t });
    // The schedule alone spans ~27.5 h; a shorter disable period shows the rule without waiting days.
    const outcomes = await drain(recorder, { clock, disableAfterMs: 2 * 3600_000 });
    expect(outcomes.slice(0, 5)).toEqual([
      "retry-scheduled",
      "retry-scheduled",
      "retry-scheduled",
      "retry-scheduled",
      "retry-scheduled",
    ]);
    const stored = (await tenantDbFor(tid).doc(`webhookEndpoints/${endpoint.id}`).get()).data()!;
    expect(stored).toMatchObject({ status: "disabled", disabledReason: "failing" });
    const notes = await tenantDbFor(tid).collection("notifications").get();
    expect(notes.docs.map((d) => d.get("reason"))).toEqual(["failing"]);
    // The pending retry of a disabled endpoint is cancelled, not sent.
    expect(outcomes.at(-1)).toBe("cancelled");
    // Re-enabling clears the streak.
    await callAs(setWebhookEndpointStatus, admin, { endpointId: endpoint.id, status: "active" });
    const enabled = (await tenantDbFor(tid).doc(`webhookEndpoints/${endpoint.id}`).get()).data()!;
    expect(enabled).toMatchObject({ status: "active", failingSince: null, disabledReason: null });
  });

  it("dead-letters an exhausted delivery, emits webhook.delivery.exhausted to other endpoints only, and replays it", async () => {
    const tid = await freshTenant();
    const failing = await createEndpoint("/exhaust", ["payment.succeeded", "webhook.delivery.exhausted"]);
    const watcher = await createEndpoint("/watcher", ["webhook.delivery.exhausted"]);
    receiver.script("/exhaust", ...Array.from({ length: 8 }, () => ({ status: 500 })));
    const notices: DeadLetterNotice[] = [];
    const recorder = taskRecorder();
    const clock = { t: Date.now() };
    const { eventId } = await publishEvent(tid, "payment.succeeded", { big: true }, recorder);
    const outcomes = await drain(recorder, {
      clock,
      disableAfterMs: 30 * 86_400_000,
      publish: async (_topic, notice) => void notices.push(notice),
    });
    expect(outcomes.filter((o) => o === "retry-scheduled")).toHaveLength(7);
    expect(outcomes).toContain("exhausted");
    expect(receiver.on("/exhaust")).toHaveLength(8);
    const deliveryId = `${eventId}_${failing.endpoint.id}`;
    const letterId = deadLetterIdOf(deliveryId);
    const letter = (await tenantDbFor(tid).doc(`deadLetters/${letterId}`).get()).data()!;
    expect(letter).toMatchObject({ status: "open", source: "webhooks.outbound", attempts: 8, reference: deliveryId });
    expect(letter.errors).toHaveLength(8);
    expect(notices).toEqual([expect.objectContaining({ deadLetterId: letterId, tenantId: tid, attempts: 8 })]);
    const watched = receiver.on("/watcher");
    expect(watched).toHaveLength(1);
    expect(signatureMatches(watcher.secret, watched[0])).toBe(true);
    expect(signatureMatches(failing.secret, watched[0])).toBe(false);
    expect(JSON.parse(watched[0].body)).toMatchObject({
      type: "webhook.delivery.exhausted",
      data: { deliveryId, endpointId: failing.endpoint.id, attempts: 8 },
    });

    // The receiver is fixed; replaying delivers once, and a second replay does nothing.
    const replayRecorder = taskRecorder();
    const scope = { kind: "tenant" as const, db: tenantDbFor(tid) };
    expect(await replayDeadLetterIds(scope, [letterId], replayRecorder)).toEqual([
      { id: letterId, outcome: "replayed" },
    ]);
    expect(await replayDeadLetterIds(scope, [letterId], replayRecorder)).toEqual([
      { id: letterId, outcome: "already-replaying" },
    ]);
    replayRecorder.tasks.push({ ...replayRecorder.tasks[0], ran: false });
    expect(await drain(replayRecorder)).toEqual(["delivered", "skipped"]);
    expect(receiver.on("/exhaust")).toHaveLength(9);
    expect((await tenantDbFor(tid).doc(`deadLetters/${letterId}`).get()).get("status")).toBe("resolved");
  });

  /** Publishes to a new endpoint at `path` whose 8 attempts all fail; returns its open dead letter. */
  async function exhaustedLetter(path: string) {
    const tid = await freshTenant();
    const { endpoint } = await createEndpoint(path);
    receiver.script(path, ...Array.from({ length: 8 }, () => ({ status: 500 })));
    const recorder = taskRecorder();
    const { eventId } = await publishEvent(tid, "payment.succeeded", {}, recorder);
    expect(await drain(recorder, { clock: { t: Date.now() }, disableAfterMs: 30 * 86_400_000 })).toContain("exhausted");
    const letterId = deadLetterIdOf(`${eventId}_${endpoint.id}`);
    const scope = { kind: "tenant" as const, db: tenantDbFor(tid) };
    const letter = async () => (await scope.db.doc(`deadLetters/${letterId}`).get()).data()!;
    expect(await letter()).toMatchObject({ status: "open" });
    return { endpoint, letterId, scope, letter };
  }

  it.each([
    ["disabled", "replay cancelled: the endpoint is disabled"],
    ["deleted", "replay cancelled: the endpoint was deleted"],
  ])("ends a replay whose endpoint was %s meanwhile with the letter open again, replayable", async (change, reason) => {
    const { endpoint, letterId, scope, letter } = await exhaustedLetter(`/gone-${change}`);
    if (change === "disabled") {
      await callAs(setWebhookEndpointStatus, admin, { endpointId: endpoint.id, status: "disabled" });
    } else {
      await callAs(deleteWebhookEndpoint, admin, { endpointId: endpoint.id });
    }
    const first = taskRecorder();
    expect(await replayDeadLetterIds(scope, [letterId], first)).toEqual([{ id: letterId, outcome: "replayed" }]);
    expect(await drain(first)).toEqual(["cancelled"]);
    expect(await letter()).toMatchObject({ status: "open", lastError: reason, replayCount: 1 });
    expect((await letter()).errors.at(-1)).toMatchObject({ message: reason });

    // A second replay is possible: after re-enabling it delivers and resolves; deleted, it ends open again.
    if (change === "disabled") {
      await callAs(setWebhookEndpointStatus, admin, { endpointId: endpoint.id, status: "active" });
    }
    const second = taskRecorder();
    expect(await replayDeadLetterIds(scope, [letterId], second)).toEqual([{ id: letterId, outcome: "replayed" }]);
    expect(await drain(second)).toEqual([change === "disabled" ? "delivered" : "cancelled"]);
    expect(await letter()).toMatchObject({ status: change === "disabled" ? "resolved" : "open", replayCount: 2 });
  });

  it("resolves the letter when its replay gets through on a later attempt of the round", async () => {
    const { letterId, scope, letter } = await exhaustedLetter("/late-success");
    receiver.script("/late-success", { status: 500 }, { status: 500 });
    const recorder = taskRecorder();
    await replayDeadLetterIds(scope, [letterId], recorder);
    expect(await drain(recorder, { clock: { t: Date.now() } })).toEqual([
      "retry-scheduled",
      "retry-scheduled",
      "delivered",
    ]);
    expect(await letter()).toMatchObject({ status: "resolved" });
  });

  it("signs with both secrets during a rotation overlap, and only the new one after it", async () => {
    const tid = await freshTenant();
    const { endpoint, secret: oldSecret } = await createEndpoint("/rotate");
    const { secret: newSecret } = await callAs<{ secret: string }>(rotateWebhookEndpointSecret, admin, {
      endpointId: endpoint.id,
      overlapSeconds: 3600,
    });
    const recorder = taskRecorder();
    await publishEvent(tid, "payment.succeeded", { n: 1 }, recorder);
    await drain(recorder);
    const during = receiver.on("/rotate").at(-1)!;
    expect((during.headers["webhook-signature"] as string).split(" ")).toHaveLength(2);
    expect(() => verifyWith(oldSecret, during)).not.toThrow();
    expect(() => verifyWith(newSecret, during)).not.toThrow();

    const { secret: newest } = await callAs<{ secret: string }>(rotateWebhookEndpointSecret, admin, {
      endpointId: endpoint.id,
      overlapSeconds: 0,
    });
    const after = taskRecorder();
    await publishEvent(tid, "payment.succeeded", { n: 2 }, after);
    await drain(after);
    const last = receiver.on("/rotate").at(-1)!;
    expect((last.headers["webhook-signature"] as string).split(" ")).toHaveLength(1);
    expect(() => verifyWith(oldSecret, last)).toThrow();
    expect(() => verifyWith(newSecret, last)).toThrow();
    expect(() => verifyWith(newest, last)).not.toThrow();
  });

  it("checks the resolved address at delivery time: a name that now points at a private address is refused", async () => {
    const tid = await freshTenant();
    const created = await callAs<{ endpoint: { id: string } }>(createWebhookEndpoint, admin, {
      url: `https://rebind-${seq++}.example.com/hook`,
      eventTypes: ["payment.succeeded"],
    });
    const recorder = taskRecorder();
    const { eventId } = await publishEvent(tid, "payment.succeeded", {}, recorder);
    const outcome = await runDelivery(recorder.tasks[0].payload, {
      enqueue: recorder.enqueue,
      policy: { allowHttp: false, allowLoopback: false },
      maxAttempts: 8,
      timeoutMs: 2000,
      disableAfterMs: 5 * 86_400_000,
      resolve: async () => [{ address: "169.254.169.254", family: 4 }],
    });
    expect(outcome).toBe("retry-scheduled");
    const delivery = (await tenantDbFor(tid).doc(`webhookDeliveries/${eventId}_${created.endpoint.id}`).get()).data()!;
    // The tenant sees a coarse reason; the address and its range stay in the server log.
    expect(delivery.attempts[0]).toMatchObject({ statusCode: null, error: "address not allowed" });
    const listed = await callAs<{ items: { attempts: { error: string | null }[] }[] }>(listWebhookDeliveries, admin, {
      endpointId: created.endpoint.id,
    });
    expect(JSON.stringify(listed)).not.toMatch(/169\.254|linkLocal/);
    expect(JSON.stringify(listed)).toContain("address not allowed");
    expect(logs).toContainEqual(
      expect.objectContaining({
        message: "webhook delivery attempt failed",
        cause: expect.stringContaining("linkLocal"),
      }),
    );
  });

  it("shows the tenant no socket error or port of a failed connection", async () => {
    const tid = await freshTenant();
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const created = await callAs<{ endpoint: { id: string } }>(createWebhookEndpoint, admin, {
      url: `http://127.0.0.1:${port}/closed`,
      eventTypes: ["payment.succeeded"],
    });
    const recorder = taskRecorder();
    const { eventId } = await publishEvent(tid, "payment.succeeded", {}, recorder);
    expect((await drain(recorder)).at(0)).toBe("retry-scheduled");
    const delivery = (await tenantDbFor(tid).doc(`webhookDeliveries/${eventId}_${created.endpoint.id}`).get()).data()!;
    expect(delivery.attempts[0]).toMatchObject({ statusCode: null, error: "connection failed" });
    expect(logs).toContainEqual(
      expect.objectContaining({
        message: "webhook delivery attempt failed",
        cause: expect.stringContaining("ECONNREFUSED"),
      }),
    );
  });

  it("runs each attempt once even when its task is dispatched twice", async () => {
    const tid = await freshTenant();
    await createEndpoint("/once");
    receiver.script("/once", { status: 500 });
    const recorder = taskRecorder();
    await publishEvent(tid, "payment.succeeded", {}, recorder);
    recorder.tasks.push({ ...recorder.tasks[0], ran: false });
    const outcomes = await drain(recorder);
    expect(outcomes).toEqual(["retry-scheduled", "skipped", "delivered"]);
    expect(receiver.on("/once")).toHaveLength(2);
  });
});
