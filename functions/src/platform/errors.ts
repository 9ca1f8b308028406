/**
 * Domain errors and their single mapping to `HttpsError`.
 *
 * Core code throws `AppError` (or one of the helpers below) with a Functions error code and,
 * where the client can act on it, a machine-readable `reason`. The wrappers map errors once, at
 * the edge: an `AppError` keeps its code, message and details; a transient failure of Firestore
 * (or another Google API client) becomes a retryable code; anything else becomes `internal`
 * with a generic message, so stack traces and driver messages never reach a client.
 */
import { HttpsError, type FunctionsErrorCode } from "firebase-functions/v2/https";
import type { ZodError } from "zod";

/** Field-level validation problems, keyed by dotted path ("" for the root). */
export type FieldErrors = Record<string, string[]>;

export interface ErrorDetails {
  /** A stable, machine-readable reason the client can branch on, e.g. "mfa-required". */
  reason?: string;
  fields?: FieldErrors;
  /** Seconds after which a retry may succeed (lockouts, in-flight idempotent requests). */
  retryAfterSeconds?: number;
  [key: string]: unknown;
}

/** An error that is safe to show to the caller, with a Functions error code. */
export class AppError extends Error {
  constructor(
    readonly code: FunctionsErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
    this.name = "AppError";
  }
}

/** Raised when a deploy parameter is missing or out of range: an operator's mistake. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export const invalidArgument = (message: string, fields?: FieldErrors): AppError =>
  new AppError("invalid-argument", message, fields ? { fields } : {});
export const unauthenticated = (message = "Sign in to call this function."): AppError =>
  new AppError("unauthenticated", message);
export const permissionDenied = (message = "You do not have permission to do this.", reason?: string): AppError =>
  new AppError("permission-denied", message, reason ? { reason } : {});
export const notFound = (message = "Not found."): AppError => new AppError("not-found", message);
export const failedPrecondition = (message: string, reason?: string): AppError =>
  new AppError("failed-precondition", message, reason ? { reason } : {});
export const alreadyExists = (message: string): AppError => new AppError("already-exists", message);
export const resourceExhausted = (message: string, retryAfterSeconds?: number, reason?: string): AppError =>
  new AppError("resource-exhausted", message, {
    ...(reason ? { reason } : {}),
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
  });

/** Flattens zod issues into `{ "a.b": ["message"] }`. */
export function fieldErrors(error: ZodError): FieldErrors {
  const out: FieldErrors = {};
  for (const issue of error.issues) {
    const key = issue.path.map(String).join(".");
    (out[key] ??= []).push(issue.message);
  }
  return out;
}

/** One readable sentence summarising zod issues, e.g. "amount: Too small; currency: Required". */
export function summarise(fields: FieldErrors): string {
  const parts = Object.entries(fields).map(([path, messages]) =>
    path ? `${path}: ${messages.join(", ")}` : messages.join(", "),
  );
  return `Invalid input: ${parts.join("; ")}`.slice(0, 500);
}

/** True when the error is the caller's fault (a 4xx), as opposed to a server fault. */
export function isClientError(error: unknown): boolean {
  const code = error instanceof AppError || error instanceof HttpsError ? error.code : "internal";
  return !["internal", "unknown", "unavailable", "deadline-exceeded", "data-loss"].includes(code);
}

/**
 * The gRPC status codes (google.rpc.Code) the Admin SDK's Firestore client throws for transient
 * conditions, each with the code the client sees and a default wait when the server names none.
 * Contention (ABORTED) is worth retrying at once; an unreachable or overloaded backend later.
 */
const TRANSIENT_GRPC: Record<number, { code: FunctionsErrorCode; reason: string; retryAfterSeconds: number }> = {
  10: { code: "aborted", reason: "datastore-contention", retryAfterSeconds: 1 }, // ABORTED
  4: { code: "unavailable", reason: "datastore-timeout", retryAfterSeconds: 5 }, // DEADLINE_EXCEEDED
  14: { code: "unavailable", reason: "datastore-unavailable", retryAfterSeconds: 5 }, // UNAVAILABLE
  8: { code: "unavailable", reason: "datastore-overloaded", retryAfterSeconds: 30 }, // RESOURCE_EXHAUSTED
};

/** The wait a google.rpc.RetryInfo in the error's decoded status details asks for, in seconds. */
function serverRetryDelay(error: { statusDetails?: unknown }): number | undefined {
  if (!Array.isArray(error.statusDetails)) return undefined;
  for (const detail of error.statusDetails as { retryDelay?: { seconds?: unknown; nanos?: unknown } }[]) {
    const delay = detail?.retryDelay;
    if (!delay) continue;
    const seconds = Number(delay.seconds ?? 0) + Number(delay.nanos ?? 0) / 1e9;
    if (Number.isFinite(seconds) && seconds > 0) return Math.ceil(seconds);
  }
  return undefined;
}

/**
 * A transient gRPC failure (what the Firestore client throws: an `Error` with a numeric `code`
 * and often `details`/`metadata`) as the retryable `AppError` a client should see; undefined for
 * anything else. HTTPS answers it with 503 and `Retry-After`, contention included, so plain
 * HTTP clients (payment providers) retry.
 */
export function transientDependencyError(error: unknown): AppError | undefined {
  if (!(error instanceof Error) || error instanceof AppError || error instanceof HttpsError) return undefined;
  const code = (error as { code?: unknown }).code;
  const transient = typeof code === "number" ? TRANSIENT_GRPC[code] : undefined;
  if (!transient) return undefined;
  const retryAfterSeconds = serverRetryDelay(error as { statusDetails?: unknown }) ?? transient.retryAfterSeconds;
  return new AppError(
    transient.code,
    transient.code === "aborted"
      ? "The data was being changed by another request. Retry."
      : "The service is temporarily unavailable. Retry later.",
    { reason: transient.reason, retryAfterSeconds, ...(transient.code === "aborted" ? { httpStatus: 503 } : {}) },
  );
}

/**
 * Maps any thrown value to the `HttpsError` a client may see. Transient dependency failures
 * become retryable codes; other unknown errors a bare `internal` so nothing about the
 * implementation leaks.
 */
export function toHttpsError(error: unknown): HttpsError {
  if (error instanceof HttpsError) return error;
  const transient = transientDependencyError(error);
  if (transient) return toHttpsError(transient);
  if (error instanceof AppError) {
    const details = Object.keys(error.details).length > 0 ? error.details : undefined;
    return new HttpsError(error.code, error.message, details);
  }
  return new HttpsError("internal", "Internal error.");
}

/** The HTTP status for a Functions error code (the same table the callable protocol uses). */
export function httpStatus(error: HttpsError): number {
  return error.httpErrorCode.status;
}
