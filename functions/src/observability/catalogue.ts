/**
 * `# HELP` text for counters recorded by platform and module code that does not describe its
 * own (function invocations, tenant cache, storage, health). Loaded by the health module, which
 * every instance loads, so the metrics endpoint always has these descriptions.
 */
import { describeMetric } from "./metrics-prometheus";

describeMetric(
  "function_invocations_total",
  "Invocations of every wrapped function by outcome (ok, error code, 4xx/5xx)",
);
describeMetric("tenant_cache_lookups_total", "Tenant/membership cache lookups by outcome (hit, miss): the hit ratio");
describeMetric("storage_signed_urls_total", "Signed storage URL requests by action (upload, download) and outcome");
describeMetric("health_checks_total", "Dependency checks run by the health endpoint by check and status");
