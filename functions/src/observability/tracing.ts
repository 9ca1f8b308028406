/**
 * The OpenTelemetry tracing backend. Loaded with `await import()` by platform/tracing-port.ts
 * only when TRACE_EXPORTER is not "none", so a deployment without tracing never pays for the
 * SDK at cold start.
 *
 * One private tracer provider per instance (not registered globally, so libraries that look for
 * a global provider, such as the Firestore SDK, do not start emitting their own spans), an
 * AsyncLocalStorage context manager so child spans find their parent across awaits, and the W3C
 * trace-context propagator for incoming requests and Cloud Tasks.
 *
 * Outgoing HTTP calls (webhook deliveries through `node:http`, Google APIs through `http` or
 * `fetch`) get client spans from OpenTelemetry's http and undici instrumentations, loaded here
 * and so only when tracing is on. Those spans keep only method, status and error type: a
 * receiver's URL or address is tenant data and may embed credentials.
 */
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type TextMapGetter,
  type Tracer,
} from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { runtime } from "../platform/config";
import { currentInvocation } from "../platform/context";
import { isClientError } from "../platform/errors";
import type { FunctionSpec } from "../platform/spec";
import type { Carrier, SpanAttributes, TraceExporterKind, TracingBackend } from "../platform/tracing-port";
import { parseTraceParent, setTracingBackend } from "../platform/tracing-port";

/** Span attribute names. Only ids, never names, emails, tokens or payloads. */
export const ATTR = {
  tenant: "saas.tenant_id",
  fn: "faas.name",
  trigger: "faas.trigger",
  outcome: "saas.outcome",
  durationMs: "saas.duration_ms",
  httpStatus: "http.response.status_code",
} as const;

export interface TracingOptions {
  /** Where spans go; "none" is handled by the port and never reaches here. */
  exporter: Exclude<TraceExporterKind, "none"> | SpanExporter;
  /** Percentage (0–100) of traces sampled. */
  samplePercent: number;
  /** Export each span as it ends (tests, console) instead of in batches. */
  simple?: boolean;
}

export interface Tracing extends TracingBackend {
  provider: BasicTracerProvider;
  /** Exports everything buffered; resolves when done or after `timeoutMs`. */
  flush(timeoutMs?: number): Promise<void>;
  shutdown(): Promise<void>;
}

const getter: TextMapGetter<Carrier> = {
  keys: (carrier) => Object.keys(carrier ?? {}),
  get: (carrier, key) => {
    const value = carrier?.[key] ?? carrier?.[key.toLowerCase()];
    if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
    return typeof value === "string" ? value : undefined;
  },
};

async function exporterFor(kind: TracingOptions["exporter"]): Promise<SpanExporter> {
  if (typeof kind !== "string") return kind;
  switch (kind) {
    case "console": {
      const { ConsoleSpanExporter } = await import("@opentelemetry/sdk-trace-base");
      return new ConsoleSpanExporter();
    }
    case "otlp": {
      // Endpoint and headers come from the standard OTEL_EXPORTER_OTLP_* variables.
      const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
      return new OTLPTraceExporter();
    }
    case "cloud-trace": {
      const { TraceExporter } = await import("@google-cloud/opentelemetry-cloud-trace-exporter");
      return new TraceExporter({ projectId: runtime.projectId() || undefined });
    }
  }
}

/**
 * The sampling decision is a pure function of the trace id (TraceIdRatioBased) for roots and
 * for remote parents alike, instead of obeying an incoming "sampled" flag: every hop of one
 * trace (HTTPS request, then its Cloud Task) decides the same way, and a caller cannot force
 * 100 % sampling, and its export cost, by sending `traceparent: …-01`.
 */
function samplerFor(percent: number): Sampler {
  const ratio = new TraceIdRatioBasedSampler(Math.min(100, Math.max(0, percent)) / 100);
  return new ParentBasedSampler({ root: ratio, remoteParentSampled: ratio, remoteParentNotSampled: ratio });
}

let contextManagerInstalled = false;

/** Instrumentation scopes whose spans describe outgoing HTTP calls. */
const HTTP_CLIENT_SCOPES = new Set(["@opentelemetry/instrumentation-http", "@opentelemetry/instrumentation-undici"]);

/** The attributes an outgoing call's span keeps (semantic conventions, old and stable names). */
const HTTP_CLIENT_ATTRIBUTES = new Set([
  "http.request.method",
  "http.response.status_code",
  "http.method",
  "http.status_code",
  "error.type",
  "network.protocol.version",
]);

/** An outgoing call's span without URL, host, address, events or error message. */
function redactHttpClientSpan(span: ReadableSpan): ReadableSpan {
  if (!HTTP_CLIENT_SCOPES.has(span.instrumentationScope.name)) return span;
  const attributes = Object.fromEntries(Object.entries(span.attributes).filter(([k]) => HTTP_CLIENT_ATTRIBUTES.has(k)));
  const redacted: Partial<ReadableSpan> = { attributes, events: [], status: { code: span.status.code } };
  return new Proxy(span, {
    get: (target, key) =>
      Object.hasOwn(redacted, key) ? redacted[key as keyof ReadableSpan] : Reflect.get(target, key),
  });
}

/** Wraps an exporter so that no outgoing call's span leaves the process unredacted. */
function redacting(inner: SpanExporter): SpanExporter {
  return {
    export: (spans, done) => inner.export(spans.map(redactHttpClientSpan), done),
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}

let httpClientsInstrumented = false;

/**
 * Client spans for outgoing HTTP: only inside an invocation (never for token refreshes or the
 * exporter's own requests), never for incoming requests (the invocation has its span).
 */
async function instrumentHttpClients(provider: BasicTracerProvider): Promise<void> {
  if (httpClientsInstrumented) return;
  httpClientsInstrumented = true;
  const [{ HttpInstrumentation }, { UndiciInstrumentation }] = await Promise.all([
    import("@opentelemetry/instrumentation-http"),
    import("@opentelemetry/instrumentation-undici"),
  ]);
  // Constructed enabled (the undici instrumentation ignores requests when its config says
  // otherwise); nothing is recorded before the provider is set, on the next line.
  const http = new HttpInstrumentation({
    disableIncomingRequestInstrumentation: true,
    requireParentforOutgoingSpans: true,
  });
  const undici = new UndiciInstrumentation({ requireParentforSpans: true });
  http.setTracerProvider(provider);
  undici.setTracerProvider(provider);
  // The http instrumentation patches a module when it is next loaded through Node's loader;
  // `http` and `https` were loaded long before tracing started, so patch them now (their exports
  // are shared objects: every importer sees the patch). Patching again later is harmless.
  for (const definition of http.getModuleDefinitions()) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the module object itself, not an import copy
    if (definition.name === "http" || definition.name === "https") definition.patch?.(require(definition.name));
  }
}

/** Creates a tracing backend. Does not install it; see `installTracing`. */
export async function createTracing(options: TracingOptions): Promise<Tracing> {
  if (!contextManagerInstalled) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    contextManagerInstalled = true;
  }
  const exporter = redacting(await exporterFor(options.exporter));
  const processor: SpanProcessor =
    options.simple || options.exporter === "console"
      ? new SimpleSpanProcessor(exporter)
      : new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000 });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "saas-core-functions", "cloud.provider": "gcp" }),
    sampler: samplerFor(options.samplePercent),
    spanProcessors: [processor],
  });
  await instrumentHttpClients(provider);
  const tracer: Tracer = provider.getTracer("saas-core");
  const propagator = new W3CTraceContextPropagator();

  const flush = async (timeoutMs = 2000): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      provider.forceFlush().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  };

  return {
    provider,
    flush,
    shutdown: () => provider.shutdown(),

    async invocation<T>(spec: FunctionSpec, carrier: Carrier, run: () => Promise<T>): Promise<T> {
      const parent: Context = propagator.extract(ROOT_CONTEXT, w3cCarrier(carrier), getter);
      const kind = spec.kind === "task" ? SpanKind.CONSUMER : SpanKind.SERVER;
      const span = tracer.startSpan(
        spec.name,
        { kind, attributes: { [ATTR.fn]: spec.name, [ATTR.trigger]: spec.kind === "task" ? "pubsub" : "http" } },
        parent,
      );
      const sc = span.spanContext();
      const inv = currentInvocation();
      if (inv) {
        inv.traceId = sc.traceId;
        inv.spanId = sc.spanId;
        inv.traceSampled = (sc.traceFlags & 1) === 1;
      }
      const started = performance.now();
      const finish = (outcome: string, status?: number, serverFault = false) => {
        const tenantId = currentInvocation()?.tenantId;
        if (tenantId) span.setAttribute(ATTR.tenant, tenantId);
        span.setAttribute(ATTR.outcome, outcome);
        span.setAttribute(ATTR.durationMs, Math.round(performance.now() - started));
        if (status !== undefined) span.setAttribute(ATTR.httpStatus, status);
        if (serverFault) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
        span.end();
      };
      try {
        const result = await context.with(trace.setSpan(parent, span), run);
        const status = (result as { status?: unknown } | null)?.status;
        if (typeof status === "number") {
          finish(status < 400 ? "ok" : status < 500 ? "client_error" : "server_error", status, status >= 500);
        } else {
          finish("ok");
        }
        return result;
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        finish(typeof code === "string" ? code : "internal", undefined, !isClientError(error));
        throw error;
      } finally {
        // Cloud Functions may throttle the CPU once the response is sent, so a sampled root
        // span is exported before returning rather than left in the batch buffer.
        if ((sc.traceFlags & 1) === 1 && !(processor instanceof SimpleSpanProcessor)) await flush();
      }
    },

    async span<T>(name: string, attributes: SpanAttributes, fn: () => Promise<T>): Promise<T> {
      return tracer.startActiveSpan(name, { kind: SpanKind.INTERNAL, attributes }, async (span) => {
        try {
          const result = await fn();
          span.end();
          return result;
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : "error" });
          span.end();
          throw error;
        }
      });
    },

    inject(carrier: Record<string, string>): void {
      propagator.inject(context.active(), carrier, {
        set: (c, key, value) => {
          c[key] = value;
        },
      });
    },
  };
}

/** The carrier as W3C headers; a Cloud Run `X-Cloud-Trace-Context` alone is translated. */
function w3cCarrier(carrier: Carrier): Carrier {
  if (!carrier || getter.get(carrier, "traceparent")) return carrier;
  const parsed = parseTraceParent(carrier);
  return parsed ? { traceparent: `00-${parsed.traceId}-${parsed.spanId}-${parsed.sampled ? "01" : "00"}` } : carrier;
}

/**
 * Creates a backend and makes it the active one for every wrapper (tests pass an
 * `InMemorySpanExporter`; production goes through TRACE_EXPORTER instead).
 */
export async function installTracing(options: TracingOptions): Promise<Tracing> {
  const tracing = await createTracing(options);
  setTracingBackend(tracing);
  return tracing;
}
