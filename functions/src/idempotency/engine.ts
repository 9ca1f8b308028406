/**
 * Idempotency engine (issue: idempotent writes). Being written; until then keyed calls fail
 * closed rather than running twice.
 */
import { AppError } from "../platform/errors";
import type { IdempotentInvocation } from "../platform/idempotency-port";

export async function runWithIdempotency<R>(_invocation: IdempotentInvocation, _execute: () => Promise<R>): Promise<R> {
  throw new AppError("unimplemented", "Idempotency keys are not supported yet.");
}
