/**
 * The jobs service behind the callables: creating (with de-duplication), reading, listing,
 * cancelling and retrying job records, and enqueueing their tasks.
 */
import { createHash } from "node:crypto";
import { AppError, failedPrecondition, invalidArgument, notFound, permissionDenied } from "../platform/errors";
import { Timestamp, isoTime } from "../platform/firestore-sdk";
import type { JobDefinition } from "../platform/jobs";
import { log } from "../platform/logger";
import { metrics } from "../platform/metrics";
import { parseInput } from "../platform/validation";
import type { PermissionRequirement } from "../rbac/effective";
import type { TenantDb } from "../tenancy/db";
import type { Enqueue } from "../webhooks/tasks";
import { canCancel, canRetry, jobTaskId, type JobError, type JobProgress, type JobStatus } from "./model";
import { JOB_QUEUE, LEASE_MARGIN_MS, type JobRecord } from "./runner";

const DAY_MS = 86_400_000;
const ALREADY_EXISTS = 6;

/** Who acts on jobs: a member of the tenant with their permissions, or a platform admin. */
export interface JobActor {
  db: TenantDb;
  uid: string;
  platformAdmin: boolean;
  /** True when the actor holds `requirement` in the tenant (always, for a platform admin). */
  can(requirement: PermissionRequirement): boolean;
}

export interface JobDeps {
  types: ReadonlyMap<string, JobDefinition>;
  enqueue: Enqueue;
  retentionDays: number;
  now?: () => number;
}

export interface JobView {
  id: string;
  type: string;
  status: JobStatus;
  input: unknown;
  progress: JobProgress;
  attempts: number;
  result: unknown;
  error: JobError | null;
  createdBy: string;
  dedupeKey: string | null;
  createdAt: string | null;
  updatedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  runAfter: string | null;
}

export function viewOf(id: string, job: JobRecord): JobView {
  return {
    id,
    type: job.type,
    status: job.status,
    input: job.input ?? null,
    progress: job.progress,
    attempts: job.attempts ?? 0,
    result: job.result ?? null,
    error: job.error ?? null,
    createdBy: job.createdBy,
    dedupeKey: job.dedupeKey ?? null,
    createdAt: isoTime(job.createdAt),
    updatedAt: isoTime(job.updatedAt),
    startedAt: isoTime(job.startedAt),
    finishedAt: isoTime(job.finishedAt),
    runAfter: isoTime(job.runAfter),
  };
}

/** May `actor` start a job of `type`? Operator types need a platform admin. */
function mayStart(actor: JobActor, type: JobDefinition): boolean {
  if ("platformAdmin" in type.access) return actor.platformAdmin;
  return actor.can(type.access.permission);
}

function lookupType(types: ReadonlyMap<string, JobDefinition>, name: string): JobDefinition {
  const type = types.get(name);
  if (!type) throw invalidArgument(`type: unknown job type`, { type: ["unknown job type"] });
  return type;
}

/** The id of a de-duplicated job: the same (type, key) always names the same record. */
export function dedupedJobId(type: string, dedupeKey: string): string {
  return `job-${createHash("sha256").update(`${type}\u0000${dedupeKey}`).digest("hex").slice(0, 40)}`;
}

async function enqueueRound(
  db: TenantDb,
  jobId: string,
  round: number,
  type: JobDefinition | undefined,
  deps: JobDeps,
  delaySeconds?: number,
) {
  try {
    await deps.enqueue(
      JOB_QUEUE,
      { tenantId: db.tenantId, jobId, round },
      {
        id: jobTaskId(jobId, round),
        delaySeconds,
        // Cloud Tasks must wait for the whole attempt (its default deadline is 10 minutes).
        dispatchDeadlineSeconds: Math.min(1800, Math.max(15, (type?.timeoutSeconds ?? 60) + LEASE_MARGIN_MS / 1000)),
      },
    );
  } catch (error) {
    log.error("job task not enqueued", { jobId, cause: error instanceof Error ? error.message : String(error) });
    // The record exists and stays queued: the same call again (same dedupeKey) enqueues it.
    throw new AppError("unavailable", "The job could not be queued; retry the call.", { retryAfterSeconds: 5 });
  }
}

export interface EnqueueRequest {
  type: string;
  input?: unknown;
  delaySeconds?: number;
  dedupeKey?: string;
}

/**
 * Creates a job and enqueues its first task. With a `dedupeKey` the job id is derived from
 * (type, key) and the record is created only if absent, so any number of concurrent or repeated
 * calls make one job; each returns it (`created: false` for all but the first). Unknown types and
 * invalid input are refused before anything is written or enqueued.
 */
export async function enqueueJob(
  actor: JobActor,
  request: EnqueueRequest,
  deps: JobDeps,
): Promise<{ job: JobView; created: boolean }> {
  const type = lookupType(deps.types, request.type);
  if (!mayStart(actor, type)) throw permissionDenied();
  let input: unknown;
  try {
    input = parseInput(type.input, request.input ?? {});
  } catch (error) {
    if (error instanceof AppError && error.details.fields) {
      const fields = Object.fromEntries(
        Object.entries(error.details.fields).map(([k, v]) => [k ? `input.${k}` : "input", v]),
      );
      throw invalidArgument(error.message.replace("Invalid input: ", "Invalid input: input."), fields);
    }
    throw error;
  }
  const nowMs = (deps.now ?? Date.now)();
  const { db } = actor;
  const jobId = request.dedupeKey ? dedupedJobId(type.type, request.dedupeKey) : db.collection("jobs").doc().id;
  const ref = db.doc(`jobs/${jobId}`);
  const at = Timestamp.fromMillis(nowMs);
  const record: JobRecord = {
    type: type.type,
    status: "queued",
    input,
    progress: { done: 0, total: null, message: null },
    attempts: 0,
    roundStart: 0,
    round: 0,
    maxAttempts: type.retry.maxAttempts,
    result: null,
    error: null,
    errors: [],
    createdBy: actor.uid,
    dedupeKey: request.dedupeKey ?? null,
    leaseId: null,
    leaseExpiresAt: null,
    deadLetterId: null,
    replayRound: 0,
    runAfter: request.delaySeconds ? Timestamp.fromMillis(nowMs + request.delaySeconds * 1000) : null,
    createdAt: at,
    updatedAt: at,
    startedAt: null,
    finishedAt: null,
    cancelledBy: null,
    expireAt: Timestamp.fromMillis(nowMs + deps.retentionDays * DAY_MS),
  };
  let created = true;
  let current = record;
  try {
    // Create-if-absent: one write, no read; concurrent duplicates fail here instead of contending.
    await ref.create(record);
  } catch (error) {
    if ((error as { code?: unknown }).code !== ALREADY_EXISTS) throw error;
    created = false;
    current = (await ref.get()).data() as JobRecord;
  }
  metrics.inc("jobs_enqueued_total", { type: type.type, outcome: created ? "created" : "deduplicated" });
  // A duplicate call re-enqueues a job still queued: the first call's enqueue may have failed.
  if (current.status === "queued") {
    await enqueueRound(db, jobId, current.round ?? 0, type, deps, created ? request.delaySeconds : undefined);
  }
  return { job: viewOf(jobId, current), created };
}

async function readJob(actor: JobActor, jobId: string): Promise<JobRecord> {
  const snap = await actor.db.doc(`jobs/${jobId}`).get();
  if (!snap.exists) throw notFound("No such job.");
  return snap.data() as JobRecord;
}

/** A job may be read by its creator and by holders of `jobs:read`. Others get `not-found`. */
export async function getJob(actor: JobActor, jobId: string): Promise<JobView> {
  const job = await readJob(actor, jobId);
  if (job.createdBy !== actor.uid && !actor.can("jobs:read")) throw notFound("No such job.");
  return viewOf(jobId, job);
}

/**
 * Lists jobs newest first, optionally by status and type, a page at a time (`after` is the last
 * id of the previous page). Without `jobs:read` a caller sees only the jobs they created.
 */
export async function listJobs(
  actor: JobActor,
  options: { status?: JobStatus; type?: string; limit: number; after?: string },
): Promise<{ items: JobView[]; next: string | null }> {
  let query: FirebaseFirestore.Query = actor.db.collection("jobs");
  if (!actor.can("jobs:read")) query = query.where("createdBy", "==", actor.uid);
  if (options.status) query = query.where("status", "==", options.status);
  if (options.type) query = query.where("type", "==", options.type);
  query = query.orderBy("createdAt", "desc");
  if (options.after) {
    const cursor = await actor.db.doc(`jobs/${options.after}`).get();
    if (cursor.exists) query = query.startAfter(cursor);
  }
  const snap = await query.limit(options.limit + 1).get();
  const docs = snap.docs.slice(0, options.limit);
  return {
    items: docs.map((d) => viewOf(d.id, d.data() as JobRecord)),
    next: snap.docs.length > options.limit ? docs[docs.length - 1].id : null,
  };
}

/** `jobs:manage` may act on any job; a creator on their own, while they may still start its type. */
function assertMayManage(actor: JobActor, job: JobRecord, types: ReadonlyMap<string, JobDefinition>): void {
  if (actor.can("jobs:manage")) return;
  const type = types.get(job.type);
  if (job.createdBy === actor.uid && type && mayStart(actor, type)) return;
  if (job.createdBy !== actor.uid && !actor.can("jobs:read")) throw notFound("No such job.");
  throw permissionDenied();
}

/**
 * Cancels a queued or running job. A queued job's task finds it cancelled and stops; a running
 * one's handler is aborted when its runner next looks (progress report or poll), and whatever it
 * returns afterwards is discarded.
 */
export async function cancelJob(actor: JobActor, jobId: string, deps: JobDeps): Promise<JobView> {
  const ref = actor.db.doc(`jobs/${jobId}`);
  const view = await actor.db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    if (!snap.exists) throw notFound("No such job.");
    const job = snap.data() as JobRecord;
    assertMayManage(actor, job, deps.types);
    if (!canCancel(job.status)) throw failedPrecondition(`The job has already ${job.status}.`, "job-finished");
    const nowMs = (deps.now ?? Date.now)();
    const at = Timestamp.fromMillis(nowMs);
    const update = {
      status: "cancelled" as const,
      cancelledBy: actor.uid,
      leaseId: null,
      leaseExpiresAt: null,
      finishedAt: at,
      updatedAt: at,
      expireAt: Timestamp.fromMillis(nowMs + deps.retentionDays * DAY_MS),
    };
    tx.update(ref, update);
    return viewOf(jobId, { ...job, ...update });
  });
  metrics.inc("jobs_total", { type: view.type, outcome: "cancelled" });
  return view;
}

/**
 * Starts a new round of a failed job: its attempts count afresh and a new task is enqueued. On a
 * job that is already queued it only enqueues that round's task again.
 */
export async function retryJob(actor: JobActor, jobId: string, deps: JobDeps): Promise<JobView> {
  const ref = actor.db.doc(`jobs/${jobId}`);
  const result = await actor.db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    if (!snap.exists) throw notFound("No such job.");
    const job = snap.data() as JobRecord;
    assertMayManage(actor, job, deps.types);
    // A queued job gets its current round's task again (same task id: harmless), so a retryJob
    // whose enqueue failed after the commit can simply be called again.
    if (job.status === "queued") return job;
    if (!canRetry(job.status)) throw failedPrecondition("Only a failed job can be retried.", "job-not-failed");
    const at = Timestamp.fromMillis((deps.now ?? Date.now)());
    const update = {
      status: "queued" as const,
      round: (job.round ?? 0) + 1,
      roundStart: job.attempts ?? 0,
      finishedAt: null,
      updatedAt: at,
    };
    tx.update(ref, update);
    return { ...job, ...update };
  });
  await enqueueRound(actor.db, jobId, result.round, deps.types.get(result.type), deps);
  metrics.inc("jobs_enqueued_total", { type: result.type, outcome: "retried" });
  return viewOf(jobId, result);
}
