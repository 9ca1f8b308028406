/**
 * Prometheus text exposition (format 0.0.4) of counter samples. Generic over whatever modules
 * record through `platform/metrics.ts`; a module may describe its counters with
 * `describeMetric()` for the `# HELP` line.
 */
import type { CounterSample, Labels } from "../platform/metrics";

const help = new Map<string, string>();

/** Registers the `# HELP` text of a counter (optional; a generic line is used otherwise). */
export function describeMetric(name: string, text: string): void {
  help.set(name, text);
}

describeMetric(
  "idempotency_requests_total",
  "Calls of idempotent functions by outcome: first (ran the handler), replay, mismatch, in_flight, missing_key",
);
describeMetric(
  "idempotency_results_total",
  "How idempotent runs ended: completed, failed (stored error), released (server error), lease_lost, unstored",
);
describeMetric("idempotency_lock_takeovers_total", "Idempotency leases that expired and were taken over by a retry");
describeMetric("idempotency_stored_bytes_total", "Bytes of responses stored in idempotency records");

/** The `# HELP` text of a counter. */
export function metricHelp(name: string): string {
  return help.get(name) ?? `Counter ${name}`;
}

/** Metric names allow [a-zA-Z_:][a-zA-Z0-9_:]*; anything else becomes '_'. */
export function metricName(name: string): string {
  const safe = name.replace(/[^a-zA-Z0-9_:]/g, "_");
  return /^[a-zA-Z_:]/.test(safe) ? safe : `_${safe}`;
}

function labelName(name: string): string {
  const safe = name.replace(/[^a-zA-Z0-9_]/g, "_");
  return /^[a-zA-Z_]/.test(safe) && !safe.startsWith("__") ? safe : `l_${safe}`;
}

/** Label values escape backslash, double quote and line feed, as the format requires. */
export function labelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function helpText(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function seriesLabels(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${labelName(k)}="${labelValue(labels[k])}"`).join(",")}}`;
}

/**
 * Renders counters as Prometheus text: one `# HELP`/`# TYPE … counter` block per name, series
 * sorted by name and labels so the output is stable between scrapes.
 */
export function renderPrometheus(samples: readonly CounterSample[]): string {
  const byName = new Map<string, { labels: string; value: number }[]>();
  for (const sample of samples) {
    const name = metricName(sample.name);
    const series = byName.get(name) ?? [];
    series.push({ labels: seriesLabels(sample.labels), value: sample.value });
    byName.set(name, series);
  }
  const lines: string[] = [];
  for (const name of [...byName.keys()].sort()) {
    lines.push(`# HELP ${name} ${helpText(metricHelp(name))}`);
    lines.push(`# TYPE ${name} counter`);
    const series = (byName.get(name) ?? []).sort((a, b) => (a.labels < b.labels ? -1 : a.labels > b.labels ? 1 : 0));
    for (const s of series) lines.push(`${name}${s.labels} ${s.value}`);
  }
  return lines.length > 0 ? `${lines.join("\n")}\n` : "";
}
