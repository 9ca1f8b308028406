/**
 * What every invocation (callable, HTTPS, task) records, once, in the wrappers' envelope:
 *
 * - `faas_invoke_duration_seconds{fn, kind, code}`: a histogram of its duration (OpenTelemetry
 *   `faas.invoke_duration`, seconds), `code` being "ok" or the error code it answered with;
 * - `faas_errors_total{fn, code}`: every invocation that did not end "ok";
 * - one structured request log line: function, kind, outcome, latency, HTTP status, whether it
 *   was an idempotent replay, and (added by the logger) tenant id, uid and trace. Never a body,
 *   a token or a secret. Successes are sampled (REQUEST_LOG_SAMPLE_PERCENT, and always when the
 *   trace is sampled, so a sampled trace has its line); errors are always logged.
 */
import { intValue, params } from "./config";
import { currentInvocation } from "./context";
import { HttpsError } from "firebase-functions/v2/https";
import { AppError, isClientError } from "./errors";
import { describeError, log } from "./logger";
import { metrics } from "./metrics";
import type { FunctionSpec } from "./spec";

export const INVOCATION_HISTOGRAM = "faas_invoke_duration_seconds";
export const INVOCATION_ERRORS = "faas_errors_total";

interface Outcome {
  code: string;
  /** HTTPS only: the status answered. */
  status?: number;
  serverFault: boolean;
}

/** The outcome of an HTTPS answer: "ok" below 400, else the problem's code (bounded), else the status. */
function httpOutcome(result: unknown): Outcome | undefined {
  const status = (result as { status?: unknown } | null)?.status;
  if (typeof status !== "number") return undefined;
  if (status < 400) return { code: "ok", status, serverFault: false };
  const code = ((result as { body?: { code?: unknown } }).body ?? {}).code;
  return {
    code: typeof code === "string" && /^[a-z-]{2,32}$/.test(code) ? code : `http_${status}`,
    status,
    serverFault: status >= 500,
  };
}

function record(spec: FunctionSpec, outcome: Outcome, seconds: number): void {
  metrics.observe(INVOCATION_HISTOGRAM, { fn: spec.name, kind: spec.kind, code: outcome.code }, seconds);
  if (outcome.code !== "ok") metrics.inc(INVOCATION_ERRORS, { fn: spec.name, code: outcome.code });

  const ctx = currentInvocation();
  if (outcome.code === "ok" && !ctx?.traceSampled && Math.random() * 100 >= intValue(params.requestLogSamplePercent)) {
    return;
  }
  const line = {
    kind: spec.kind,
    outcome: outcome.code,
    latencyMs: Math.round(seconds * 10_000) / 10,
    ...(outcome.status !== undefined ? { status: outcome.status } : {}),
    ...(ctx?.replayed ? { replayed: true } : {}),
  };
  log.request(outcome.serverFault ? "ERROR" : outcome.code !== "ok" ? "WARNING" : "INFO", line);
}

/**
 * Runs one invocation of `spec` and records its duration, outcome and request log line. Call it
 * inside `withInvocation` (so the line carries tenant, uid and trace) around everything else.
 */
export async function observeInvocation<T>(spec: FunctionSpec, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  let outcome: Outcome = { code: "ok", serverFault: false };
  try {
    const result = await run();
    if (spec.kind === "https") outcome = httpOutcome(result) ?? outcome;
    return result;
  } catch (error) {
    // The code `toHttpsError` would map to, without building an HttpsError (a stack capture).
    const code = error instanceof AppError || error instanceof HttpsError ? error.code : "internal";
    outcome = { code, serverFault: !isClientError(error) };
    throw error;
  } finally {
    try {
      record(spec, outcome, (performance.now() - started) / 1000);
    } catch (error) {
      // Observation never changes an invocation's answer (e.g. a misconfigured sampling param).
      log.error("invocation not recorded", describeError(error));
    }
  }
}
