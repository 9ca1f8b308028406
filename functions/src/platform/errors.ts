/**
 * Domain errors and their single mapping to `HttpsError`.
 *
 * Core code throws `AppError` (or one of the helpers below) with a Functions error code and,
 * where the client can act on it, a machine-readable `reason`. The wrappers map errors once, at
 * the edge: an `AppError` keeps its code, message and details; anything else becomes `internal`
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
 * Maps any thrown value to the `HttpsError` a client may see. Unknown errors become a bare
 * `internal` so nothing about the implementation leaks.
 */
export function toHttpsError(error: unknown): HttpsError {
  if (error instanceof HttpsError) return error;
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
