/**
 * The job state machine and the job-type declaration, as pure logic.
 */
import { z } from "zod";
import { canCancel, canRetry, claim, holdsLease, jobTaskId, settle, type JobState } from "../../src/jobs/model";
import { DURATION_BUCKETS, observeJob } from "../../src/jobs/metrics";
import { defineJob, MAX_JOB_ATTEMPTS } from "../../src/platform/jobs";
import { metrics } from "../../src/platform/metrics";
import { EVENT_CATALOGUE, eventId } from "../../src/webhooks/events";

const NOW = 1_000_000;

function job(overrides: Partial<JobState> = {}): JobState {
  return {
    status: "queued",
    attempts: 0,
    roundStart: 0,
    round: 0,
    maxAttempts: 3,
    leaseId: null,
    leaseExpiresAt: null,
    runAfter: null,
    ...overrides,
  };
}

describe("job claims", () => {
  it("runs a queued job as the next attempt", () => {
    expect(claim(job({ attempts: 2 }), NOW)).toEqual({ kind: "run", attempt: 3, takeover: false });
  });

  it("never runs a finished or cancelled job again", () => {
    for (const status of ["succeeded", "failed", "cancelled"] as const) {
      expect(claim(job({ status }), NOW)).toEqual({ kind: "finished", status });
    }
  });

  it("does not start a job before its runAfter time", () => {
    expect(claim(job({ runAfter: NOW + 3000 }), NOW)).toEqual({ kind: "early", retryAfterMs: 3000 });
    expect(claim(job({ runAfter: NOW }), NOW)).toMatchObject({ kind: "run" });
  });

  it("backs off while another dispatch holds a live lease, and takes over an expired one", () => {
    const running = job({ status: "running", attempts: 1, leaseId: "a", leaseExpiresAt: NOW + 5000 });
    expect(claim(running, NOW)).toEqual({ kind: "busy", retryAfterMs: 5000 });
    expect(claim({ ...running, leaseExpiresAt: NOW }, NOW)).toEqual({ kind: "run", attempt: 2, takeover: true });
  });
});

describe("settling an attempt", () => {
  const running = job({ status: "running", attempts: 1, leaseId: "mine", leaseExpiresAt: NOW + 1 });
  const failure = { ok: false as const, permanent: false, lastDispatch: false };

  it("discards the outcome of a run whose job was cancelled or whose lease was taken over", () => {
    expect(settle({ ...running, status: "cancelled" }, "mine", { ok: true })).toEqual({ kind: "lost" });
    expect(settle({ ...running, leaseId: "theirs" }, "mine", { ok: true })).toEqual({ kind: "lost" });
  });

  it("succeeds, retries while the round has attempts left, and fails at the round's last attempt", () => {
    expect(settle(running, "mine", { ok: true })).toEqual({ kind: "succeeded" });
    expect(settle(running, "mine", failure)).toEqual({ kind: "retry", attemptInRound: 1 });
    expect(settle({ ...running, attempts: 3 }, "mine", failure)).toEqual({ kind: "failed", attemptInRound: 3 });
  });

  it("counts attempts per round, so a retried or replayed job gets its full attempts again", () => {
    expect(settle({ ...running, attempts: 4, roundStart: 3 }, "mine", failure)).toEqual({
      kind: "retry",
      attemptInRound: 1,
    });
  });

  it("fails at once on a permanent error or on the queue's last dispatch", () => {
    expect(settle(running, "mine", { ...failure, permanent: true })).toEqual({ kind: "failed", attemptInRound: 1 });
    expect(settle(running, "mine", { ...failure, lastDispatch: true })).toEqual({ kind: "failed", attemptInRound: 1 });
  });

  it("lets only the lease holder report progress", () => {
    expect(holdsLease(running, "mine")).toBe(true);
    expect(holdsLease(running, "theirs")).toBe(false);
    expect(holdsLease({ ...running, status: "cancelled" }, "mine")).toBe(false);
  });

  it("cancels only unfinished jobs and retries only failed ones; round task ids are deterministic", () => {
    expect(["queued", "running"].every((s) => canCancel(s as never))).toBe(true);
    expect(["succeeded", "failed", "cancelled"].some((s) => canCancel(s as never))).toBe(false);
    expect(canRetry("failed")).toBe(true);
    expect(canRetry("succeeded")).toBe(false);
    expect(jobTaskId("j1", 2)).toBe(jobTaskId("j1", 2));
    expect(jobTaskId("j1", 2)).not.toBe(jobTaskId("j1", 3));
  });
});

describe("defineJob", () => {
  const base = {
    type: "reports.build",
    description: "x",
    input: z.strictObject({}),
    access: { permission: "jobs:manage" as const },
    retry: { maxAttempts: 3 },
    timeoutSeconds: 60,
    handler: async () => null,
  };

  it("accepts a well-formed type", () => {
    expect(defineJob(base).type).toBe("reports.build");
  });

  it("refuses bad names, attempts and timeouts at load time", () => {
    expect(() => defineJob({ ...base, type: "Reports" })).toThrow(/dotted lowercase/);
    expect(() => defineJob({ ...base, retry: { maxAttempts: 0 } })).toThrow(/maxAttempts/);
    expect(() => defineJob({ ...base, retry: { maxAttempts: MAX_JOB_ATTEMPTS + 1 } })).toThrow(/maxAttempts/);
    expect(() => defineJob({ ...base, timeoutSeconds: 1741 })).toThrow(/timeoutSeconds/);
  });
});

describe("job metrics", () => {
  beforeEach(() => metrics.reset());

  it("count jobs by type and outcome and record the duration as a cumulative histogram", () => {
    observeJob("tenant.export", "succeeded", 12);
    observeJob("tenant.export", "failed", 0.5);
    const labels = { type: "tenant.export", outcome: "succeeded" };
    expect(metrics.value("jobs_total", labels)).toBe(1);
    expect(metrics.value("jobs_total", { type: "tenant.export", outcome: "failed" })).toBe(1);
    expect(metrics.value("job_duration_seconds_count", labels)).toBe(1);
    expect(metrics.value("job_duration_seconds_sum", labels)).toBe(12);
    for (const le of DURATION_BUCKETS) {
      expect(metrics.value("job_duration_seconds_bucket", { ...labels, le: String(le) })).toBe(le >= 12 ? 1 : 0);
    }
    expect(metrics.value("job_duration_seconds_bucket", { ...labels, le: "+Inf" })).toBe(1);
  });
});

describe("event catalogue", () => {
  it("names every event the product publishes, each with a payload schema", () => {
    expect([...EVENT_CATALOGUE.keys()].sort()).toEqual(
      [
        "job.failed",
        "job.succeeded",
        "member.added",
        "member.removed",
        "member.roles_changed",
        "payment.failed",
        "payment.processing",
        "payment.refunded",
        "payment.succeeded",
        "webhook.delivery.exhausted",
        "webhook.test",
      ].sort(),
    );
    expect(EVENT_CATALOGUE.get("__proto__")).toBeUndefined();
    expect(EVENT_CATALOGUE.get("member.removed")!.payload.safeParse({ uid: "u", by: "v", extra: 1 }).success).toBe(
      false,
    );
  });

  it("derives deterministic msg_ ids that the publisher accepts", () => {
    expect(eventId("payment", "stripe", "evt_1")).toBe(eventId("payment", "stripe", "evt_1"));
    expect(eventId("payment", "stripe", "evt_1")).not.toBe(eventId("payment", "stripe", "evt_2"));
    expect(eventId("a")).toMatch(/^msg_[A-Za-z0-9_-]{32}$/);
  });
});
