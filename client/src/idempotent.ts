/**
 * Idempotent calls: one key per user action, reused for every retry of that action, so the effect
 * happens once. Retried only where the server says waiting helps (docs/client-guide.md, section 7):
 * `aborted` (the same key still in flight), `unavailable`, `deadline-exceeded`, `internal`, and
 * `resource-exhausted` when it names `retryAfterSeconds` (rate limits). Never on anything else:
 * a refused input or permission does not change by asking again.
 */
import { appError } from "./errors.js";

export interface RetryOptions {
  /** The action's key; pass the same one when the user repeats the same action (a double click). */
  key?: string;
  /** Attempts in all, the first included. */
  attempts?: number;
  /** First backoff when the server names no delay; doubles per attempt. */
  baseDelayMs?: number;
  /** Longest single wait; a longer `retryAfterSeconds` (a lockout) is returned to the caller. */
  maxDelayMs?: number;
  /** How to wait (tests pass their own clock). */
  sleep?: (ms: number) => Promise<void>;
}

const BACKOFF_CODES = new Set(["aborted", "unavailable", "deadline-exceeded", "internal"]);

/** A fresh idempotency key for one user action. */
export function newIdempotencyKey(): string {
  return globalThis.crypto.randomUUID();
}

/** How long to wait before retrying after `error`, or undefined when it must not be retried. */
export function retryDelayMs(error: unknown, attempt: number, baseDelayMs = 250): number | undefined {
  const parsed = appError(error);
  if (!parsed) return undefined;
  const after = parsed.details.retryAfterSeconds;
  const named = typeof after === "number" && after >= 0 ? after * 1000 : undefined;
  if (parsed.code === "resource-exhausted") return named;
  if (!BACKOFF_CODES.has(parsed.code)) return undefined;
  return named ?? baseDelayMs * 2 ** attempt;
}

/**
 * Calls `fn` with `input` plus the action's `idempotencyKey`, retrying as described above:
 * `await idempotent(session, createPayment, { amount: 1999, currency: "eur" })`.
 */
export async function idempotent<C, I extends object, O>(
  client: C,
  fn: (client: C, input: I & { idempotencyKey?: string }) => Promise<O>,
  input: I,
  options: RetryOptions = {},
): Promise<O> {
  const key = options.key ?? newIdempotencyKey();
  const attempts = options.attempts ?? 5;
  const maxDelayMs = options.maxDelayMs ?? 30_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(client, { ...input, idempotencyKey: key });
    } catch (error) {
      const delay = retryDelayMs(error, attempt, options.baseDelayMs);
      if (delay === undefined || delay > maxDelayMs || attempt + 1 >= attempts) throw error;
      await sleep(delay);
    }
  }
}
