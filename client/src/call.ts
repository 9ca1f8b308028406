/**
 * Calls a callable through the modular SDK. A `CallableClient` is the `Functions` instance or
 * anything holding one (the session manager is one), so every generated function takes either;
 * a holder may watch each failure (the session manager signs out on a revoked session).
 */
import { httpsCallable, type Functions } from "firebase/functions";

export type CallableClient =
  | Functions
  | {
      readonly functions: Functions;
      /** Sees every failed call before the caller does. */
      readonly onCallError?: (error: unknown) => void | Promise<void>;
    };

/** Calls `name` with `input` (omitted for no-argument functions) and resolves to its data. */
export async function callFunction<I, O>(client: CallableClient, name: string, input?: I): Promise<O> {
  const holder = "functions" in client ? client : undefined;
  const fn = httpsCallable<I | undefined, O>(holder ? holder.functions : (client as Functions), name);
  try {
    return (await fn(input)).data;
  } catch (error) {
    await holder?.onCallError?.(error);
    throw error;
  }
}
