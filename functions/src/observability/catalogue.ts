/**
 * `# HELP` text for counters recorded by modules that do not describe their own (tenant cache,
 * storage, health). Loaded by the health module, which every instance loads, so the metrics
 * endpoint always has these descriptions.
 */
import { describeMetric } from "./metrics-prometheus";

describeMetric("tenant_cache_lookups_total", "Tenant/membership cache lookups by outcome (hit, miss): the hit ratio");
describeMetric("storage_signed_urls_total", "Signed storage URL requests by action (upload, download) and outcome");
describeMetric("health_checks_total", "Dependency checks run by the health endpoint by check and status");
