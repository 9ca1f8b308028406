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
import { adminApp } from "../platform/admin";
import { params } from "../platform/config";

export interface EnqueueOptions {
  /** Deterministic task id ([A-Za-z0-9_-], ≤ 500 chars). */
  id: string;
  /** Delay before the task is dispatched (the emulator dispatches at once). */
  delaySeconds?: number;
}

/** "enqueued" for a new task, "exists" when a task with this id was already created. */
export type EnqueueOutcome = "enqueued" | "exists";

export type Enqueue = (
  queue: string,
  payload: Record<string, unknown>,
  options: EnqueueOptions,
) => Promise<EnqueueOutcome>;

const queues = new Map<string, TaskQueue>();

/** A task id from arbitrary parts: hashed, so ids are valid and spread across the keyspace. */
export function taskId(prefix: string, ...parts: string[]): string {
  // Cloud Tasks recommends non-sequential names; a hash prefix also makes any input id safe.
  return `${prefix}-${createHash("sha256").update(parts.join("\u0000")).digest("hex").slice(0, 40)}`;
}

function isAlreadyExists(error: unknown): boolean {
  const code = (error as { code?: string; errorInfo?: { code?: string } })?.code ?? "";
  return code === "functions/task-already-exists" || code === "task-already-exists";
}

/** Enqueues on the task queue of the function named `queue` in the configured region. */
export const cloudTasksEnqueue: Enqueue = async (queue, payload, options) => {
  let taskQueue = queues.get(queue);
  if (!taskQueue) {
    const { getFunctions } = await import("firebase-admin/functions");
    taskQueue = getFunctions(adminApp()).taskQueue(`locations/${params.region.value()}/functions/${queue}`);
    queues.set(queue, taskQueue);
  }
  try {
    await taskQueue.enqueue(payload, {
      id: options.id,
      ...(options.delaySeconds && options.delaySeconds > 0
        ? { scheduleDelaySeconds: Math.ceil(options.delaySeconds) }
        : {}),
    });
    return "enqueued";
  } catch (error) {
    if (isAlreadyExists(error)) return "exists";
    throw error;
  }
};

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
