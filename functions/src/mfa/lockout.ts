/**
 * Failed-attempt counting and lockout for second-factor checks, as a pure state machine.
 *
 * Failures are kept as timestamps inside a sliding window; reaching the limit locks the user out
 * for one window length. While locked, attempts are refused without checking the code (so
 * guessing is not possible during a lockout) and do not extend it (so an attacker cannot keep a
 * user locked out forever by spending one attempt each window). A success clears the history.
 */

export interface AttemptState {
  /** Epoch ms of recent failures, oldest first. */
  failures: number[];
  lockedUntil: number | null;
}

export interface LockoutPolicy {
  maxFailures: number;
  windowMs: number;
}

export const NO_ATTEMPTS: AttemptState = { failures: [], lockedUntil: null };

/** Whether the user is locked out at `now`, and for how many more seconds. */
export function lockoutAt(
  state: AttemptState,
  now: number,
): { locked: false } | { locked: true; retryAfterSeconds: number } {
  if (state.lockedUntil !== null && now < state.lockedUntil) {
    return { locked: true, retryAfterSeconds: Math.ceil((state.lockedUntil - now) / 1000) };
  }
  return { locked: false };
}

/** Records a failed attempt at `now`; `lockedNow` is true when this failure started a lockout. */
export function recordFailure(
  state: AttemptState,
  now: number,
  policy: LockoutPolicy,
): { state: AttemptState; lockedNow: boolean; remaining: number } {
  const recent = state.failures.filter((t) => t > now - policy.windowMs && t <= now);
  recent.push(now);
  if (recent.length >= policy.maxFailures) {
    return { state: { failures: [], lockedUntil: now + policy.windowMs }, lockedNow: true, remaining: 0 };
  }
  return {
    state: { failures: recent, lockedUntil: null },
    lockedNow: false,
    remaining: policy.maxFailures - recent.length,
  };
}

/** The state after a successful check. */
export function recordSuccess(): AttemptState {
  return { failures: [], lockedUntil: null };
}
