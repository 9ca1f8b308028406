/**
 * Where the wrappers hand over to the idempotency engine. Keeping the seam here lets the
 * wrappers stay small and lets the engine (src/idempotency) load only when a function that is
 * declared idempotent is actually called with a key.
 */
import type { TransactionHook } from "./callable";
import { invalidArgument } from "./errors";
import type { FunctionSpec } from "./spec";

/** Keys are 1-255 printable ASCII characters (draft-ietf-httpapi-idempotency-key-header). */
const KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;

export interface IdempotentInvocation {
  spec: FunctionSpec;
  /** The client's key, already validated; undefined when none was sent. */
  key?: string;
  /** The parsed input (the fingerprint is computed over its canonical form). */
  input: unknown;
  tenantId?: string;
  principal?: string;
  /** Transaction hooks the engine may register to complete inside the handler's transaction. */
  hooks: TransactionHook[];
}

/** Validates a client-supplied idempotency key, or throws `invalid-argument`. */
export function checkIdempotencyKey(key: unknown): string {
  if (typeof key !== "string" || !KEY_PATTERN.test(key)) {
    throw invalidArgument("idempotencyKey must be 1-255 printable ASCII characters", {
      idempotencyKey: ["must be 1-255 printable ASCII characters"],
    });
  }
  return key;
}

/**
 * Separates `idempotencyKey` from a callable's data. Functions that are not idempotent keep the
 * field in their data (their schema decides whether it is allowed).
 */
export function splitIdempotencyKey(spec: FunctionSpec, data: unknown): { key?: string; rest: unknown } {
  if (!spec.idempotent || typeof data !== "object" || data === null || Array.isArray(data)) return { rest: data };
  if (!Object.prototype.hasOwnProperty.call(data, "idempotencyKey")) return { rest: data };
  const { idempotencyKey, ...rest } = data as Record<string, unknown>;
  return { key: checkIdempotencyKey(idempotencyKey), rest };
}

/** Runs `execute` under the idempotency engine when the function and the call ask for it. */
export async function runIdempotent<R>(invocation: IdempotentInvocation, execute: () => Promise<R>): Promise<R> {
  const mode = invocation.spec.idempotent;
  if (!mode) return execute();
  if (invocation.key === undefined) {
    if (mode === "required") {
      throw invalidArgument("This function requires an idempotency key", {
        idempotencyKey: ["required"],
      });
    }
    return execute();
  }
  const engine = await import("../idempotency/engine");
  return engine.runWithIdempotency(invocation, execute);
}
