/**
 * Readiness and liveness with a short result cache.
 *
 * Readiness runs every dependency check in parallel; the report is cached for a few seconds and
 * concurrent requests share one in-flight run, so however often the public endpoint is called
 * it causes at most one round of dependency calls per cache period per instance. Failed reports
 * are cached too: a failing dependency is exactly when extra load hurts most.
 */
import { metrics } from "../platform/metrics";
import { runCheck, type CheckResult, type NamedCheck } from "./checks";

export type OverallStatus = "ok" | "fail";

export interface HealthReport {
  status: OverallStatus;
  checkedAt: string;
  checks: CheckResult[];
}

export interface ProbeOptions {
  /** The checks to run; a function so discovery (queue names, bucket) can be lazy. */
  checks: () => Promise<readonly NamedCheck[]> | readonly NamedCheck[];
  cacheMs?: number;
  timeoutMs?: number;
  /** Wall clock in ms (cache expiry and `checkedAt`). */
  now?: () => number;
}

export interface HealthProbe {
  /** Full readiness report, from the cache when fresh. */
  ready(): Promise<HealthReport>;
  /** Liveness: the process answers. Touches no dependency. */
  live(): { status: OverallStatus };
  /** Forgets the cached report (tests). */
  reset(): void;
}

/** Overall status: "fail" when any check failed; skipped checks do not fail readiness. */
export function overall(checks: readonly CheckResult[]): OverallStatus {
  return checks.some((c) => c.status === "fail") ? "fail" : "ok";
}

/** Creates a probe over `options.checks` with its own cache. */
export function createHealthProbe(options: ProbeOptions): HealthProbe {
  const now = options.now ?? Date.now;
  const cacheMs = options.cacheMs ?? 5000;
  let cached: { at: number; report: HealthReport } | undefined;
  let inflight: Promise<HealthReport> | undefined;

  const run = async (): Promise<HealthReport> => {
    const checks = await options.checks();
    const results = await Promise.all(checks.map((c) => runCheck(c.name, c.check, options.timeoutMs)));
    for (const r of results) metrics.inc("health_checks_total", { check: r.name, status: r.status });
    const at = now();
    const report = { status: overall(results), checkedAt: new Date(at).toISOString(), checks: results };
    cached = { at, report };
    return report;
  };

  return {
    async ready() {
      if (cached && now() - cached.at < cacheMs) return cached.report;
      inflight ??= run().finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
    live: () => ({ status: "ok" }),
    reset() {
      cached = undefined;
    },
  };
}
