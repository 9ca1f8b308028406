import {
  MAX_RETRY_AFTER_SECONDS,
  nextDelaySeconds,
  parseRetryAfter,
  RETRY_DELAYS_SECONDS,
  retryDelaySeconds,
} from "../../src/webhooks/schedule";

const SVIX = [5, 300, 1800, 7200, 18000, 36000, 36000];

describe("outbound retry schedule", () => {
  it("is at least as patient as Svix: 8 attempts over about a day", () => {
    expect(RETRY_DELAYS_SECONDS).toHaveLength(7);
    RETRY_DELAYS_SECONDS.forEach((d, i) => expect(d).toBeGreaterThanOrEqual(SVIX[i]));
    const total = RETRY_DELAYS_SECONDS.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(24 * 3600);
    expect(total).toBeLessThanOrEqual(36 * 3600);
  });

  it("only lengthens delays with jitter, by at most 20 %", () => {
    for (let attempt = 1; attempt <= 7; attempt++) {
      const base = RETRY_DELAYS_SECONDS[attempt - 1];
      expect(retryDelaySeconds(attempt, () => 0)).toBe(base);
      expect(retryDelaySeconds(attempt, () => 0.999999)).toBe(Math.round(base * 1.2));
    }
  });

  it("spreads endpoints that failed together", () => {
    let seed = 1;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const delays = new Set(Array.from({ length: 50 }, () => retryDelaySeconds(4, random)));
    expect(delays.size).toBeGreaterThan(20);
  });

  it("reuses the last delay past the table", () => {
    expect(retryDelaySeconds(12, () => 0)).toBe(RETRY_DELAYS_SECONDS[6]);
  });
});

describe("Retry-After", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");

  it("parses delta seconds and HTTP dates", () => {
    expect(parseRetryAfter("120", now)).toBe(120);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:10:00 GMT", now)).toBe(600);
    expect(parseRetryAfter(["30", "60"], now)).toBe(30);
  });

  it("clamps to [1 s, 24 h] and ignores garbage", () => {
    expect(parseRetryAfter("0", now)).toBe(1);
    expect(parseRetryAfter("99999999", now)).toBe(MAX_RETRY_AFTER_SECONDS);
    expect(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(1);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it("wins over the schedule for 429 and 503 only", () => {
    expect(nextDelaySeconds({ attempt: 1, status: 429, retryAfter: "900", nowMs: now, random: () => 0 })).toBe(900);
    expect(nextDelaySeconds({ attempt: 1, status: 503, retryAfter: "2", nowMs: now, random: () => 0 })).toBe(2);
    expect(nextDelaySeconds({ attempt: 1, status: 500, retryAfter: "900", nowMs: now, random: () => 0 })).toBe(5);
    expect(nextDelaySeconds({ attempt: 2, status: 429, nowMs: now, random: () => 0 })).toBe(300);
  });
});
