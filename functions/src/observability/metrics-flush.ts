/**
 * This instance's metrics aggregator, started on import. index.ts imports this module in every
 * instance (its exports are wired lazily, so nothing else would load it), so every counter any
 * module records through `platform/metrics.ts` reaches the shared counters behind the `metrics`
 * endpoint. Light on purpose: Firestore loads only when the first flush runs.
 */
// The counters live at the platform path _metrics/, outside every tenant.
// eslint-disable-next-line no-restricted-imports
import { rootFirestore } from "../platform/admin";
import { intValue, params } from "../platform/config";
import { createAggregator } from "./metrics-aggregate";

/** Flushes at most once per METRICS_FLUSH_SECONDS after increments. */
export const metricsAggregator = createAggregator({
  rootDb: rootFirestore,
  intervalMs: () => intValue(params.metricsFlushSeconds) * 1000,
  shards: () => intValue(params.metricsShards),
});
metricsAggregator.start();
