/**
 * The job record and its state machine, as pure functions over epoch milliseconds.
 *
 *   queued ──claim──▶ running ──settle ok──▶ succeeded
 *     ▲                  │  └──settle fail (final)──▶ failed ──retryJob / replay──▶ queued
 *     └──settle fail─────┘
 *   queued | running ──cancelJob──▶ cancelled
 *
 * `claim` hands out a lease (a random id and an expiry); only the holder of the current lease may
 * settle or report progress. A task that is dispatched again (a Cloud Tasks retry, a duplicate)
 * finds the job finished or cancelled and stops, or finds a live lease and backs off; a lease
 * that expired (its runner died) is taken over. So a finished or cancelled job never runs again.
 */
export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export interface JobError {
  code: string;
  message: string;
}

export interface JobProgress {
  done: number;
  total: number | null;
  message: string | null;
}

/** The fields of a job record the state machine reads. Times are epoch ms. */
export interface JobState {
  status: JobStatus;
  attempts: number;
  /** `attempts` when the current round began (0, or when retryJob / a replay re-opened it). */
  roundStart: number;
  round: number;
  maxAttempts: number;
  leaseId: string | null;
  leaseExpiresAt: number | null;
  /** Not before this time (enqueueJob's delaySeconds). */
  runAfter: number | null;
}

export type Claim =
  | { kind: "run"; attempt: number; takeover: boolean }
  | { kind: "finished"; status: JobStatus }
  | { kind: "busy"; retryAfterMs: number }
  | { kind: "early"; retryAfterMs: number };

/** Decides whether a dispatch may run the job now. */
export function claim(job: JobState, nowMs: number): Claim {
  if (job.status === "succeeded" || job.status === "failed" || job.status === "cancelled") {
    return { kind: "finished", status: job.status };
  }
  if (job.status === "running" && job.leaseExpiresAt !== null && job.leaseExpiresAt > nowMs) {
    return { kind: "busy", retryAfterMs: job.leaseExpiresAt - nowMs };
  }
  // Cloud Tasks schedules the task for runAfter; a dispatch that comes early (the emulator
  // ignores schedules) does not start the job.
  if (job.status === "queued" && job.runAfter !== null && job.runAfter > nowMs) {
    return { kind: "early", retryAfterMs: job.runAfter - nowMs };
  }
  return { kind: "run", attempt: job.attempts + 1, takeover: job.status === "running" };
}

export type Settlement =
  | { kind: "lost" }
  | { kind: "succeeded" }
  | { kind: "retry"; attemptInRound: number }
  | { kind: "failed"; attemptInRound: number };

/**
 * What a finished attempt does to the job. `lost`: the job was cancelled or the lease taken over
 * meanwhile, so the attempt's outcome is discarded. A failure is final when it is permanent, when
 * the round's attempts are used up, or when no further dispatch will come (`lastDispatch`).
 */
export function settle(
  job: JobState,
  leaseId: string,
  outcome: { ok: true } | { ok: false; permanent: boolean; lastDispatch: boolean },
): Settlement {
  if (job.status !== "running" || job.leaseId !== leaseId) return { kind: "lost" };
  if (outcome.ok) return { kind: "succeeded" };
  const attemptInRound = job.attempts - job.roundStart;
  if (outcome.permanent || outcome.lastDispatch || attemptInRound >= job.maxAttempts) {
    return { kind: "failed", attemptInRound };
  }
  return { kind: "retry", attemptInRound };
}

/** True when the lease `leaseId` still entitles its holder to write progress. */
export function holdsLease(job: JobState, leaseId: string): boolean {
  return job.status === "running" && job.leaseId === leaseId;
}

/** cancelJob: only a job that has not finished can be cancelled. */
export function canCancel(status: JobStatus): boolean {
  return status === "queued" || status === "running";
}

/** retryJob: only a failed job starts a new round. */
export function canRetry(status: JobStatus): boolean {
  return status === "failed";
}

/** Task id of a job's round: deterministic, so enqueueing a round twice makes one task. */
export function jobTaskId(jobId: string, round: number): string {
  return `${jobId}-r${round}`;
}
