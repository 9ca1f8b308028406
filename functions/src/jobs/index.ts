/**
 * Jobs: `enqueueJob`, `getJob`, `listJobs`, `cancelJob`, `retryJob`, and the `runJob` task
 * queue that runs every job type.
 *
 * The callables act in the caller's active tenant like any tenant function (membership, tenant
 * status, MFA policy, permissions), or, for a platform admin who names `tenantId`, in that
 * tenant: operator job types (`secrets.reencrypt`, `tenant.purge`) are started that way, and the
 * admin is not a member of the tenants they act on.
 */
import { onTaskDispatched } from "firebase-functions/v2/tasks";
import { z } from "zod";
import { callable, type AuthedContext } from "../platform/callable";
import { intValue, params, secrets } from "../platform/config";
import { notFound, permissionDenied } from "../platform/errors";
import { admit, isPlatformAdmin } from "../platform/pipeline";
import { withSpec, type FunctionSpec } from "../platform/spec";
import { traceTask } from "../platform/tracing-port";
import { TenantId } from "../platform/validation";
import { satisfies } from "../rbac/effective";
import { tenantDbFor } from "../webhooks/store";
import { attemptOf, cloudTasksEnqueue } from "../webhooks/tasks";
import { JOB_STATUSES } from "./model";
import { jobTypes } from "./registry";
import { JOB_QUEUE, JobTask, runJobTask } from "./runner";
import * as service from "./service";

const JobId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/, "must be a job id");
/** Platform admins only: the tenant to act in. */
const AsTenant = { tenantId: TenantId.optional() };

function deps(): service.JobDeps {
  return { types: jobTypes(), enqueue: cloudTasksEnqueue, retentionDays: intValue(params.jobRetentionDays) };
}

/**
 * The actor of a jobs call. With `tenantId`: a platform admin acting in that tenant (anyone else
 * gets `permission-denied`). Without: the admission pipeline resolves the caller's active tenant
 * exactly as for `tenantCallable`, which is what the spec says these functions do otherwise.
 */
async function actorOf(ctx: AuthedContext<{ tenantId?: string }>, name: string): Promise<service.JobActor> {
  const tenantId = ctx.data.tenantId;
  if (tenantId !== undefined) {
    if (!isPlatformAdmin(ctx.principal)) throw permissionDenied();
    const db = tenantDbFor(tenantId);
    if (!(await db.tenantDoc().get()).exists) throw notFound("Tenant not found.");
    return { db, uid: ctx.uid, platformAdmin: true, can: () => true };
  }
  const spec: FunctionSpec = { kind: "callable", name, description: "", auth: "required", tenant: true };
  const admission = await admit(spec, ctx.principal);
  const tenant = admission.tenant as NonNullable<typeof admission.tenant>;
  return {
    db: tenant.db,
    uid: ctx.uid,
    platformAdmin: isPlatformAdmin(ctx.principal),
    can: (requirement) => satisfies(tenant.permissions, requirement),
  };
}

export const enqueueJob = callable(
  {
    name: "enqueueJob",
    description:
      "Starts a background job of a registered type in the caller's tenant; the same dedupeKey always returns the same job.",
    input: z.strictObject({
      type: z.string().max(100),
      input: z.unknown().optional(),
      delaySeconds: z
        .number()
        .int()
        .min(0)
        .max(30 * 86_400)
        .optional(),
      dedupeKey: z
        .string()
        .regex(/^[\x20-\x7e]{1,200}$/, "must be 1-200 printable ASCII characters")
        .optional(),
      ...AsTenant,
    }),
  },
  async (ctx) => {
    const { tenantId: _tenant, ...request } = ctx.data;
    return service.enqueueJob(await actorOf(ctx, "enqueueJob"), request, deps());
  },
);

export const getJob = callable(
  {
    name: "getJob",
    description: "Returns one job: status, progress, attempts, result or error (its creator, or jobs:read).",
    input: z.strictObject({ jobId: JobId, ...AsTenant }),
  },
  async (ctx) => service.getJob(await actorOf(ctx, "getJob"), ctx.data.jobId),
);

export const listJobs = callable(
  {
    name: "listJobs",
    description: "Lists the tenant's jobs newest first, by status and type (without jobs:read: the caller's own).",
    input: z.strictObject({
      status: z.enum(JOB_STATUSES).optional(),
      type: z.string().max(100).optional(),
      limit: z.number().int().min(1).max(100).default(25),
      after: JobId.optional(),
      ...AsTenant,
    }),
  },
  async (ctx) => {
    const { tenantId: _tenant, ...options } = ctx.data;
    return service.listJobs(await actorOf(ctx, "listJobs"), options);
  },
);

export const cancelJob = callable(
  {
    name: "cancelJob",
    description: "Cancels a queued or running job (its creator, or jobs:manage); a running handler is aborted.",
    input: z.strictObject({ jobId: JobId, ...AsTenant }),
  },
  async (ctx) => service.cancelJob(await actorOf(ctx, "cancelJob"), ctx.data.jobId, deps()),
);

export const retryJob = callable(
  {
    name: "retryJob",
    description: "Runs a failed job again with a fresh round of attempts (its creator, or jobs:manage).",
    input: z.strictObject({ jobId: JobId, ...AsTenant }),
  },
  async (ctx) => service.retryJob(await actorOf(ctx, "retryJob"), ctx.data.jobId, deps()),
);

const RUN_SPEC: FunctionSpec = {
  kind: "task",
  name: JOB_QUEUE,
  description: "Runs one attempt of a job under a lease; throws to retry, dead-letters after the last attempt.",
  input: JobTask,
  auth: "none",
  tenant: false,
};

export const runJob = withSpec(
  onTaskDispatched(
    {
      // One queue for every type: a new type needs no new function or queue. The queue's backoff
      // applies to all; each type's maxAttempts ends its round early (runner.ts).
      retryConfig: {
        maxAttempts: params.jobMaxAttempts.param,
        minBackoffSeconds: params.jobMinBackoffSeconds.param,
        maxBackoffSeconds: params.jobMaxBackoffSeconds.param,
        maxDoublings: 16,
      },
      rateLimits: { maxConcurrentDispatches: params.jobTaskConcurrency.param, maxDispatchesPerSecond: 100 },
      // The longest job type's timeout plus the lease margin; tenant.export builds its file in memory.
      timeoutSeconds: 1800,
      memory: "1GiB",
      secrets: [secrets.dataEncryptionKey],
    },
    (request) =>
      traceTask(RUN_SPEC, request, async () => {
        await runJobTask(request.data, attemptOf(request), {
          types: jobTypes(),
          queueMaxAttempts: intValue(params.jobMaxAttempts),
          retentionMs: intValue(params.jobRetentionDays) * 86_400_000,
        });
      }),
  ),
  RUN_SPEC,
);
