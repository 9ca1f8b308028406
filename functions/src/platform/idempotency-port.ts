/**
 * Where the wrappers hand over to the idempotency engine. Keeping the seam here lets the
 * wrappers stay small and lets the engine (src/idempotency) load only when a function that is
 * declared idempotent is actually called with a key.
 */
import type { Firestore, Transaction } from "firebase-admin/firestore";
import { rootFirestore } from "./admin";
import { invalidArgument } from "./errors";
import { metrics } from "./metrics";
import type { FunctionSpec } from "./spec";

/**
 * Runs inside a handler's transaction just before it commits, with the transaction and the
 * transaction callback's result. It may return a function, called only once that transaction
 * has committed (the idempotency engine learns that its completion record is durable). Its
 * optional `before` runs first in each attempt, before the handler's reads and writes; its
 * optional `failed` sees an error of the whole transaction and may ask to run it again.
 */
export type TransactionHook = ((
  tx: Transaction,
  result: unknown,
) => void | (() => void) | Promise<void> | Promise<(() => void) | void>) & {
  before?: (tx: Transaction) => Promise<void>;
  failed?: (error: unknown) => Promise<"retry" | void>;
};

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

/** What the engine needs from the platform; tests may pass their own. */
export interface EngineDeps {
  rootDb: () => Firestore;
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

/**
 * Runs `fn` in a Firestore transaction, then the hooks inside it just before commit, and the
 * hooks' after-commit callbacks once it has committed. The wrappers expose this as
 * `ctx.runTransaction`, so an idempotent call's completion record commits with its effect.
 */
export async function runHookedTransaction<T>(
  db: { runTransaction<U>(fn: (tx: Transaction) => Promise<U>): Promise<U> },
  hooks: readonly TransactionHook[],
  fn: (tx: Transaction) => Promise<T>,
): Promise<T> {
  let committed: (() => void)[] = [];
  const attempt = () =>
    db.runTransaction(async (tx) => {
      // A retried attempt starts over: only the attempt that commits may report.
      committed = [];
      for (const hook of hooks) await hook.before?.(tx);
      const value = await fn(tx);
      for (const hook of hooks) {
        const after = await hook(tx, value);
        if (typeof after === "function") committed.push(after);
      }
      return value;
    });
  let result: T;
  for (;;) {
    try {
      result = await attempt();
      break;
    } catch (error) {
      let again = false;
      for (const hook of hooks) if ((await hook.failed?.(error)) === "retry") again = true;
      if (!again) throw error;
    }
  }
  committed.forEach((after) => after());
  return result;
}

/** Runs `execute` under the idempotency engine when the function and the call ask for it. */
export async function runIdempotent<R>(
  invocation: IdempotentInvocation,
  execute: () => Promise<R>,
  deps: EngineDeps = { rootDb: rootFirestore },
): Promise<R> {
  const mode = invocation.spec.idempotent;
  if (!mode) return execute();
  if (invocation.key === undefined) {
    if (mode === "required") {
      metrics.inc("idempotency_requests_total", { fn: invocation.spec.name, outcome: "missing_key" });
      throw invalidArgument("This function requires an idempotency key", {
        idempotencyKey: ["required"],
      });
    }
    return execute();
  }
  const engine = await import("../idempotency/engine");
  return engine.runWithIdempotency(invocation, execute, deps);
}
