/**
 * `defineJob`: how a module declares a kind of background work.
 *
 * A job type names its input schema (zod), who may start it, its retry and timeout bounds and its
 * handler. The jobs module (src/jobs) owns everything else: the record
 * `tenants/{tid}/jobs/{jobId}` and its state machine, the `runJob` task queue, the callables,
 * dead letters and events. A handler receives parsed input, the tenant-scoped `db`, a
 * `progress()` reporter and an `AbortSignal` that fires on cancellation or timeout.
 *
 * Handlers throw to fail an attempt. An `AppError` with a client-error code (invalid-argument,
 * failed-precondition, not-found, permission-denied…) fails the job at once: no retry can fix it.
 * Anything else is retried until the type's `maxAttempts`, then dead-lettered.
 */
import type { z } from "zod";
import type { PermissionRequirement } from "../rbac/effective";
import type { TenantDb } from "../tenancy/db";

/** What a job reports while it runs; clients watch it on the job record. */
export interface ProgressUpdate {
  done: number;
  total?: number;
  message?: string;
}

export interface JobContext<I> {
  input: I;
  /** The job's tenant, and only it. */
  db: TenantDb;
  jobId: string;
  /** 1-based attempt number of this run (across retry rounds). */
  attempt: number;
  createdBy: string;
  /**
   * Records progress on the job record. Throws (and aborts `signal`) when the job was cancelled
   * or its lease was lost meanwhile, so a loop that reports progress stops by itself.
   */
  progress(update: ProgressUpdate): Promise<void>;
  /** Aborted on cancellation (noticed within the runner's poll interval) or at the timeout. */
  signal: AbortSignal;
}

/** Who may start a job: members holding a permission, or platform admins only (operator jobs). */
export type JobAccess = { permission: PermissionRequirement } | { platformAdmin: true };

export interface JobRetryConfig {
  /** Attempts per round before the job fails and is dead-lettered (1–JOB_MAX_ATTEMPTS). */
  maxAttempts: number;
}

export interface JobDefinition<S extends z.ZodType = z.ZodType, R = unknown> {
  /** Dotted lowercase name, e.g. `tenant.export`; stored on the record and used in metrics. */
  type: string;
  description: string;
  input: S;
  access: JobAccess;
  retry: JobRetryConfig;
  /** Wall-clock bound of one attempt, 1–MAX_JOB_TIMEOUT_SECONDS; the lease is this plus a margin. */
  timeoutSeconds: number;
  /** Returns the job's result (JSON, at most MAX_RESULT_BYTES serialised). */
  handler(ctx: JobContext<z.output<S>>): Promise<R>;
}

export const JOB_TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
/** The `runJob` function's own timeout bounds every job type's (minus the lease margin). */
export const MAX_JOB_TIMEOUT_SECONDS = 1740;
/** Attempts per round a type may ask for; the task queue's maxAttempts is at least this. */
export const MAX_JOB_ATTEMPTS = 10;

/** Declares a job type, checking its bounds once at load time. */
export function defineJob<S extends z.ZodType, R>(definition: JobDefinition<S, R>): JobDefinition<S, R> {
  if (!JOB_TYPE.test(definition.type)) throw new Error(`job type "${definition.type}" must be dotted lowercase words`);
  const { maxAttempts } = definition.retry;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > MAX_JOB_ATTEMPTS) {
    throw new Error(`job type ${definition.type}: retry.maxAttempts must be 1–${MAX_JOB_ATTEMPTS}`);
  }
  const timeout = definition.timeoutSeconds;
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > MAX_JOB_TIMEOUT_SECONDS) {
    throw new Error(`job type ${definition.type}: timeoutSeconds must be 1–${MAX_JOB_TIMEOUT_SECONDS}`);
  }
  return Object.freeze({ ...definition });
}
