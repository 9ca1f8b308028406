/**
 * The idempotency record and its state machine, as pure functions of the record and a clock.
 *
 *   (absent | expired) ──claim──▶ RUNNING ──complete──▶ COMPLETED   (result or a 4xx, replayed)
 *          ▲                        │  │  ──fail──────▶ FAILED      (a 5xx, only if cached)
 *          └──────release (5xx)─────┘  └─lease expired: a retry takes over (RUNNING again)
 *
 * "PENDING" is the state of a key with no live record: never used, expired, or released after a
 * server error. A key leaves it only through a claim, which is a compare-and-set on the record.
 */
import { AppError, type ErrorDetails } from "../platform/errors";

export type RecordState = "RUNNING" | "COMPLETED" | "FAILED";

/**
 * How a stored response is replayed: `value` is a callable's JSON result, `http` an
 * `HttpResult`, `error` an `AppError` (code, message, details), `unstored` a response that was
 * over the size limit (the effect happened once; the body was not kept).
 */
export type ResponseKind = "value" | "http" | "error" | "unstored";

/** The record as the engine reasons about it (times in epoch milliseconds). */
export interface IdempotencyRecord {
  state: RecordState;
  fn: string;
  requestHash: string;
  /** RUNNING only: until when the current holder owns the key. */
  lockedUntilMs?: number;
  /** After this the record is treated as absent (Firestore's TTL deletes it some time later). */
  expireAtMs: number;
  /** How many times an expired lease was taken over. */
  takeovers: number;
  /**
   * RUNNING only: the handler's transaction committed its effect (and this flag) but the response
   * was not written yet. Such a key is never taken over: after the lease it replays as
   * "response not available" rather than running the effect a second time.
   */
  effectCommitted?: boolean;
  responseKind?: ResponseKind;
  /** The stored response as JSON text (exact bytes of what the first caller got). */
  response?: string;
  responseBytes?: number;
}

export type Decision =
  | { kind: "claim"; replaces: boolean }
  | { kind: "takeover"; takeovers: number }
  | { kind: "replay" }
  | { kind: "mismatch" }
  | { kind: "in_flight"; retryAfterSeconds: number };

/**
 * What a request with `requestHash` does at time `nowMs`, given the key's current record.
 * The request fingerprint is compared before the state, so reusing a key for another request is
 * reported as such even while the original is still running.
 */
export function decide(record: IdempotencyRecord | undefined, requestHash: string, nowMs: number): Decision {
  if (!record || record.expireAtMs <= nowMs) return { kind: "claim", replaces: record !== undefined };
  if (record.requestHash !== requestHash) return { kind: "mismatch" };
  if (record.state === "RUNNING") {
    const lockedUntil = record.lockedUntilMs ?? 0;
    if (lockedUntil > nowMs) return { kind: "in_flight", retryAfterSeconds: IN_FLIGHT_RETRY_AFTER_SECONDS };
    if (record.effectCommitted) return { kind: "replay" };
    return { kind: "takeover", takeovers: record.takeovers + 1 };
  }
  return { kind: "replay" };
}

/**
 * Retry-After for an in-flight key. Most calls finish in well under a second, so a short hint
 * gets the retry a replay quickly; a crashed holder is bounded by the lease, not by this.
 */
export const IN_FLIGHT_RETRY_AFTER_SECONDS = 1;

export interface Timing {
  nowMs: number;
  leaseMs: number;
  ttlMs: number;
}

/** The record a claim (or takeover) writes. A running record never expires before its lease. */
export function runningRecord(fn: string, requestHash: string, t: Timing, takeovers = 0): IdempotencyRecord {
  const lockedUntilMs = t.nowMs + t.leaseMs;
  return {
    state: "RUNNING",
    fn,
    requestHash,
    lockedUntilMs,
    expireAtMs: Math.max(t.nowMs + t.ttlMs, lockedUntilMs),
    takeovers,
  };
}

export interface StoredResponse {
  kind: ResponseKind;
  /** JSON text; absent for `unstored`. */
  json?: string;
  bytes: number;
}

/** The terminal record: COMPLETED for results and client errors, FAILED for cached server errors. */
export function finishedRecord(
  running: IdempotencyRecord,
  state: "COMPLETED" | "FAILED",
  response: StoredResponse,
  t: Pick<Timing, "nowMs" | "ttlMs">,
): IdempotencyRecord {
  return {
    state,
    fn: running.fn,
    requestHash: running.requestHash,
    expireAtMs: t.nowMs + t.ttlMs,
    takeovers: running.takeovers,
    responseKind: response.kind,
    response: response.json,
    responseBytes: response.bytes,
  };
}

/** An HTTPS handler's result as stored: the exact fields `send()` turns into bytes. */
export interface StoredHttpResult {
  status: number;
  body?: unknown;
  text?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

/** The error a stored error replays as (same code, message and details as the first time). */
export interface StoredError {
  code: AppError["code"];
  message: string;
  details: ErrorDetails;
}

/**
 * Serialises a response for storage. `maxBytes` bounds the stored JSON; a larger response is
 * recorded as `unstored` with its size, so the effect is still recorded exactly once.
 */
export function storeResponse(
  kind: Exclude<ResponseKind, "unstored">,
  value: unknown,
  maxBytes: number,
): StoredResponse {
  // `{v: …}` keeps `undefined` results representable (JSON.stringify(undefined) is not JSON).
  const json = JSON.stringify(kind === "value" ? { v: value } : value);
  const bytes = Buffer.byteLength(json, "utf8");
  return bytes > maxBytes ? { kind: "unstored", bytes } : { kind, json, bytes };
}

/** Decodes a stored value result. */
export function storedValue(json: string): unknown {
  return (JSON.parse(json) as { v?: unknown }).v;
}

/** Rebuilds the `AppError` a stored error replays as. */
export function storedError(json: string): AppError {
  const e = JSON.parse(json) as StoredError;
  return new AppError(e.code, e.message, e.details ?? {});
}
