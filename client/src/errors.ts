/**
 * Typed errors. A failed call rejects with the SDK's `FunctionsError` (`code` is
 * `functions/<code>`); `isAppError(error, "mfa-required")` narrows it to the server's error with
 * that reason and its typed `details`.
 */
import { FunctionsError } from "firebase/functions";
import type { ErrorCode, ErrorReason, ErrorReasons } from "./generated/api.js";

export type FieldErrors = Record<string, string[]>;

/** Details every error may carry, whatever its reason. */
export interface CommonDetails {
  fields?: FieldErrors;
  retryAfterSeconds?: number;
}

/** A server error: its code without the `functions/` prefix, its message and details. */
export interface AppError<R extends ErrorReason | undefined = ErrorReason | undefined> {
  code: R extends ErrorReason ? ErrorReasons[R]["code"] : ErrorCode;
  message: string;
  reason: R;
  details: CommonDetails & (R extends ErrorReason ? ErrorReasons[R]["details"] & { reason: R } : { reason?: string });
  cause: FunctionsError;
}

/** The server error inside `error`, or undefined when it is not a Functions error. */
export function appError(error: unknown): AppError | undefined {
  if (!(error instanceof FunctionsError)) return undefined;
  const details = (
    typeof error.details === "object" && error.details !== null ? error.details : {}
  ) as AppError["details"];
  return {
    code: error.code.replace(/^functions\//, "") as ErrorCode,
    message: error.message,
    reason: (typeof details.reason === "string" ? details.reason : undefined) as ErrorReason | undefined,
    details,
    cause: error,
  };
}

/**
 * True when `error` is a server error; with `reason`, one with that `details.reason`. Narrows
 * `error` to a `FunctionsError` whose `details` are typed; use `appError()` for the parsed form.
 */
export function isAppError<R extends ErrorReason>(
  error: unknown,
  reason: R,
): error is FunctionsError & { details: AppError<R>["details"] };
export function isAppError(error: unknown): error is FunctionsError & { details: AppError["details"] | undefined };
export function isAppError(error: unknown, reason?: ErrorReason): boolean {
  const parsed = appError(error);
  return parsed !== undefined && (reason === undefined || parsed.reason === reason);
}

/** True when `error` is a server error with this code (`"invalid-argument"`, …). */
export function hasCode(error: unknown, code: ErrorCode): error is FunctionsError {
  return appError(error)?.code === code;
}

/** The field errors of an `invalid-argument` answer, keyed by dotted path ("" for the root). */
export function fieldErrors(error: unknown): FieldErrors {
  const parsed = appError(error);
  return parsed?.code === "invalid-argument" ? (parsed.details.fields ?? {}) : {};
}
