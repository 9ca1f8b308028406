/**
 * A webhook's whole life is one trace, through the real exported functions (Firestore and Auth
 * emulators, in-memory span exporter):
 *  - inbound: a signed provider request to `paymentWebhook` → `cloudtasks.enqueue` → the
 *    `processPaymentEvent` task handler run with the payload that was enqueued → its Firestore
 *    transaction; the task's log lines carry the trace field;
 *  - outgoing: `sendTestWebhook` (which calls `publishEvent`) → `cloudtasks.enqueue` →
 *    `deliverWebhook` → the `webhook.deliver` HTTP call to a local receiver.
 *
 * Only the Cloud Tasks client under `cloudTasksEnqueue` is replaced (by a recorder, through
 * `setTaskTransport`), so the enqueue span and the trace injection are the production code's.
 */
import { createHmac } from "node:crypto";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { installTracing } from "../../src/observability/tracing";
import { createPayment, paymentWebhook, processPaymentEvent } from "../../src/payments";
import { applyParamDefaults } from "../../src/platform/config";
import { setTracingBackend } from "../../src/platform/tracing-port";
import { createWebhookEndpoint, deliverWebhook, sendTestWebhook } from "../../src/webhooks";
import { tenantDbFor } from "../../src/webhooks/store";
import { setTaskTransport, type TaskTransport } from "../../src/webhooks/tasks";
import { callAs, callHttps, createTestUser, seedTenant, type TestUser } from "../support/firebase";
import { captureLogs } from "../support/observability-logs";
import { Receiver } from "../support/receiver";

jest.setTimeout(30_000);

const SECRET = process.env.PAYMENT_WEBHOOK_SECRET as string;
// A trace id the dispatcher could have put in the task's headers; the payload copy must win.
const FOREIGN_TRACEPARENT = "00-11111111111111111111111111111111-2222222222222222-01";

interface CapturedTask {
  queue: string;
  payload: Record<string, unknown>;
  id: string;
  headers: Record<string, string>;
}

const exporter = new InMemorySpanExporter();
const lines = captureLogs();
const tasks: CapturedTask[] = [];
const recorder: TaskTransport = async (queue, payload, options) => {
  // Through JSON, as Cloud Tasks carries it.
  tasks.push({ queue, payload: JSON.parse(JSON.stringify(payload)), id: options.id, headers: { ...options.headers } });
};

const receiver = new Receiver();

let admin: TestUser;
let member: TestUser;
let tenantId: string;

/** Runs a task-queue function in-process the way Cloud Tasks dispatches it. */
function dispatch(
  fn: { run(request: unknown): Promise<unknown> },
  task: CapturedTask,
  headers: Record<string, string>,
) {
  return fn.run({
    data: task.payload,
    queueName: task.queue,
    id: task.id,
    retryCount: 0,
    executionCount: 0,
    scheduledTime: new Date().toISOString(),
    headers,
  });
}

function spansOfTrace(traceId: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
}

function only(name: string): ReadableSpan {
  const matching = exporter.getFinishedSpans().filter((s) => s.name === name);
  expect(matching).toHaveLength(1);
  return matching[0];
}

const traceField = (traceId: string) => `projects/${process.env.GCLOUD_PROJECT}/traces/${traceId}`;

beforeAll(async () => {
  applyParamDefaults();
  // Loopback receivers are allowed only under the emulator with this param (see ssrf.ts).
  process.env.WEBHOOK_ALLOW_HTTP = "true";
  await receiver.start();
  await installTracing({ exporter, samplePercent: 100, simple: true });
  setTaskTransport(recorder);
  admin = await createTestUser();
  member = await createTestUser();
  tenantId = await seedTenant({
    admin: { user: admin, roles: ["admin"] },
    member: { user: member, roles: ["member"] },
  });
});

afterAll(async () => {
  setTaskTransport(undefined);
  setTracingBackend(undefined);
  process.env.WEBHOOK_ALLOW_HTTP = "false";
  await receiver.stop();
});

beforeEach(() => {
  exporter.reset();
  tasks.length = 0;
  lines.length = 0;
});

describe("an inbound payment webhook", () => {
  it("is one trace from the HTTPS request through the enqueue to the task handler and its transaction", async () => {
    const { providerMetadata: target } = await callAs<{ providerMetadata: { tenantId: string; paymentId: string } }>(
      createPayment,
      member,
      { amount: 2500, currency: "eur" },
    );
    exporter.reset();
    const t = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({
      id: `evt_trace_${Date.now()}`,
      object: "event",
      type: "payment_intent.succeeded",
      created: t,
      data: {
        object: {
          id: `pi_${target.paymentId}`,
          object: "payment_intent",
          amount: 2500,
          currency: "eur",
          metadata: target,
        },
      },
    });
    const signature = `t=${t},v1=${createHmac("sha256", SECRET).update(`${t}.${body}`).digest("hex")}`;

    const res = await callHttps(paymentWebhook, {
      rawBody: Buffer.from(body),
      headers: { "stripe-signature": signature },
    });
    expect(res.status).toBe(200);

    const https = only("paymentWebhook");
    const enqueue = only("cloudtasks.enqueue");
    const traceId = https.spanContext().traceId;
    expect(enqueue.spanContext().traceId).toBe(traceId);
    expect(enqueue.parentSpanContext?.spanId).toBe(https.spanContext().spanId);
    expect(enqueue.attributes["messaging.destination.name"]).toBe("processPaymentEvent");

    // The enqueued task carries the enqueue span's context in its payload and its headers.
    expect(tasks).toHaveLength(1);
    const task = tasks[0];
    const carried = `00-${traceId}-${enqueue.spanContext().spanId}-01`;
    expect(task.payload.trace).toEqual({ traceparent: carried });
    expect(task.headers.traceparent).toBe(carried);

    // The dispatcher replaced the header: the payload's copy still decides the trace.
    await dispatch(processPaymentEvent as never, task, { traceparent: FOREIGN_TRACEPARENT });

    const consumer = only("processPaymentEvent");
    expect(consumer.spanContext().traceId).toBe(traceId);
    expect(consumer.parentSpanContext?.spanId).toBe(enqueue.spanContext().spanId);
    expect(consumer.attributes["saas.outcome"]).toBe("ok");
    const transactions = exporter.getFinishedSpans().filter((s) => s.name === "firestore.transaction");
    expect(transactions.length).toBeGreaterThanOrEqual(1);
    for (const tx of transactions) expect(tx.parentSpanContext?.spanId).toBe(consumer.spanContext().spanId);

    // Every span of this test, and none of another trace.
    const all = exporter.getFinishedSpans();
    expect(spansOfTrace(traceId)).toHaveLength(all.length);
    expect(all.map((s) => s.name).sort()).toEqual(
      [
        "cloudtasks.enqueue",
        "paymentWebhook",
        "processPaymentEvent",
        ...transactions.map(() => "firestore.transaction"),
      ].sort(),
    );

    // The task really ran: the payment moved.
    const payment = (await tenantDbFor(target.tenantId).doc(`payments/${target.paymentId}`).get()).data()!;
    expect(payment.status).toBe("succeeded");

    // Log lines written during the task carry the trace field of this trace.
    const processed = lines.filter((l) => l.message === "inbound event processed");
    expect(processed).toHaveLength(1);
    expect(processed[0]).toMatchObject({
      fn: "processPaymentEvent",
      "logging.googleapis.com/trace": traceField(traceId),
      "logging.googleapis.com/spanId": consumer.spanContext().spanId,
    });
    const taskLines = lines.filter((l) => l.fn === "processPaymentEvent");
    expect(taskLines.length).toBeGreaterThanOrEqual(1);
    for (const line of taskLines) expect(line["logging.googleapis.com/trace"]).toBe(traceField(traceId));
  });

  it("refuses a task payload whose trace field is not a bounded W3C trace context", async () => {
    const { PaymentTask } = await import("../../src/payments/inbound");
    const { DeliveryTask } = await import("../../src/webhooks/outbound");
    const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const event = {
      provider: "stripe",
      eventId: "evt_1",
      type: "payment_intent.succeeded",
      status: "succeeded",
      created: 1,
      tenantId: "t1",
      paymentId: "p1",
      providerPaymentId: "pi_1",
      amount: 1,
      currency: "eur",
    };
    const delivery = { tenantId: "t1", deliveryId: "d1" };
    for (const [schema, base] of [
      [PaymentTask, { event }],
      [DeliveryTask, delivery],
    ] as const) {
      expect(schema.safeParse({ ...base, trace: { traceparent: tp, tracestate: "a=b" } }).success).toBe(true);
      for (const trace of [
        { traceparent: "not-a-traceparent" },
        { traceparent: tp, tracestate: "x".repeat(513) },
        { traceparent: tp, extra: "field" },
        { tracestate: "a=b" },
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      ]) {
        expect(schema.safeParse({ ...base, trace }).success).toBe(false);
      }
    }
  });
});

describe("an outgoing webhook", () => {
  it("is one trace from the publishing call through the enqueue to the delivery task and its HTTP call", async () => {
    const { endpoint } = await callAs<{ endpoint: { id: string } }>(createWebhookEndpoint, admin, {
      url: receiver.url("/hook"),
      eventTypes: ["payment.succeeded"],
    });
    exporter.reset();

    await callAs(sendTestWebhook, admin, { endpointId: endpoint.id });
    const publisher = only("sendTestWebhook");
    const traceId = publisher.spanContext().traceId;
    const enqueue = only("cloudtasks.enqueue");
    expect(enqueue.spanContext().traceId).toBe(traceId);
    expect(enqueue.attributes["messaging.destination.name"]).toBe("deliverWebhook");
    expect(tasks).toHaveLength(1);
    expect((tasks[0].payload.trace as { traceparent: string }).traceparent).toBe(
      `00-${traceId}-${enqueue.spanContext().spanId}-01`,
    );

    await dispatch(deliverWebhook as never, tasks[0], tasks[0].headers);
    const received = receiver.on("/hook");
    expect(received).toHaveLength(1);
    expect(received[0].headers["webhook-id"]).toEqual(expect.stringMatching(/^msg_/));

    const consumer = only("deliverWebhook");
    const call = only("webhook.deliver");
    expect(consumer.spanContext().traceId).toBe(traceId);
    expect(consumer.parentSpanContext?.spanId).toBe(enqueue.spanContext().spanId);
    expect(call.spanContext().traceId).toBe(traceId);
    expect(call.parentSpanContext?.spanId).toBe(consumer.spanContext().spanId);
    expect(call.attributes).toMatchObject({
      "saas.tenant_id": tenantId,
      "saas.webhook.endpoint_id": endpoint.id,
      "saas.webhook.attempt": 1,
    });
    // OpenTelemetry's http instrumentation adds the client span of the request itself, under
    // webhook.deliver, with method and status only.
    const client = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
    expect(client).toHaveLength(1);
    expect(client[0].parentSpanContext?.spanId).toBe(call.spanContext().spanId);
    expect(client[0].instrumentationScope.name).toBe("@opentelemetry/instrumentation-http");
    expect(Object.keys(client[0].attributes).sort()).toEqual(
      expect.arrayContaining([expect.stringMatching(/^http\.(request\.method|method)$/)]),
    );
    const { attributes } = client[0];
    expect(attributes["http.response.status_code"] ?? attributes["http.status_code"]).toBe(200);
    // Ids only: the receiver's URL or address never goes on a span.
    expect(JSON.stringify(exporter.getFinishedSpans().map((s) => s.attributes))).not.toContain("127.0.0.1");

    const all = exporter.getFinishedSpans();
    expect(spansOfTrace(traceId)).toHaveLength(all.length);
    expect(all.filter((s) => s.name === "firestore.transaction").length).toBeGreaterThanOrEqual(1);

    const delivered = (await tenantDbFor(tenantId).collection("webhookDeliveries").get()).docs.map((d) => d.data());
    expect(delivered.map((d) => d.status)).toEqual(["delivered"]);
  });
});
