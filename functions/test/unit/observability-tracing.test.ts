/**
 * Tracing: one trace id from an inbound HTTPS request through the Cloud Task it enqueues, child
 * spans, sampling, and the trace field on log lines. Spans go to an in-memory exporter; log
 * lines are captured as the JSON firebase-functions/logger writes.
 */
import { randomBytes } from "node:crypto";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { z } from "zod";
import { createTracing, installTracing } from "../../src/observability/tracing";
import { failedPrecondition } from "../../src/platform/errors";
import { httpsEndpoint } from "../../src/platform/https";
import { log } from "../../src/platform/logger";
import type { FunctionSpec } from "../../src/platform/spec";
import * as port from "../../src/platform/tracing-port";
import { captureLogs } from "../support/observability-logs";
import * as support from "../support/firebase";

process.env.GCLOUD_PROJECT ??= "demo-saas-core";

const lines = captureLogs();
const exporter = new InMemorySpanExporter();

interface QueuedTask {
  data: { eventId: string; trace: Record<string, string> };
  headers: Record<string, string>;
}
const queue: QueuedTask[] = [];

const taskSpec: FunctionSpec = {
  kind: "task",
  name: "testProcessWebhook",
  description: "Test-only task handler",
  auth: "none",
  tenant: false,
};

function makeFunctions() {
  const inbound = httpsEndpoint(
    {
      name: "testInboundWebhook",
      description: "Test-only inbound webhook that enqueues a task",
      methods: ["POST"],
      input: z.strictObject({ eventId: z.string(), fail: z.enum(["client", "server"]).optional() }),
      auth: "none",
    },
    async ({ data }) => {
      if (data.fail === "client") throw failedPrecondition("not now", "test");
      if (data.fail === "server") throw new Error("boom");
      log.info("webhook accepted", { eventId: data.eventId });
      await port.withSpan("cloudtasks.enqueue", async () => {
        queue.push({
          data: { eventId: data.eventId, trace: port.injectTraceContext({}) },
          headers: port.injectTraceContext({}),
        });
      });
      return { status: 202, body: { accepted: true } };
    },
  );
  const processTask = (request: { headers?: Record<string, string>; data: QueuedTask["data"] }) =>
    port.traceTask(taskSpec, request, async () => {
      log.info("processing webhook", { eventId: request.data.eventId });
      await port.withSpan("firestore.transaction", async () => undefined);
      await port.withSpan("webhook.deliver", async () => undefined, { "http.request.method": "POST" });
    });
  return { inbound, processTask };
}

function spansByName(): Map<string, ReadableSpan> {
  return new Map(exporter.getFinishedSpans().map((s) => [s.name, s]));
}

function parentId(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

function logLine(message: string): Record<string, unknown> {
  const line = lines.find((l) => l.message === message);
  if (!line) throw new Error(`no log line "${message}" in ${JSON.stringify(lines.map((l) => l.message))}`);
  return line;
}

afterAll(() => {
  port.setTracingBackend(undefined);
});

beforeEach(() => {
  lines.length = 0;
  queue.length = 0;
  exporter.reset();
});

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";

describe("tracing an inbound webhook", () => {
  beforeAll(async () => {
    await installTracing({ exporter, samplePercent: 100, simple: true });
  });

  it("carries the caller's trace id from the HTTPS request through the task handler", async () => {
    const { inbound, processTask } = makeFunctions();
    const res = await support.callHttps(inbound, {
      headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` },
      body: { eventId: "evt_1" },
    });
    expect(res.status).toBe(202);
    expect(queue).toHaveLength(1);
    // The enqueuer put the trace context into both the task's headers and its payload.
    expect(queue[0].headers.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
    expect(queue[0].data.trace.traceparent).toBe(queue[0].headers.traceparent);

    // The task runs later, in another invocation, knowing only what it was given.
    await processTask({ headers: queue[0].headers, data: queue[0].data });

    const spans = spansByName();
    expect([...spans.keys()].sort()).toEqual(
      [
        "cloudtasks.enqueue",
        "firestore.transaction",
        "testInboundWebhook",
        "testProcessWebhook",
        "webhook.deliver",
      ].sort(),
    );
    for (const span of spans.values()) expect(span.spanContext().traceId).toBe(TRACE_ID);

    const server = spans.get("testInboundWebhook")!;
    const enqueue = spans.get("cloudtasks.enqueue")!;
    const task = spans.get("testProcessWebhook")!;
    expect(parentId(server)).toBe(CALLER_SPAN);
    expect(parentId(enqueue)).toBe(server.spanContext().spanId);
    expect(parentId(task)).toBe(enqueue.spanContext().spanId);
    expect(parentId(spans.get("firestore.transaction")!)).toBe(task.spanContext().spanId);
    expect(parentId(spans.get("webhook.deliver")!)).toBe(task.spanContext().spanId);
    expect(spans.get("webhook.deliver")!.attributes["http.request.method"]).toBe("POST");

    expect(server.attributes).toMatchObject({
      "faas.name": "testInboundWebhook",
      "saas.outcome": "ok",
      "http.response.status_code": 202,
    });
    expect(typeof server.attributes["saas.duration_ms"]).toBe("number");
    expect(task.attributes).toMatchObject({ "faas.name": "testProcessWebhook", "saas.outcome": "ok" });
  });

  it("starts a new trace when the request carries none, and the task still joins it", async () => {
    const { inbound, processTask } = makeFunctions();
    await support.callHttps(inbound, { body: { eventId: "evt_2" } });
    const task = queue[0];
    // Only the payload copy survives (a queue that drops custom headers).
    await processTask({ headers: {}, data: task.data });
    const spans = exporter.getFinishedSpans();
    const ids = new Set(spans.map((s) => s.spanContext().traceId));
    expect(ids.size).toBe(1);
    expect([...ids][0]).not.toBe(TRACE_ID);
    expect(parentId(spansByName().get("testInboundWebhook")!)).toBeUndefined();
  });

  it("prefers the payload's trace context over a header replaced on the way", async () => {
    const { inbound, processTask } = makeFunctions();
    await support.callHttps(inbound, {
      headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` },
      body: { eventId: "evt_7" },
    });
    const foreign = `00-${"f".repeat(32)}-${"e".repeat(16)}-01`;
    await processTask({ headers: { traceparent: foreign }, data: queue[0].data });
    expect(spansByName().get("testProcessWebhook")!.spanContext().traceId).toBe(TRACE_ID);
  });

  it("puts the trace field Cloud Logging correlates on every log line of both hops", async () => {
    const { inbound, processTask } = makeFunctions();
    await support.callHttps(inbound, {
      headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` },
      body: { eventId: "evt_3" },
    });
    await processTask({ headers: queue[0].headers, data: queue[0].data });
    const spans = spansByName();
    const accepted = logLine("webhook accepted");
    const processing = logLine("processing webhook");
    const trace = `projects/${process.env.GCLOUD_PROJECT}/traces/${TRACE_ID}`;
    expect(accepted["logging.googleapis.com/trace"]).toBe(trace);
    expect(accepted["logging.googleapis.com/spanId"]).toBe(spans.get("testInboundWebhook")!.spanContext().spanId);
    expect(accepted["logging.googleapis.com/trace_sampled"]).toBe(true);
    expect(accepted.fn).toBe("testInboundWebhook");
    expect(processing["logging.googleapis.com/trace"]).toBe(trace);
    expect(processing["logging.googleapis.com/spanId"]).toBe(spans.get("testProcessWebhook")!.spanContext().spanId);
    expect(processing.fn).toBe("testProcessWebhook");
  });

  it("records the outcome: client errors are not span errors, server faults are", async () => {
    const { inbound } = makeFunctions();
    const client = await support.callHttps(inbound, { body: { eventId: "e", fail: "client" } });
    expect(client.status).toBe(400);
    let span = spansByName().get("testInboundWebhook")!;
    expect(span.attributes["saas.outcome"]).toBe("client_error");
    expect(span.status.code).toBe(0);

    exporter.reset();
    const server = await support.callHttps(inbound, { body: { eventId: "e", fail: "server" } });
    expect(server.status).toBe(500);
    span = spansByName().get("testInboundWebhook")!;
    expect(span.attributes["saas.outcome"]).toBe("server_error");
    expect(span.status.code).toBe(2);
  });

  it("never puts request data on spans: only the documented attributes", async () => {
    const { inbound } = makeFunctions();
    await support.callHttps(inbound, { body: { eventId: "evt_secret_payload" } });
    for (const span of exporter.getFinishedSpans()) {
      expect(JSON.stringify(span.attributes)).not.toContain("evt_secret_payload");
    }
  });
});

describe("sampling", () => {
  afterAll(async () => {
    await installTracing({ exporter, samplePercent: 100, simple: true });
  });

  it("exports nothing at 0 %, even when the caller sends a sampled traceparent, yet logs keep the trace id", async () => {
    await installTracing({ exporter, samplePercent: 0, simple: true });
    const { inbound, processTask } = makeFunctions();
    await support.callHttps(inbound, {
      headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` },
      body: { eventId: "evt_5" },
    });
    await processTask({ headers: queue[0].headers, data: queue[0].data });
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    expect(queue[0].headers.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-00$`));
    expect(logLine("processing webhook")["logging.googleapis.com/trace"]).toContain(TRACE_ID);
    expect(logLine("processing webhook")["logging.googleapis.com/trace_sampled"]).toBe(false);
  });

  it("decides from the trace id alone, so every hop of one trace agrees", async () => {
    await installTracing({ exporter, samplePercent: 50, simple: true });
    const { inbound, processTask } = makeFunctions();
    let sampled = 0;
    for (let i = 0; i < 40; i++) {
      exporter.reset();
      queue.length = 0;
      const traceId = randomBytes(16).toString("hex");
      await support.callHttps(inbound, {
        headers: { traceparent: `00-${traceId}-${CALLER_SPAN}-01` },
        body: { eventId: "e" },
      });
      await processTask({ headers: queue[0].headers, data: queue[0].data });
      const names = exporter.getFinishedSpans().map((s) => s.name);
      // All five spans or none: never a trace with its task half missing.
      expect([0, 5]).toContain(names.length);
      if (names.length === 5) sampled++;
    }
    expect(sampled).toBeGreaterThan(0);
    expect(sampled).toBeLessThan(40);
  });
});

describe("tracing off", () => {
  beforeAll(() => port.setTracingBackend(null));
  afterAll(async () => {
    await installTracing({ exporter, samplePercent: 100, simple: true });
  });

  it("creates no spans, runs withSpan bodies, and still correlates logs with the incoming trace", async () => {
    const { inbound, processTask } = makeFunctions();
    await support.callHttps(inbound, {
      headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` },
      body: { eventId: "evt_6" },
    });
    expect(queue).toHaveLength(1);
    // The trace id is forwarded unchanged so the task's logs join the request's.
    expect(queue[0].headers.traceparent).toBe(`00-${TRACE_ID}-${CALLER_SPAN}-01`);
    await processTask({ headers: queue[0].headers, data: queue[0].data });
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    expect(logLine("webhook accepted")["logging.googleapis.com/trace"]).toContain(TRACE_ID);
    expect(logLine("processing webhook")["logging.googleapis.com/trace"]).toContain(TRACE_ID);
  });

  it("reads Cloud Run's X-Cloud-Trace-Context when there is no traceparent", async () => {
    const { inbound } = makeFunctions();
    await support.callHttps(inbound, {
      headers: { "X-Cloud-Trace-Context": `${TRACE_ID}/12345;o=1` },
      body: { eventId: "e" },
    });
    const line = logLine("webhook accepted");
    expect(line["logging.googleapis.com/trace"]).toContain(TRACE_ID);
    expect(line["logging.googleapis.com/spanId"]).toBe((12345).toString(16).padStart(16, "0"));
  });

  it("logs no trace field when nothing carried one", async () => {
    const { inbound } = makeFunctions();
    await support.callHttps(inbound, { body: { eventId: "e" } });
    expect(logLine("webhook accepted")["logging.googleapis.com/trace"]).toBeUndefined();
  });
});

describe("trace context parsing", () => {
  it.each([
    ["valid", `00-${TRACE_ID}-${CALLER_SPAN}-01`, { traceId: TRACE_ID, spanId: CALLER_SPAN, sampled: true }],
    ["not sampled", `00-${TRACE_ID}-${CALLER_SPAN}-00`, { traceId: TRACE_ID, spanId: CALLER_SPAN, sampled: false }],
    ["all-zero trace id", `00-${"0".repeat(32)}-${CALLER_SPAN}-01`, undefined],
    ["all-zero span id", `00-${TRACE_ID}-${"0".repeat(16)}-01`, undefined],
    ["short trace id", `00-${TRACE_ID.slice(1)}-${CALLER_SPAN}-01`, undefined],
    ["unknown version ff", `ff-${TRACE_ID}-${CALLER_SPAN}-01`, undefined],
    ["garbage", "<script>", undefined],
  ])("%s", (_name, traceparent, expected) => {
    expect(port.parseTraceParent({ traceparent })).toEqual(expected);
  });

  it("extracts from the first carrier that has a valid context and drops everything else", () => {
    const carrier = port.extractTraceContext(
      { traceparent: "bogus" },
      { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`, tracestate: "k=v", authorization: "Bearer x" },
    );
    expect(carrier).toEqual({ traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`, tracestate: "k=v" });
    expect(port.extractTraceContext(undefined, {}, null)).toBeUndefined();
  });
});

describe("exporter selection from TRACE_EXPORTER", () => {
  const saved = { exporter: process.env.TRACE_EXPORTER, percent: process.env.TRACE_SAMPLE_PERCENT };
  afterEach(async () => {
    process.env.TRACE_EXPORTER = saved.exporter;
    process.env.TRACE_SAMPLE_PERCENT = saved.percent;
    await installTracing({ exporter, samplePercent: 100, simple: true });
  });

  it("loads the SDK on the first invocation and prints spans with the console exporter", async () => {
    process.env.TRACE_EXPORTER = "console";
    process.env.TRACE_SAMPLE_PERCENT = "100";
    port.setTracingBackend(undefined);
    const printed: unknown[] = [];
    const dir = jest.spyOn(console, "dir").mockImplementation((value: unknown) => {
      printed.push(value);
    });
    try {
      const { inbound } = makeFunctions();
      await support.callHttps(inbound, {
        headers: { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` },
        body: { eventId: "e" },
      });
    } finally {
      dir.mockRestore();
    }
    const names = printed.map((p) => (p as { name?: string }).name);
    expect(names).toEqual(expect.arrayContaining(["testInboundWebhook", "cloudtasks.enqueue"]));
    expect((printed[0] as { traceId?: string }).traceId).toBe(TRACE_ID);
  });

  it("leaves tracing off with none: no spans, withSpan runs its body", async () => {
    process.env.TRACE_EXPORTER = "none";
    port.setTracingBackend(undefined);
    const { inbound } = makeFunctions();
    await support.callHttps(inbound, { body: { eventId: "e" } });
    expect(queue).toHaveLength(1);
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });

  it("refuses an unknown exporter name on the first invocation", async () => {
    process.env.TRACE_EXPORTER = "zipkin";
    port.setTracingBackend(undefined);
    const { inbound } = makeFunctions();
    const res = await support.callHttps(inbound, { body: { eventId: "e" } }).catch((e: Error) => e);
    expect(String(res)).toContain("TRACE_EXPORTER must be one of none, console, otlp, cloud-trace");
  });

  it.each(["otlp", "cloud-trace"] as const)("builds the %s exporter without network access", async (kind) => {
    const tracing = await createTracing({ exporter: kind, samplePercent: 0 });
    await tracing.shutdown();
  });
});

describe("log lines never carry secrets", () => {
  it("redacts token, secret, password, code, authorization and key fields", () => {
    log.info("sensitive fields", {
      refreshToken: "rt_live_value",
      webhookSecret: "whsec_value",
      password: "hunter2",
      totpCode: "123456",
      authorization: "Bearer id-token-value",
      idempotencyKey: "key-value",
      eventId: "evt_visible",
    });
    const line = logLine("sensitive fields");
    const text = JSON.stringify(line);
    for (const secret of ["rt_live_value", "whsec_value", "hunter2", "123456", "id-token-value", "key-value"]) {
      expect(text).not.toContain(secret);
    }
    expect(line.eventId).toBe("evt_visible");
  });
});
