/**
 * Running a job: the `runJob` task handler's logic.
 *
 * One task queue serves every job type. Each dispatch claims the job in a transaction (a lease
 * of the type's timeout plus a margin), runs the handler outside any transaction, and settles
 * the outcome in a second transaction that only the lease holder can commit. Failures throw, so
 * Cloud Tasks retries with the queue's backoff; the type's `maxAttempts` ends a round early. A
 * job that fails for good is written to the dead-letter store (source `job`) in the settling
 * transaction, with its `job.failed` event staged in the same commit.
 */
import { randomUUID } from "node:crypto";
import type { DocumentReference } from "firebase-admin/firestore";
import { z } from "zod";
import { AppError, isClientError } from "../platform/errors";
import { Timestamp } from "../platform/firestore-sdk";
import type { JobDefinition, ProgressUpdate } from "../platform/jobs";
import { describeError, log } from "../platform/logger";
import { withSpan } from "../platform/tracing-port";
import type { TenantDb } from "../tenancy/db";
import {
  notifyDeadLetter,
  putDeadLetter,
  ReplayMarker,
  resolveDeadLetter,
  type AttemptError,
  type DeadLetterScope,
  type Publisher,
} from "../webhooks/deadletters";
import { eventId, flushStagedEvent, stageEvent } from "../webhooks/events";
import { tenantDbFor } from "../webhooks/store";
import { taskId, TraceContext } from "../webhooks/tasks";
import { observeJob } from "./metrics";
import { claim, holdsLease, settle, type JobError, type JobProgress, type JobState, type JobStatus } from "./model";

/** The task-queue function that runs every job type. */
export const JOB_QUEUE = "runJob";

/** Added to a type's timeout for the lease: the settle transaction must fit inside it. */
export const LEASE_MARGIN_MS = 60_000;
/** Largest serialised result kept on the record (the record is read by clients' listeners). */
export const MAX_RESULT_BYTES = 16 * 1024;
const MAX_ERRORS_KEPT = 20;

export interface JobRecord {
  type: string;
  status: JobStatus;
  input: unknown;
  progress: JobProgress;
  attempts: number;
  roundStart: number;
  round: number;
  maxAttempts: number;
  result: unknown;
  error: JobError | null;
  errors: AttemptError[];
  createdBy: string;
  dedupeKey: string | null;
  leaseId: string | null;
  leaseExpiresAt: Timestamp | null;
  deadLetterId: string | null;
  replayRound: number;
  runAfter: Timestamp | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
  startedAt: Timestamp | null;
  finishedAt: Timestamp | null;
  cancelledBy: string | null;
  expireAt: Timestamp;
}

export function stateOf(job: JobRecord): JobState {
  return {
    status: job.status,
    attempts: job.attempts ?? 0,
    roundStart: job.roundStart ?? 0,
    round: job.round ?? 0,
    maxAttempts: job.maxAttempts,
    leaseId: job.leaseId ?? null,
    leaseExpiresAt: job.leaseExpiresAt ? job.leaseExpiresAt.toMillis() : null,
    runAfter: job.runAfter ? job.runAfter.toMillis() : null,
  };
}

export const JobTask = z.strictObject({
  tenantId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/),
  jobId: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/),
  round: z.number().int().nonnegative().optional(),
  replay: ReplayMarker.optional(),
  /** Set by `cloudTasksEnqueue`: the enqueuer's trace. */
  trace: TraceContext.optional(),
});
export type JobTask = z.infer<typeof JobTask>;

/** The dead-letter id of a job: stable, so a replay that fails again re-opens the same letter. */
export function jobDeadLetterId(jobId: string): string {
  return taskId("job", jobId);
}

/** The id of a job's `job.succeeded` / `job.failed` event for one round. */
export function jobEventId(tenantId: string, jobId: string, round: number, status: "succeeded" | "failed"): string {
  return eventId("job", tenantId, jobId, String(round), status);
}

export interface RunDeps {
  types: ReadonlyMap<string, JobDefinition>;
  /** maxAttempts of the task queue: the dispatch with this number is the last one. */
  queueMaxAttempts: number;
  retentionMs: number;
  /** How often a running job checks for cancellation (ms). */
  pollMs?: number;
  now?: () => number;
  publish?: Publisher;
}

export type RunOutcome = "succeeded" | "failed" | "retry" | "cancelled" | "finished" | "lost" | "skipped" | "not-found";

/** Thrown into a handler (and used as the abort reason) when its run must stop. */
export class JobAborted extends AppError {
  constructor(readonly why: "cancelled" | "lease-lost" | "deadline-exceeded") {
    super(why === "deadline-exceeded" ? "deadline-exceeded" : "aborted", `job run stopped: ${why}`);
    this.name = "JobAborted";
  }
}

type Attempt = { ok: true; result: unknown } | { ok: false; error: JobError; permanent: boolean; detail: string };

function failureOf(error: unknown): Attempt {
  if (error instanceof JobAborted) {
    return { ok: false, error: { code: error.code, message: error.message }, permanent: false, detail: error.message };
  }
  const detail = error instanceof Error ? error.message : String(error);
  if (error instanceof AppError) {
    return { ok: false, error: { code: error.code, message: error.message }, permanent: isClientError(error), detail };
  }
  // Unknown errors keep their message out of the record (clients read it); logs and the dead letter have it.
  return { ok: false, error: { code: "internal", message: "Internal error." }, permanent: false, detail };
}

/**
 * Runs the handler under a lease: aborts it on cancellation (polled), lost lease or timeout, and
 * stops waiting for it then, whether or not it honours the signal.
 */
async function execute(
  type: JobDefinition,
  job: JobRecord,
  ref: DocumentReference,
  db: TenantDb,
  leaseId: string,
  attempt: number,
  deps: RunDeps,
): Promise<Attempt> {
  const parsed = type.input.safeParse(job.input);
  if (!parsed.success) {
    return {
      ok: false,
      error: { code: "invalid-argument", message: "The job's input no longer matches its type." },
      permanent: true,
      detail: "input",
    };
  }
  const controller = new AbortController();
  const abort = (why: JobAborted["why"]) => {
    if (!controller.signal.aborted) controller.abort(new JobAborted(why));
  };
  const timer = setTimeout(() => abort("deadline-exceeded"), type.timeoutSeconds * 1000);
  const poll = setInterval(() => {
    ref.get().then(
      (snap) => {
        if (!snap.exists || !holdsLease(stateOf(snap.data() as JobRecord), leaseId)) {
          abort(snap.get("status") === "cancelled" ? "cancelled" : "lease-lost");
        }
      },
      () => undefined,
    );
  }, deps.pollMs ?? 2000);
  const stopped = new Promise<never>((_, reject) => {
    controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
  });
  const progress = async (update: ProgressUpdate): Promise<void> => {
    if (controller.signal.aborted) throw controller.signal.reason;
    const value: JobProgress = {
      done: Math.max(0, Math.floor(update.done)),
      total: update.total === undefined ? null : Math.max(0, Math.floor(update.total)),
      message: update.message === undefined ? null : String(update.message).slice(0, 500),
    };
    const held = await db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const current = snap.data() as JobRecord | undefined;
      if (!current || !holdsLease(stateOf(current), leaseId)) return current?.status ?? "cancelled";
      tx.update(ref, { progress: value, updatedAt: Timestamp.fromMillis((deps.now ?? Date.now)()) });
      return null;
    });
    if (held !== null) {
      abort(held === "cancelled" ? "cancelled" : "lease-lost");
      throw controller.signal.reason;
    }
  };
  try {
    const result = await Promise.race([
      type.handler({
        input: parsed.data,
        db,
        jobId: ref.id,
        attempt,
        createdBy: job.createdBy,
        progress,
        signal: controller.signal,
      }),
      stopped,
    ]);
    const json = JSON.stringify(result ?? null);
    if (Buffer.byteLength(json) > MAX_RESULT_BYTES) {
      return {
        ok: false,
        error: { code: "out-of-range", message: "The job's result is too large." },
        permanent: true,
        detail: "result too large",
      };
    }
    return { ok: true, result: JSON.parse(json) };
  } catch (error) {
    return failureOf(controller.signal.aborted ? controller.signal.reason : error);
  } finally {
    clearTimeout(timer);
    clearInterval(poll);
    stopped.catch(() => undefined);
  }
}

/** A replayed dead letter re-opens its failed job for a new round (once per replay round). */
async function reopenForReplay(db: TenantDb, ref: DocumentReference, replay: ReplayMarker, nowMs: number) {
  const scope: DeadLetterScope = { kind: "tenant", db };
  await withSpan("firestore.transaction", () =>
    db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const job = snap.data() as JobRecord | undefined;
      const at = Timestamp.fromMillis(nowMs);
      if (job && (job.replayRound ?? 0) >= replay.round) return;
      if (!job || job.status !== "failed") {
        // The job is gone or was dealt with another way (retryJob): nothing left to replay.
        resolveDeadLetter(tx, scope, replay.deadLetterId, new Date(nowMs));
        return;
      }
      tx.update(ref, {
        status: "queued",
        round: (job.round ?? 0) + 1,
        roundStart: job.attempts ?? 0,
        replayRound: replay.round,
        updatedAt: at,
      });
    }),
  );
}

/**
 * Handles one dispatch of a job task. Returns when the dispatch is done (Cloud Tasks acknowledges);
 * throws when it should be retried: a failed attempt with attempts left, a live lease held by
 * another dispatch, or an event that could not be published yet.
 */
export async function runJobTask(data: unknown, dispatch: number, deps: RunDeps): Promise<RunOutcome> {
  const parsed = JobTask.safeParse(data);
  if (!parsed.success) {
    // Only this codebase enqueues here; a malformed payload is a bug that no retry fixes.
    log.error("malformed job task payload dropped", { issues: parsed.error.issues.length });
    return "skipped";
  }
  const task = parsed.data;
  const clock = deps.now ?? Date.now;
  const db = tenantDbFor(task.tenantId);
  const ref = db.doc(`jobs/${task.jobId}`);
  if (task.replay) await reopenForReplay(db, ref, task.replay, clock());

  const leaseId = randomUUID();
  const claimed = await withSpan("firestore.transaction", () =>
    db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      if (!snap.exists) return { kind: "not-found" as const };
      const job = snap.data() as JobRecord;
      const nowMs = clock();
      const decision = claim(stateOf(job), nowMs);
      if (decision.kind !== "run") return { ...decision, job };
      const timeoutMs = (deps.types.get(job.type)?.timeoutSeconds ?? 60) * 1000;
      const at = Timestamp.fromMillis(nowMs);
      tx.update(ref, {
        status: "running",
        attempts: decision.attempt,
        leaseId,
        leaseExpiresAt: Timestamp.fromMillis(nowMs + timeoutMs + LEASE_MARGIN_MS),
        startedAt: job.startedAt ?? at,
        updatedAt: at,
      });
      return { ...decision, job: { ...job, status: "running" as const, attempts: decision.attempt, leaseId } };
    }),
  );
  if (claimed.kind === "not-found") return "not-found";
  if (claimed.kind === "finished") {
    // A previous dispatch may have committed the outcome but failed to publish its event.
    if (claimed.status === "succeeded" || claimed.status === "failed") {
      await flushStagedEvent(db, jobEventId(db.tenantId, task.jobId, claimed.job.round ?? 0, claimed.status));
    }
    return "finished";
  }
  if (claimed.kind === "busy") {
    throw new Error(`job ${task.jobId} is running under another lease for ${Math.ceil(claimed.retryAfterMs / 1000)} s`);
  }
  if (claimed.kind === "early") {
    throw new Error(`job ${task.jobId} may not start for another ${Math.ceil(claimed.retryAfterMs / 1000)} s`);
  }

  const job = claimed.job;
  const type = deps.types.get(job.type);
  const started = clock();
  const attempt: Attempt = type
    ? await withSpan("job.run", () => execute(type, job, ref, db, leaseId, claimed.attempt, deps), {
        "saas.job.type": job.type,
        "saas.job.attempt": claimed.attempt,
      })
    : {
        ok: false,
        error: { code: "failed-precondition", message: "Unknown job type." },
        permanent: true,
        detail: "unknown type",
      };
  const seconds = (clock() - started) / 1000;
  const lastDispatch = dispatch >= deps.queueMaxAttempts;
  return finish(db, ref, task, leaseId, claimed.attempt, attempt, lastDispatch, seconds, deps);
}

async function finish(
  db: TenantDb,
  ref: DocumentReference,
  task: JobTask,
  leaseId: string,
  attemptNo: number,
  attempt: Attempt,
  lastDispatch: boolean,
  seconds: number,
  deps: RunDeps,
): Promise<RunOutcome> {
  const clock = deps.now ?? Date.now;
  const scope: DeadLetterScope = { kind: "tenant", db };
  const deadLetterId = jobDeadLetterId(task.jobId);
  const settled = await withSpan("firestore.transaction", () =>
    db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const job = snap.data() as JobRecord | undefined;
      if (!job) return { kind: "lost" as const, status: undefined };
      const decision = settle(
        stateOf(job),
        leaseId,
        attempt.ok ? { ok: true } : { ok: false, permanent: attempt.permanent, lastDispatch },
      );
      if (decision.kind === "lost") return { kind: "lost" as const, status: job.status };
      const nowMs = clock();
      const at = Timestamp.fromMillis(nowMs);
      const errors = attempt.ok
        ? (job.errors ?? [])
        : [
            ...(job.errors ?? []),
            { attempt: attemptNo, at: new Date(nowMs).toISOString(), message: attempt.detail.slice(0, 500) },
          ].slice(-MAX_ERRORS_KEPT);
      if (decision.kind === "failed" && !attempt.ok) {
        // Reads first: putDeadLetter reads the letter before the transaction's writes.
        await putDeadLetter(
          tx,
          scope,
          {
            id: deadLetterId,
            source: "job",
            queue: JOB_QUEUE,
            payload: { tenantId: db.tenantId, jobId: task.jobId },
            reference: task.jobId,
            attempts: decision.attemptInRound,
            errors: errors.filter((e) => e.attempt > (job.roundStart ?? 0)),
          },
          new Date(nowMs),
        );
      }
      const round = job.round ?? 0;
      const base = { leaseId: null, leaseExpiresAt: null, errors, updatedAt: at };
      const payload = (error: JobError | null) => ({
        jobId: task.jobId,
        type: job.type,
        attempts: attemptNo,
        createdBy: job.createdBy,
        error,
      });
      if (decision.kind === "succeeded" && attempt.ok) {
        if (job.deadLetterId) resolveDeadLetter(tx, scope, job.deadLetterId, new Date(nowMs));
        tx.update(ref, {
          ...base,
          status: "succeeded",
          result: attempt.result,
          error: null,
          finishedAt: at,
          expireAt: Timestamp.fromMillis(nowMs + deps.retentionMs),
        });
        stageEvent(tx, db, "job.succeeded", payload(null), jobEventId(db.tenantId, task.jobId, round, "succeeded"));
      } else if (decision.kind === "failed" && !attempt.ok) {
        tx.update(ref, {
          ...base,
          status: "failed",
          error: attempt.error,
          deadLetterId,
          finishedAt: at,
          expireAt: Timestamp.fromMillis(nowMs + deps.retentionMs),
        });
        stageEvent(tx, db, "job.failed", payload(attempt.error), jobEventId(db.tenantId, task.jobId, round, "failed"));
      } else if (!attempt.ok) {
        tx.update(ref, { ...base, status: "queued", error: attempt.error });
      }
      return { kind: decision.kind, job, round };
    }),
  );

  const type = settled.kind === "lost" ? "unknown" : settled.job.type;
  if (settled.kind === "lost") {
    observeJob(type, "discarded", seconds);
    log.info("job run discarded", { jobId: task.jobId, status: settled.status ?? "missing" });
    return settled.status === "cancelled" ? "cancelled" : "lost";
  }
  observeJob(settled.job.type, settled.kind, seconds);
  if (settled.kind === "retry") {
    const failure = attempt as Extract<Attempt, { ok: false }>;
    log.warn("job attempt failed; Cloud Tasks will retry", {
      jobId: task.jobId,
      type: settled.job.type,
      retryCount: attemptNo - 1,
      cause: failure.detail,
    });
    throw new Error(`job ${task.jobId} attempt ${attemptNo} failed: ${failure.error.code}`);
  }
  const status = settled.kind === "succeeded" ? "succeeded" : "failed";
  if (settled.kind === "failed") {
    const failure = attempt as Extract<Attempt, { ok: false }>;
    log.warn("job failed and was dead-lettered", { jobId: task.jobId, type: settled.job.type, cause: failure.detail });
    await notifyDeadLetter(
      {
        deadLetterId,
        tenantId: db.tenantId,
        source: "job",
        reference: task.jobId,
        attempts: attemptNo - (settled.job.roundStart ?? 0),
        lastError: failure.error.message,
      },
      deps.publish,
    );
  }
  try {
    await flushStagedEvent(db, jobEventId(db.tenantId, task.jobId, settled.round, status));
  } catch (error) {
    // The outcome is committed; the retry finds the job finished and publishes the staged event.
    log.warn("job event not published yet; retrying", { jobId: task.jobId, ...describeError(error) });
    throw error;
  }
  return status;
}
