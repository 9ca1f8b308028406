import { NO_ATTEMPTS, lockoutAt, recordFailure, recordSuccess, type AttemptState } from "../../src/mfa/lockout";

const policy = { maxFailures: 5, windowMs: 900_000 };

function fail(state: AttemptState, times: number[]) {
  let s = state;
  let lockedNow = false;
  for (const t of times) ({ state: s, lockedNow } = recordFailure(s, t, policy));
  return { state: s, lockedNow };
}

describe("MFA attempt lockout", () => {
  it("locks on the fifth failure inside the window, with a retry-after", () => {
    const four = fail(NO_ATTEMPTS, [0, 1000, 2000, 3000]);
    expect(four.lockedNow).toBe(false);
    expect(lockoutAt(four.state, 3001)).toEqual({ locked: false });
    const five = recordFailure(four.state, 4000, policy);
    expect(five.lockedNow).toBe(true);
    expect(lockoutAt(five.state, 4000)).toEqual({ locked: true, retryAfterSeconds: 900 });
    expect(lockoutAt(five.state, 4000 + 899_001)).toEqual({ locked: true, retryAfterSeconds: 1 });
  });

  it("ends the lockout after one window", () => {
    const { state } = fail(NO_ATTEMPTS, [0, 1, 2, 3, 4]);
    expect(lockoutAt(state, 900_003).locked).toBe(true);
    expect(lockoutAt(state, 900_004)).toEqual({ locked: false });
    // A fresh budget afterwards: one more failure does not re-lock.
    expect(recordFailure(state, 900_004, policy).lockedNow).toBe(false);
  });

  it("forgets failures older than the window (sliding)", () => {
    const { state } = fail(NO_ATTEMPTS, [0, 1000, 2000, 3000]);
    const later = recordFailure(state, 901_500, policy);
    expect(later.lockedNow).toBe(false);
    expect(later.state.failures).toEqual([2000, 3000, 901_500]);
    expect(later.remaining).toBe(2);
  });

  it("clears the history on success", () => {
    expect(recordSuccess()).toEqual({ failures: [], lockedUntil: null });
  });
});
