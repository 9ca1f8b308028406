/**
 * Where the wrappers (and task handlers) hand over to tracing.
 *
 * The OpenTelemetry SDK is heavy, so it is loaded only when an exporter is configured
 * (TRACE_EXPORTER != none), on the first invocation. With tracing off every helper here is a
 * pass-through that costs a branch; the one thing still done is reading an incoming W3C
 * `traceparent` (or Cloud Run's `X-Cloud-Trace-Context`) into the invocation context, so log
 * lines correlate with the request's trace in Cloud Logging even without our own spans.
 *
 * The backend itself lives in `src/observability/tracing.ts`; tests install one with an
 * in-memory exporter through `installTracing()` there.
 */
import { choiceValue, intValue, params } from "./config";
import { currentInvocation, withInvocation } from "./context";
import { observeInvocation } from "./observe";
import type { FunctionSpec } from "./spec";

/** Incoming headers, or any string record that may carry `traceparent` / `tracestate`. */
export type Carrier = Record<string, unknown> | undefined | null;

export type SpanAttributes = Record<string, string | number | boolean>;

export const TRACE_EXPORTERS = ["none", "console", "otlp", "cloud-trace"] as const;
export type TraceExporterKind = (typeof TRACE_EXPORTERS)[number];

/** What a tracing backend provides; implemented by `src/observability/tracing.ts`. */
export interface TracingBackend {
  /** Runs one function invocation inside a server/consumer span continuing `carrier`'s trace. */
  invocation<T>(spec: FunctionSpec, carrier: Carrier, run: () => Promise<T>): Promise<T>;
  /** Runs `fn` inside a child span of the current span. */
  span<T>(name: string, attributes: SpanAttributes, fn: () => Promise<T>): Promise<T>;
  /** Writes the current span's context into `carrier` (W3C trace context). */
  inject(carrier: Record<string, string>): void;
}

/** A parsed W3C trace parent. */
export interface TraceParent {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

// undefined: not decided yet (decided from TRACE_EXPORTER on the first invocation); null: off.
let backend: TracingBackend | null | undefined;
let loading: Promise<TracingBackend | null> | undefined;

/** Installs (or, with `null`, disables) the tracing backend; `undefined` re-reads the param. */
export function setTracingBackend(next: TracingBackend | null | undefined): void {
  backend = next;
  loading = undefined;
}

async function resolveBackend(): Promise<TracingBackend | null> {
  if (backend !== undefined) return backend;
  loading ??= (async () => {
    const exporter = choiceValue(params.traceExporter, TRACE_EXPORTERS);
    if (exporter === "none") return null;
    const { createTracing } = await import("../observability/tracing");
    return createTracing({ exporter, samplePercent: intValue(params.traceSamplePercent) });
  })();
  const resolved = await loading;
  // A concurrent setTracingBackend() (tests) wins over the param-based decision.
  if (backend === undefined) backend = resolved;
  return backend;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const CLOUD_TRACE = /^([0-9a-fA-F]{32})(?:\/(\d{1,20}))?(?:;o=([01]))?$/;

function header(carrier: Carrier, name: string): string | undefined {
  if (!carrier || typeof carrier !== "object") return undefined;
  const value = carrier[name] ?? carrier[name.toLowerCase()];
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === "string" ? first.trim() : undefined;
}

/**
 * Parses a W3C `traceparent` (version 00) or, failing that, Cloud Run's `X-Cloud-Trace-Context`.
 * All-zero ids are invalid per the spec and are ignored, as is anything malformed.
 */
export function parseTraceParent(carrier: Carrier): TraceParent | undefined {
  const tp = header(carrier, "traceparent")?.toLowerCase();
  const m = tp ? TRACEPARENT.exec(tp) : null;
  if (m && !/^0+$/.test(m[1]) && !/^0+$/.test(m[2])) {
    return { traceId: m[1], spanId: m[2], sampled: (parseInt(m[3], 16) & 1) === 1 };
  }
  const xc = header(carrier, "x-cloud-trace-context");
  const c = xc ? CLOUD_TRACE.exec(xc) : null;
  if (c && !/^0+$/.test(c[1])) {
    const span = c[2] ? BigInt(c[2]) : 0n;
    if (span === 0n || span >= 1n << 64n) return undefined;
    return { traceId: c[1].toLowerCase(), spanId: span.toString(16).padStart(16, "0"), sampled: c[3] === "1" };
  }
  return undefined;
}

/**
 * Runs one invocation of `spec` inside a span when tracing is on. `carrier` is the request
 * headers (HTTPS, callables) or the trace context a task carried (see `extractTraceContext`).
 *
 * Durations, errors and the request log line are recorded around it, by `observeInvocation`.
 */
export async function traceInvocation<T>(spec: FunctionSpec, carrier: Carrier, run: () => Promise<T>): Promise<T> {
  const active = await resolveBackend();
  if (active) return active.invocation(spec, carrier, run);
  const parent = parseTraceParent(carrier);
  const ctx = currentInvocation();
  if (parent && ctx) {
    ctx.traceId = parent.traceId;
    ctx.spanId = parent.spanId;
    ctx.traceSampled = parent.sampled;
  }
  return run();
}

/**
 * Runs `fn` in a child span named `name` (Firestore transactions, Cloud Tasks enqueues,
 * outgoing webhook calls). A plain call when tracing is off or not yet started.
 */
export function withSpan<T>(name: string, fn: () => Promise<T>, attributes: SpanAttributes = {}): Promise<T> {
  return backend ? backend.span(name, attributes, fn) : fn();
}

/**
 * Writes the current trace context into `carrier` (`traceparent`, and `tracestate` when set)
 * and returns it. Call it when enqueueing a Cloud Task: pass the result as the task's HTTP
 * headers and/or put it in the payload, so the task handler continues the same trace. With
 * tracing off it still forwards the incoming trace id, so logs of both hops correlate.
 */
export function injectTraceContext<C extends Record<string, string>>(carrier: C): C {
  if (backend) {
    backend.inject(carrier);
    return carrier;
  }
  const ctx = currentInvocation();
  if (ctx?.traceId && ctx.spanId) {
    (carrier as Record<string, string>).traceparent =
      `00-${ctx.traceId}-${ctx.spanId}-${ctx.traceSampled ? "01" : "00"}`;
  }
  return carrier;
}

/**
 * Picks the trace context out of the first carrier that has a valid one (a task's headers,
 * then its payload's `trace` field, for example). Returns a carrier for `traceInvocation`, or
 * undefined when none carries a valid `traceparent`.
 */
export function extractTraceContext(...carriers: Carrier[]): Record<string, string> | undefined {
  for (const carrier of carriers) {
    if (!parseTraceParent(carrier)) continue;
    const out: Record<string, string> = {};
    const tp = header(carrier, "traceparent");
    const ts = header(carrier, "tracestate");
    const xc = header(carrier, "x-cloud-trace-context");
    if (tp) out.traceparent = tp;
    if (ts) out.tracestate = ts.slice(0, 512);
    if (!tp && xc) out["x-cloud-trace-context"] = xc;
    return out;
  }
  return undefined;
}

/**
 * Runs a task-queue handler as an invocation: invocation context (function name for logs), the
 * duration, error and request-log envelope (platform/observe.ts), and a consumer span continuing the trace the enqueuer injected into the payload field `trace` or
 * into the task's headers. The payload copy wins: it is ours end to end, while a `traceparent`
 * header may have been replaced by the infrastructure that dispatched the task.
 */
export function traceTask<T>(
  spec: FunctionSpec,
  request: { headers?: Record<string, string>; data?: unknown },
  run: () => Promise<T>,
): Promise<T> {
  const payloadTrace = (request.data as { trace?: unknown } | undefined)?.trace;
  const carrier = extractTraceContext(payloadTrace as Carrier, request.headers);
  return withInvocation({ fn: spec.name }, () => observeInvocation(spec, () => traceInvocation(spec, carrier, run)));
}
