/**
 * `# HELP` text for counters recorded by modules that do not describe their own (tenant cache,
 * storage, health). Loaded by the health module, which every instance loads, so the metrics
 * endpoint always has these descriptions.
 */
import { describeMetric } from "./metrics-prometheus";

describeMetric("tenant_cache_lookups_total", "Tenant/membership cache lookups by outcome (hit, miss): the hit ratio");
describeMetric("l2_cache_lookups_total", "Shared (Redis) L2 cache lookups by outcome (hit, miss, unavailable)");
describeMetric("rate_limited_total", "Calls refused by a rate-limit policy, by policy");
describeMetric("storage_signed_urls_total", "Signed storage URL requests by action (upload, download) and outcome");
describeMetric("health_checks_total", "Dependency checks run by the health endpoint by check and status");
describeMetric(
  "webhook_events_published_total",
  "Outgoing webhook events published by outcome (fanned-out, no-endpoints)",
);
describeMetric(
  "webhook_deliveries_total",
  "Outgoing webhook delivery attempts by outcome (delivered, failed, gone, exhausted)",
);
describeMetric("inbound_webhooks_total", "Inbound provider webhook requests by provider and outcome");
describeMetric("inbound_events_total", "Inbound events processed by the task handler by outcome");
describeMetric("dead_letter_notifications_total", "Dead-letter notices published by source and outcome");
describeMetric("dead_letter_replays_total", "Dead letters replayed by source and outcome");
