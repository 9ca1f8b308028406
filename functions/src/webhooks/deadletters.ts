/**
 * The dead-letter store, shared by inbound event processing and outbound delivery.
 *
 * Cloud Tasks has no dead-letter queue: after the last attempt it deletes the task. Our task
 * handlers therefore detect their final attempt and write the task's payload, error history
 * and attempt count to `tenants/{tid}/deadLetters/{id}` (or the platform's `deadLetters/{id}`
 * for inbound events that could not be routed to a tenant), then publish a notice on the
 * DEAD_LETTER_TOPIC Pub/Sub topic. The notice is best effort: the dead letter is the durable
 * record, a failed publish is logged and counted.
 *
 * Replay re-enqueues the stored payload with a `replay` marker under a new deterministic task id
 * per replay round. The handlers are idempotent, so a replay never applies an event twice; the
 * store additionally refuses to start a second replay while one is in flight or after success.
 * Every replay round ends with the letter `resolved` or `open` again (with the reason), never
 * left `replaying`.
 */
import type { DocumentReference, DocumentSnapshot, Transaction } from "firebase-admin/firestore";
import { Timestamp, isoTime } from "../platform/firestore-sdk";
import { z } from "zod";
import { params, runtime } from "../platform/config";
import { log } from "../platform/logger";
import { metrics } from "../platform/metrics";
import type { TenantDb } from "../tenancy/db";
import { platformDeadLetters, runRootTransaction } from "./store";
import type { Enqueue } from "./tasks";

export type DeadLetterSource = "payments.inbound" | "webhooks.outbound" | "job";
export type DeadLetterStatus = "open" | "replaying" | "resolved";

/** One failed attempt, as kept in a dead letter's history. */
export interface AttemptError {
  attempt: number;
  at: string;
  message: string;
}

export interface DeadLetterRecord {
  source: DeadLetterSource;
  /** The task queue (function name) that processes the payload. */
  queue: string;
  payload: Record<string, unknown>;
  /** What the payload is about: an inbound event id or an outbound delivery id. */
  reference: string;
  tenantId: string | null;
  status: DeadLetterStatus;
  attempts: number;
  errors: AttemptError[];
  lastError: string;
  replayCount: number;
  replayedAt: Timestamp | null;
  resolvedAt: Timestamp | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

/** Where dead letters live: a tenant, or the platform (unroutable inbound events). */
export type DeadLetterScope = { kind: "tenant"; db: TenantDb } | { kind: "platform" };

/** The replay marker a handler finds in a replayed payload. */
export const ReplayMarker = z.strictObject({
  deadLetterId: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/),
  round: z.number().int().positive(),
  tenantId: z.string().nullable(),
});
export type ReplayMarker = z.infer<typeof ReplayMarker>;

const MAX_ERRORS_KEPT = 50;

export function deadLetterRef(scope: DeadLetterScope, id: string): DocumentReference {
  return scope.kind === "tenant" ? scope.db.doc(`deadLetters/${id}`) : platformDeadLetters().doc(id);
}

function scopeTenant(scope: DeadLetterScope): string | null {
  return scope.kind === "tenant" ? scope.db.tenantId : null;
}

export interface NewDeadLetter {
  id: string;
  source: DeadLetterSource;
  queue: string;
  payload: Record<string, unknown>;
  reference: string;
  attempts: number;
  errors: AttemptError[];
}

/**
 * Writes (or re-opens, after a failed replay) a dead letter inside `tx`. Reads the document
 * first, so call it before any write of the transaction.
 */
export async function putDeadLetter(
  tx: Transaction,
  scope: DeadLetterScope,
  letter: NewDeadLetter,
  now: Date,
): Promise<void> {
  const ref = deadLetterRef(scope, letter.id);
  const snap = await tx.get(ref);
  const at = Timestamp.fromDate(now);
  const { replay: _drop, ...payload } = letter.payload;
  const lastError = letter.errors.at(-1)?.message ?? "unknown error";
  if (!snap.exists) {
    tx.create(ref, {
      source: letter.source,
      queue: letter.queue,
      payload,
      reference: letter.reference,
      tenantId: scopeTenant(scope),
      status: "open",
      attempts: letter.attempts,
      errors: letter.errors.slice(-MAX_ERRORS_KEPT),
      lastError,
      replayCount: 0,
      replayedAt: null,
      resolvedAt: null,
      createdAt: at,
      updatedAt: at,
    } satisfies DeadLetterRecord);
    return;
  }
  const previous = snap.data() as DeadLetterRecord;
  tx.update(ref, {
    status: "open",
    attempts: (previous.attempts ?? 0) + letter.attempts,
    errors: [...(previous.errors ?? []), ...letter.errors].slice(-MAX_ERRORS_KEPT),
    lastError,
    resolvedAt: null,
    updatedAt: at,
  });
}

/** Marks a replayed dead letter resolved inside `tx` (its replay succeeded). */
export function resolveDeadLetter(tx: Transaction, scope: DeadLetterScope, id: string, now: Date): void {
  tx.set(
    deadLetterRef(scope, id),
    { status: "resolved", resolvedAt: Timestamp.fromDate(now), updatedAt: Timestamp.fromDate(now) },
    { merge: true },
  );
}

/**
 * Ends replay round `round` of a letter whose replay cannot go on (its endpoint was disabled or
 * deleted, its delivery or event is gone): the letter is `open` again with `message` in its
 * history, so it can be replayed once the cause is fixed. `letter` is the letter as read in
 * `tx`; a letter in another round, or not replaying, is left as it is.
 */
export function reopenReplayedLetter(
  tx: Transaction,
  letter: DocumentSnapshot,
  round: number,
  message: string,
  now: Date,
): void {
  if (!letter.exists || letter.get("status") !== "replaying" || letter.get("replayCount") !== round) return;
  const errors = (letter.get("errors") as AttemptError[] | undefined) ?? [];
  const attempts = Number(letter.get("attempts") ?? 0);
  tx.update(letter.ref, {
    status: "open",
    // Not an attempt of its own: it is recorded against the letter's last one.
    errors: [...errors, { attempt: attempts, at: now.toISOString(), message }].slice(-MAX_ERRORS_KEPT),
    lastError: message,
    updatedAt: Timestamp.fromDate(now),
  });
}

export interface DeadLetterNotice {
  deadLetterId: string;
  tenantId: string | null;
  source: DeadLetterSource;
  reference: string;
  attempts: number;
  lastError: string;
}

/** Publishes one JSON message on a topic. */
export type Publisher = (topic: string, message: DeadLetterNotice) => Promise<void>;

let pubsubClient: import("@google-cloud/pubsub").PubSub | undefined;

/** Publishes through @google-cloud/pubsub (loaded on first use). */
export const pubsubPublisher: Publisher = async (topic, message) => {
  // Without a Pub/Sub emulator the client would try real Google credentials from a laptop:
  // fail fast instead, the caller treats it as a soft failure.
  if (runtime.isEmulator() && !runtime.pubsubEmulatorHost()) {
    throw new Error("no Pub/Sub emulator (PUBSUB_EMULATOR_HOST) in the local stack");
  }
  if (!pubsubClient) {
    const { PubSub } = await import("@google-cloud/pubsub");
    pubsubClient = new PubSub({ projectId: runtime.projectId() || undefined });
  }
  await pubsubClient.topic(topic).publishMessage({ json: message, attributes: { source: message.source } });
};

const PUBLISH_TIMEOUT_MS = 10_000;

/**
 * Publishes a dead-letter notice; never throws. Returns whether it was published. The payload
 * itself is not in the notice (it may hold personal data); operators read it from the store.
 */
export async function notifyDeadLetter(
  notice: DeadLetterNotice,
  publish: Publisher = pubsubPublisher,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      publish(params.deadLetterTopic.value(), notice),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("publish timed out")), PUBLISH_TIMEOUT_MS);
      }),
    ]);
    metrics.inc("dead_letter_notifications_total", { source: notice.source, outcome: "published" });
    return true;
  } catch (error) {
    metrics.inc("dead_letter_notifications_total", { source: notice.source, outcome: "failed" });
    log.warn("dead-letter notice not published", {
      deadLetterId: notice.deadLetterId,
      source: notice.source,
      cause: error instanceof Error ? error.message : String(error),
    });
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** A dead letter as operators see it (timestamps as ISO strings). */
export interface DeadLetterView {
  id: string;
  source: DeadLetterSource;
  reference: string;
  tenantId: string | null;
  status: DeadLetterStatus;
  attempts: number;
  lastError: string;
  errors: AttemptError[];
  payload: Record<string, unknown>;
  replayCount: number;
  replayedAt: string | null;
  resolvedAt: string | null;
  createdAt: string | null;
  updatedAt: string | null;
}

export function viewOf(id: string, data: DeadLetterRecord): DeadLetterView {
  return {
    id,
    source: data.source,
    reference: data.reference,
    tenantId: data.tenantId ?? null,
    status: data.status,
    attempts: data.attempts,
    lastError: data.lastError,
    errors: data.errors ?? [],
    payload: data.payload,
    replayCount: data.replayCount ?? 0,
    replayedAt: isoTime(data.replayedAt),
    resolvedAt: isoTime(data.resolvedAt),
    createdAt: isoTime(data.createdAt),
    updatedAt: isoTime(data.updatedAt),
  };
}

/** Lists dead letters newest first, optionally by status, with a cursor (the last id seen). */
export async function listDeadLetterPage(
  scope: DeadLetterScope,
  options: { status?: DeadLetterStatus; limit: number; after?: string },
): Promise<{ items: DeadLetterView[]; next: string | null }> {
  const collection = scope.kind === "tenant" ? scope.db.collection("deadLetters") : platformDeadLetters();
  let query = collection.orderBy("createdAt", "desc");
  if (options.status) query = collection.where("status", "==", options.status).orderBy("createdAt", "desc");
  if (options.after) {
    const cursor = await deadLetterRef(scope, options.after).get();
    if (cursor.exists) query = query.startAfter(cursor);
  }
  const snap = await query.limit(options.limit + 1).get();
  const docs = snap.docs.slice(0, options.limit);
  return {
    items: docs.map((d) => viewOf(d.id, d.data() as DeadLetterRecord)),
    next: snap.docs.length > options.limit ? docs[docs.length - 1].id : null,
  };
}

export type ReplayOutcome = "replayed" | "already-replaying" | "already-resolved" | "not-found" | "failed";

/**
 * Replays dead letters: for each id, a transaction moves an `open` letter to `replaying` and
 * bumps its round, then the payload is re-enqueued with a replay marker under a task id unique
 * to (letter, round). A letter already replaying or resolved is left alone, so replaying twice
 * never enqueues twice; should the enqueue fail, the letter is re-opened.
 */
export async function replayDeadLetterIds(
  scope: DeadLetterScope,
  ids: readonly string[],
  deps: { enqueue: Enqueue; now?: () => number },
): Promise<{ id: string; outcome: ReplayOutcome }[]> {
  const now = deps.now ?? Date.now;
  const runTransaction = scope.kind === "tenant" ? scope.db.runTransaction.bind(scope.db) : runRootTransaction;
  const results: { id: string; outcome: ReplayOutcome }[] = [];
  for (const id of ids) {
    const ref = deadLetterRef(scope, id);
    const claim = await runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      if (!snap.exists) return { outcome: "not-found" as const };
      const letter = snap.data() as DeadLetterRecord;
      if (letter.status === "resolved") return { outcome: "already-resolved" as const };
      if (letter.status === "replaying") return { outcome: "already-replaying" as const };
      const round = (letter.replayCount ?? 0) + 1;
      const at = Timestamp.fromMillis(now());
      tx.update(ref, { status: "replaying", replayCount: round, replayedAt: at, updatedAt: at });
      return { outcome: "claimed" as const, letter, round };
    });
    if (claim.outcome !== "claimed") {
      results.push({ id, outcome: claim.outcome });
      continue;
    }
    const replay: ReplayMarker = { deadLetterId: id, round: claim.round, tenantId: scopeTenant(scope) };
    try {
      await deps.enqueue(claim.letter.queue, { ...claim.letter.payload, replay }, { id: `${id}-r${claim.round}` });
      metrics.inc("dead_letter_replays_total", { source: claim.letter.source, outcome: "replayed" });
      results.push({ id, outcome: "replayed" });
    } catch (error) {
      log.error("dead-letter replay could not be enqueued", {
        deadLetterId: id,
        cause: error instanceof Error ? error.message : String(error),
      });
      await ref.update({ status: "open", updatedAt: Timestamp.fromMillis(now()) });
      results.push({ id, outcome: "failed" });
    }
  }
  return results;
}
