/**
 * Job metrics: `jobs_total{type,outcome}` and the attempt duration as the histogram
 * `job_duration_seconds{type,outcome}`. Labels stay low-cardinality: the job type (a fixed
 * catalogue) and the outcome, never ids.
 */
import { describeMetric, metrics } from "../platform/metrics";

/** Upper bounds (seconds) of the duration buckets: a few seconds up to the longest job timeout. */
export const DURATION_BUCKETS = [1, 5, 15, 60, 300, 900, 1800] as const;

describeMetric("job_duration_seconds", "Duration of job attempts by type and outcome", { buckets: DURATION_BUCKETS });
describeMetric("jobs_total", "Job attempts by type and outcome");

/** `discarded`: the attempt ended after the job was cancelled or its lease taken over. */
export type JobOutcome = "succeeded" | "failed" | "retry" | "discarded";

/** Records one finished attempt of a job of `type` that took `seconds`. */
export function observeJob(type: string, outcome: JobOutcome, seconds: number): void {
  metrics.inc("jobs_total", { type, outcome });
  metrics.observe("job_duration_seconds", { type, outcome }, seconds);
}
