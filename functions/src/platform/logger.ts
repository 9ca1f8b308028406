/**
 * Structured logging through `firebase-functions/logger`, enriched with the invocation context
 * (function, tenant, uid) and the trace field Cloud Logging uses for correlation.
 *
 * Never pass secrets, tokens, codes or raw webhook bodies as fields; `redact()` strips the
 * field names that usually hold them as a second line of defence.
 */
import * as logger from "firebase-functions/logger";
import { currentInvocation } from "./context";
import { runtime } from "./config";
import { toHttpsError, transientDependencyError } from "./errors";

type Fields = Record<string, unknown>;

const SENSITIVE = /secret|token|password|code|authorization|signature|otp|key$/i;

/** Replaces values of sensitive-looking field names with "[redacted]", one level deep. */
export function redact(fields: Fields): Fields {
  const out: Fields = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] = SENSITIVE.test(key) && key !== "reason" ? "[redacted]" : value;
  }
  return out;
}

function enrich(fields: Fields): Fields {
  const ctx = currentInvocation();
  const out: Fields = { ...redact(fields) };
  if (ctx) {
    out.fn ??= ctx.fn;
    if (ctx.tenantId) out.tenantId ??= ctx.tenantId;
    if (ctx.uid) out.uid ??= ctx.uid;
    if (ctx.traceId) {
      const project = runtime.projectId();
      out["logging.googleapis.com/trace"] = `projects/${project}/traces/${ctx.traceId}`;
      if (ctx.spanId) out["logging.googleapis.com/spanId"] = ctx.spanId;
      out["logging.googleapis.com/trace_sampled"] = ctx.traceSampled ?? false;
    }
  }
  return out;
}

export const log = {
  debug: (message: string, fields: Fields = {}) => logger.debug(message, enrich(fields)),
  info: (message: string, fields: Fields = {}) => logger.info(message, enrich(fields)),
  warn: (message: string, fields: Fields = {}) => logger.warn(message, enrich(fields)),
  error: (message: string, fields: Fields = {}) => logger.error(message, enrich(fields)),
  /**
   * The one request line of an invocation (platform/observe.ts). A plain entry even at ERROR:
   * the failure itself is logged, with its stack, where it is caught.
   */
  request: (severity: "INFO" | "WARNING" | "ERROR", fields: Fields) =>
    logger.write({ ...enrich(fields), severity, message: "request" }),
  /** A security-relevant event (reuse detection, lockout, cross-tenant attempt) for alerting. */
  security: (event: string, fields: Fields = {}) =>
    logger.warn(`security: ${event}`, enrich({ ...fields, securityEvent: event })),
};

/** Describes an unknown error for logs without dumping request data. */
export function describeError(error: unknown): Fields {
  if (error instanceof Error) return { error: error.name, message: error.message, stack: error.stack };
  return { error: String(error) };
}

/**
 * Logs why a call failed, as the callable and HTTPS wrappers answer it: an error nothing mapped
 * (answered `internal`) as an error, a dependency failure answered retryably as a warning. Client
 * errors are left to the request line.
 */
export function logFailure(error: unknown): void {
  if (toHttpsError(error).code === "internal") log.error("unhandled error", describeError(error));
  else if (transientDependencyError(error)) log.warn("dependency failure answered as retryable", describeError(error));
}
