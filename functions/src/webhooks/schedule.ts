/**
 * The outbound retry schedule and `Retry-After` handling.
 *
 * Delays follow Svix's published schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight
 * attempts over about 27.5 hours), so we are at least as patient as the receivers' other
 * senders. Jitter only ever lengthens a delay (up to +20 %), so the schedule stays a floor
 * while many endpoints that failed together do not retry in lockstep.
 */

const MINUTE = 60;
const HOUR = 3600;

/** Delay in seconds before attempt n+1, indexed by n-1 (the attempt that just failed). */
export const RETRY_DELAYS_SECONDS: readonly number[] = [
  5,
  5 * MINUTE,
  30 * MINUTE,
  2 * HOUR,
  5 * HOUR,
  10 * HOUR,
  10 * HOUR,
];

/** The longest wait a `Retry-After` may impose; beyond it we fall back to the schedule's cap. */
export const MAX_RETRY_AFTER_SECONDS = 24 * HOUR;

const JITTER = 0.2;

/**
 * Seconds to wait after failed attempt `attempt` (1-based) of a round, with jitter from
 * `random` (in [0, 1)). Attempts past the table reuse its last entry.
 */
export function retryDelaySeconds(attempt: number, random: () => number = Math.random): number {
  const base = RETRY_DELAYS_SECONDS[Math.min(Math.max(attempt, 1), RETRY_DELAYS_SECONDS.length) - 1];
  return Math.round(base * (1 + JITTER * random()));
}

/**
 * Parses a `Retry-After` header (delta seconds or an HTTP date) into seconds from `nowMs`,
 * clamped to [1, MAX_RETRY_AFTER_SECONDS]; undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  const trimmed = raw.trim();
  let seconds: number;
  if (/^\d+$/.test(trimmed)) {
    seconds = Number(trimmed);
  } else {
    const date = Date.parse(trimmed);
    if (Number.isNaN(date)) return undefined;
    seconds = Math.ceil((date - nowMs) / 1000);
  }
  return Math.min(Math.max(seconds, 1), MAX_RETRY_AFTER_SECONDS);
}

/**
 * The delay before the next attempt: for 429/503 a valid `Retry-After` wins (the receiver knows
 * when it can take traffic again), otherwise the schedule.
 */
export function nextDelaySeconds(args: {
  attempt: number;
  status?: number;
  retryAfter?: string | string[];
  nowMs: number;
  random?: () => number;
}): number {
  if (args.status === 429 || args.status === 503) {
    const honoured = parseRetryAfter(args.retryAfter, args.nowMs);
    if (honoured !== undefined) return honoured;
  }
  return retryDelaySeconds(args.attempt, args.random);
}
