/**
 * Enqueueing Cloud Tasks for this codebase's task-queue functions.
 *
 * Uses firebase-admin's task queue client (it talks to the Cloud Tasks emulator when
 * CLOUD_TASKS_EMULATOR_HOST is set), loaded lazily so functions that never enqueue do not pay
 * for it at cold start. Every task gets a deterministic id: a second enqueue of the same work
 * answers "already exists", which counts as success.
 */
import { createHash } from "node:crypto";
import type { TaskQueue } from "firebase-admin/functions";
import { z } from "zod";
import { adminApp } from "../platform/admin";
import { params } from "../platform/config";
import { injectTraceContext, withSpan } from "../platform/tracing-port";

export interface EnqueueOptions {
  /** Deterministic task id ([A-Za-z0-9_-], ≤ 500 chars). */
  id: string;
  /** Delay before the task is dispatched (the emulator dispatches at once). */
  delaySeconds?: number;
  /** How long Cloud Tasks waits for the handler (15–1800 s; its default is 600 s). */
  dispatchDeadlineSeconds?: number;
}

/** "enqueued" for a new task, "exists" when a task with this id was already created. */
export type EnqueueOutcome = "enqueued" | "exists";

export type Enqueue = (
  queue: string,
  payload: Record<string, unknown>,
  options: EnqueueOptions,
) => Promise<EnqueueOutcome>;

/**
 * The W3C trace context a task payload carries (`trace`), so the task handler continues the
 * enqueuer's trace. Tight bounds: the payload schemas stay strict, and this is the only field
 * a payload gains for tracing.
 */
export const TraceContext = z.strictObject({
  traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/),
  tracestate: z.string().max(512).optional(),
});
export type TraceContext = z.infer<typeof TraceContext>;

/** What actually hands a task to Cloud Tasks; replaceable so tests can capture tasks. */
export type TaskTransport = (
  queue: string,
  payload: Record<string, unknown>,
  options: {
    id: string;
    scheduleDelaySeconds?: number;
    dispatchDeadlineSeconds?: number;
    headers: Record<string, string>;
  },
) => Promise<void>;

const queues = new Map<string, TaskQueue>();

const adminTransport: TaskTransport = async (queue, payload, options) => {
  let taskQueue = queues.get(queue);
  if (!taskQueue) {
    const { getFunctions } = await import("firebase-admin/functions");
    taskQueue = getFunctions(adminApp()).taskQueue(`locations/${params.region.value()}/functions/${queue}`);
    queues.set(queue, taskQueue);
  }
  await taskQueue.enqueue(payload, options);
};

let transport: TaskTransport = adminTransport;

/**
 * Replaces the Cloud Tasks client under `cloudTasksEnqueue` (tests run the real functions with a
 * recorder); `undefined` restores firebase-admin's.
 */
export function setTaskTransport(next: TaskTransport | undefined): void {
  transport = next ?? adminTransport;
}

/** A task id from arbitrary parts: hashed, so ids are valid and spread across the keyspace. */
export function taskId(prefix: string, ...parts: string[]): string {
  // Cloud Tasks recommends non-sequential names; a hash prefix also makes any input id safe.
  return `${prefix}-${createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 40)}`;
}

function isAlreadyExists(error: unknown): boolean {
  const code = (error as { code?: string; errorInfo?: { code?: string } })?.code ?? "";
  return code === "functions/task-already-exists" || code === "task-already-exists";
}

/**
 * Enqueues on the task queue of the function named `queue` in the configured region, inside a
 * `cloudtasks.enqueue` span. The current trace context goes both into the task's headers and
 * into the payload's `trace` field (which `traceTask` prefers: headers may be rewritten by the
 * infrastructure that dispatches the task), so the task handler's span joins this trace.
 */
export const cloudTasksEnqueue: Enqueue = (queue, payload, options) =>
  withSpan(
    "cloudtasks.enqueue",
    async () => {
      const trace: Record<string, string> = injectTraceContext({});
      // A stale `trace` (a dead letter's stored payload being replayed) never outlives this hop.
      const { trace: _stale, ...rest } = payload;
      const body = trace.traceparent ? { ...rest, trace } : rest;
      try {
        await transport(queue, body, {
          id: options.id,
          headers: trace,
          ...(options.delaySeconds && options.delaySeconds > 0
            ? { scheduleDelaySeconds: Math.ceil(options.delaySeconds) }
            : {}),
          ...(options.dispatchDeadlineSeconds ? { dispatchDeadlineSeconds: options.dispatchDeadlineSeconds } : {}),
        });
        return "enqueued";
      } catch (error) {
        if (isAlreadyExists(error)) return "exists";
        throw error;
      }
    },
    { "messaging.system": "gcp_cloud_tasks", "messaging.destination.name": queue },
  );

/**
 * The attempt number (1-based) of a task dispatch. `retryCount` counts every earlier dispatch,
 * including ones that failed with 5xx (which `executionCount` leaves out), so it is the one
 * that matches the queue's `maxAttempts`.
 */
export function attemptOf(request: { retryCount?: number; executionCount?: number }): number {
  const retries = Number.isInteger(request.retryCount) ? (request.retryCount as number) : 0;
  const executions = Number.isInteger(request.executionCount) ? (request.executionCount as number) : 0;
  return Math.max(retries, executions) + 1;
}
