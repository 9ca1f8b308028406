/**
 * `metrics`: the product's counters and histograms in Prometheus text format, summed across
 * instances and rendered by prom-client (see metrics-aggregate.ts for the design). Operators
 * only: a bearer token equal to the OPERATOR_TOKEN secret, compared in constant time.
 *
 * Each instance's own aggregator starts in metrics-flush.ts, which index.ts imports everywhere.
 */
import { z } from "zod";
// The counters live at the platform path _metrics/, outside every tenant.
// eslint-disable-next-line no-restricted-imports
import { rootFirestore } from "../platform/admin";
import { secrets } from "../platform/config";
import { unauthenticated } from "../platform/errors";
import { httpsEndpoint, problem, type HttpResult } from "../platform/https";
import { log } from "../platform/logger";
import { readAggregated } from "./metrics-aggregate";
import { metricsAggregator } from "./metrics-flush";
import { bearerMatches } from "./metrics-auth";

export { metricsAggregator };

/** Renders the aggregated metrics (after flushing this instance's own increments). */
export async function scrape(db = rootFirestore()): Promise<HttpResult> {
  await metricsAggregator.flush();
  const registry = await readAggregated(db);
  return {
    status: 200,
    contentType: registry.contentType,
    headers: { "Cache-Control": "no-store" },
    text: await registry.metrics(),
  };
}

export const metrics = httpsEndpoint(
  {
    name: "metrics",
    description:
      "Prometheus text exposition of every counter and histogram, summed across instances; requires the operator bearer token.",
    methods: ["GET"],
    input: z.object({}).passthrough(),
    auth: "none",
    options: { secrets: [secrets.operatorToken] },
  },
  async ({ req }) => {
    if (!bearerMatches(req.headers.authorization, secrets.operatorToken.value())) {
      log.security("metrics-token-rejected", { presented: typeof req.headers.authorization === "string" });
      const refused = problem(unauthenticated("A valid operator bearer token is required."));
      return { ...refused, headers: { ...refused.headers, "WWW-Authenticate": 'Bearer realm="metrics"' } };
    }
    return scrape();
  },
);
