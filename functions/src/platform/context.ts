/**
 * Per-invocation context carried through async calls, so that logs, traces and metrics can be
 * correlated without threading a context object through every function.
 */
import { AsyncLocalStorage } from "node:async_hooks";

export interface InvocationContext {
  /** The exported function's name, e.g. "createPayment". */
  fn: string;
  tenantId?: string;
  uid?: string;
  /** W3C trace id (32 hex chars) and span id of the current invocation, when known. */
  traceId?: string;
  spanId?: string;
  traceSampled?: boolean;
  /** The answer was replayed from an idempotency record (the handler did not run). */
  replayed?: boolean;
}

const storage = new AsyncLocalStorage<InvocationContext>();

/** Runs `fn` with `ctx` as the current invocation context. */
export function withInvocation<T>(ctx: InvocationContext, fn: () => Promise<T>): Promise<T> {
  return storage.run(ctx, fn);
}

/** The current invocation context, if any. Mutable: later stages fill in tenant and uid. */
export function currentInvocation(): InvocationContext | undefined {
  return storage.getStore();
}
