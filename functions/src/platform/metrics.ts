/**
 * In-process metrics on prom-client. Modules record with `metrics.inc(name, labels)` (counters)
 * and `metrics.observe(name, labels, value)` (histograms); labels must be low-cardinality
 * (function, outcome, reason — never a tenant id, uid or key). How metrics leave the instance
 * (aggregation, the Prometheus endpoint) is the observability module's job.
 *
 * A metric's label names are fixed by its first use. A later call with another label name is a
 * programming error: it is dropped and logged once, so a metric can never fail a request.
 */
import type { Counter as PromCounter, Histogram as PromHistogram, Registry as PromRegistry } from "prom-client";
import { log } from "./logger";

/* eslint-disable @typescript-eslint/no-require-imports -- see below */
// prom-client's index also loads default process metrics, Pushgateway and Summary (tdigest),
// tens of milliseconds at cold start; the request path needs only these three classes.
const Registry = require("prom-client/lib/registry") as typeof PromRegistry;
const Counter = require("prom-client/lib/counter") as typeof PromCounter;
const Histogram = require("prom-client/lib/histogram") as typeof PromHistogram;
/* eslint-enable @typescript-eslint/no-require-imports */

export type Labels = Readonly<Record<string, string>>;

/**
 * A metric family as prom-client reports it at run time (its typings declare `type` as a numeric
 * enum; the values are these strings). Histogram values carry `metricName` (`_bucket` with an
 * `le` label, `_sum`, `_count`).
 */
export interface MetricFamily {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram" | "summary";
  aggregator: string;
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

/**
 * Bucket bounds (seconds) for durations: the OpenTelemetry semantic conventions' advice for
 * `http.server.request.duration`, which `faas.invoke_duration` shares.
 */
export const DURATION_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

interface Description {
  help: string;
  buckets?: readonly number[];
}

/**
 * `# HELP` texts (and histogram buckets) of the product's metrics. Kept here, where every
 * instance that records or scrapes loads them, so the text is the same whichever module ran.
 */
const descriptions = new Map<string, Description>([
  ["faas_invoke_duration_seconds", { help: "Function invocation duration by function, kind and outcome code" }],
  ["faas_errors_total", { help: "Function invocations that ended with an error, by function and code" }],
  [
    "idempotency_requests_total",
    {
      help: "Calls of idempotent functions by outcome: first (ran the handler), replay, mismatch, in_flight, missing_key",
    },
  ],
  [
    "idempotency_results_total",
    {
      help: "How idempotent runs ended: completed, failed (stored error), released (server error), lease_lost, unstored",
    },
  ],
  ["idempotency_lock_takeovers_total", { help: "Idempotency leases that expired and were taken over by a retry" }],
  ["idempotency_stored_bytes_total", { help: "Bytes of responses stored in idempotency records" }],
  ["tenant_cache_lookups_total", { help: "Tenant/membership cache lookups by outcome (hit, miss): the hit ratio" }],
  ["rbac_denials_total", { help: "Permission denials by function and permission" }],
  ["rate_limited_total", { help: "Calls refused by a rate-limit policy, by policy" }],
  ["l2_cache_lookups_total", { help: "Shared (Redis) L2 cache lookups by outcome (hit, miss, unavailable)" }],
  ["storage_signed_urls_total", { help: "Signed storage URL requests by action (upload, download) and outcome" }],
  ["health_checks_total", { help: "Dependency checks run by the health endpoint by check and status" }],
  ["payments_created_total", { help: "Payments created (createPayment calls that took effect)" }],
  ["sessions_started_total", { help: "App sessions started, by whether the sign-in was MFA-verified" }],
  ["session_rotations_total", { help: "Refresh token rotations by outcome (rotated, grace)" }],
  ["session_refresh_rejected_total", { help: "Refresh attempts refused, by reason" }],
  [
    "session_reuse_detected_total",
    { help: "Refresh token reuse detections (the session family was revoked), by reason" },
  ],
  ["sessions_revoked_total", { help: "Sessions revoked, by reason" }],
  ["mfa_enrolments_total", { help: "TOTP enrolments started" }],
  ["mfa_verifications_total", { help: "Successful second-factor verifications by method (totp, recovery)" }],
  ["mfa_failures_total", { help: "Failed second-factor verifications by reason" }],
  ["mfa_lockouts_total", { help: "Second-factor lockouts after too many failures" }],
  ["mfa_disabled_total", { help: "Second factors removed" }],
  [
    "webhook_events_published_total",
    { help: "Outgoing webhook events published by outcome (fanned-out, no-endpoints)" },
  ],
  [
    "webhook_deliveries_total",
    { help: "Outgoing webhook delivery attempts by outcome (delivered, failed, gone, exhausted)" },
  ],
  ["webhook_endpoints_disabled_total", { help: "Webhook endpoints disabled automatically, by reason (gone, failing)" }],
  ["inbound_webhooks_total", { help: "Inbound provider webhook requests by provider and outcome" }],
  ["inbound_events_total", { help: "Inbound events processed by the task handler by outcome" }],
  [
    "dead_letter_notifications_total",
    { help: "Dead letters written (notice published or failed), by source and outcome" },
  ],
  ["dead_letter_replays_total", { help: "Dead letters replayed by source and outcome" }],
]);

/**
 * Describes a metric (its `# HELP` text, and for a histogram its buckets). Takes effect for
 * metrics not yet used on this instance; modules call it at load time.
 */
export function describeMetric(name: string, help: string, options: { buckets?: readonly number[] } = {}): void {
  descriptions.set(name, { help, ...options });
}

/** The `# HELP` text of a metric (a generic one when it was never described). */
export function metricHelp(name: string): string {
  return descriptions.get(name)?.help ?? `Metric ${name}`;
}

/** This instance's registry: every metric recorded through `metrics` lives here. */
export const registry: PromRegistry = new Registry();

const counters = new Map<string, PromCounter>();
const histograms = new Map<string, PromHistogram>();
const listeners = new Set<() => void>();
const warned = new Set<string>();

function counter(name: string, labels: Labels): PromCounter {
  let c = counters.get(name);
  if (!c) {
    c = new Counter({ name, help: metricHelp(name), labelNames: Object.keys(labels), registers: [registry] });
    counters.set(name, c);
  }
  return c;
}

function histogram(name: string, labels: Labels): PromHistogram {
  let h = histograms.get(name);
  if (!h) {
    const buckets = [...(descriptions.get(name)?.buckets ?? DURATION_BUCKETS)];
    h = new Histogram({
      name,
      help: metricHelp(name),
      labelNames: Object.keys(labels),
      buckets,
      registers: [registry],
    });
    histograms.set(name, h);
  }
  return h;
}

function record(name: string, write: () => void): void {
  try {
    write();
  } catch (error) {
    if (!warned.has(name)) {
      warned.add(name);
      log.error("metric dropped: its labels or value do not match its first use", {
        metric: name,
        message: error instanceof Error ? error.message : String(error),
      });
    }
    return;
  }
  listeners.forEach((listener) => listener());
}

export const metrics = {
  /** Adds `value` (default 1) to the counter `name` with `labels`. */
  inc(name: string, labels: Labels = {}, value = 1): void {
    record(name, () => counter(name, labels).inc(labels, value));
  },
  /** Records `value` (seconds, for durations) in the histogram `name` with `labels`. */
  observe(name: string, labels: Labels, value: number): void {
    record(name, () => histogram(name, labels).observe(labels, value));
  },
  /** Every metric family on this instance. */
  snapshot(): Promise<MetricFamily[]> {
    return registry.getMetricsAsJSON() as unknown as Promise<MetricFamily[]>;
  },
  /** The current value of one counter series (0 when never incremented). */
  async value(name: string, labels: Labels = {}): Promise<number> {
    const c = counters.get(name);
    if (!c) return 0;
    const wanted = JSON.stringify(Object.entries(labels).sort());
    const { values } = await c.get();
    return values.find((v) => JSON.stringify(Object.entries(v.labels).sort()) === wanted)?.value ?? 0;
  },
  /** Subscribes to every recording (the aggregator arms its flush); returns an unsubscribe function. */
  onRecord(listener: () => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  /** Zeroes every metric (tests). */
  reset(): void {
    registry.resetMetrics();
  },
};
