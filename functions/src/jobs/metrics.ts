/**
 * Job metrics through the platform counters: `jobs_total{type,outcome}` and the job duration as a
 * Prometheus histogram written as cumulative counters (`job_duration_seconds_bucket{le}`, `_sum`,
 * `_count`), so the existing exposition and cross-instance aggregation carry it unchanged.
 * Labels stay low-cardinality: the job type (a fixed catalogue) and the outcome, never ids.
 */
import { metrics } from "../platform/metrics";

/** Upper bounds (seconds) of the duration buckets: a few seconds up to the longest job timeout. */
export const DURATION_BUCKETS = [1, 5, 15, 60, 300, 900, 1800] as const;

/** `discarded`: the attempt ended after the job was cancelled or its lease taken over. */
export type JobOutcome = "succeeded" | "failed" | "retry" | "discarded";

/** Records one finished attempt of a job of `type` that took `seconds`. */
export function observeJob(type: string, outcome: JobOutcome, seconds: number): void {
  metrics.inc("jobs_total", { type, outcome });
  const labels = { type, outcome };
  for (const le of DURATION_BUCKETS) {
    if (seconds <= le) metrics.inc("job_duration_seconds_bucket", { ...labels, le: String(le) });
  }
  metrics.inc("job_duration_seconds_bucket", { ...labels, le: "+Inf" });
  metrics.inc("job_duration_seconds_sum", labels, seconds);
  metrics.inc("job_duration_seconds_count", labels);
}
