/**
 * Outgoing webhooks: `publishEvent` (the service API other modules call) and the delivery
 * task handler.
 *
 * publishEvent stores the event, creates one delivery per active endpoint subscribed to its type
 * (`tenants/{tid}/webhookDeliveries/{eventId}_{endpointId}`) and enqueues one task per delivery.
 * Each delivery attempt is its own task with a deterministic id (delivery + attempt number), so
 * the handler decides the next delay itself: the Svix-like schedule with jitter, or a 429/503
 * `Retry-After`. Cloud Tasks' own retries only cover failures of our handler.
 *
 * Messages follow Standard Webhooks: `webhook-id` (the event id, the same on every retry and for
 * every endpoint, so receivers can de-duplicate), `webhook-timestamp`, `webhook-signature`.
 */
import { randomUUID } from "node:crypto";
import type { DocumentReference } from "firebase-admin/firestore";
import { Timestamp } from "../platform/firestore-sdk";
import { z } from "zod";
import { decryptString } from "../platform/crypto";
import { invalidArgument } from "../platform/errors";
import { log } from "../platform/logger";
import { metrics } from "../platform/metrics";
import { withSpan } from "../platform/tracing-port";
import { checkInput } from "../platform/validation";
import type { TenantDb } from "../tenancy/db";
import {
  notifyDeadLetter,
  putDeadLetter,
  reopenReplayedLetter,
  ReplayMarker,
  resolveDeadLetter,
  type AttemptError,
  type Publisher,
} from "./deadletters";
import { nextDelaySeconds } from "./schedule";
import { signStandardWebhook } from "./signature";
import { guardedPost, SsrfError, type AddressPolicy, type PostResult, type Resolver } from "./ssrf";
import { tenantDbFor } from "./store";
import { taskId, TraceContext, type Enqueue } from "./tasks";

/** The task-queue function that delivers outgoing webhooks. */
export const DELIVERY_QUEUE = "deliverWebhook";

export const EXHAUSTED_EVENT = "webhook.delivery.exhausted";
export const TEST_EVENT = "webhook.test";

export const EventType = z
  .string()
  .regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, "must be dotted lowercase words, e.g. payment.succeeded");
const EventId = z.string().regex(/^msg_[A-Za-z0-9_-]{1,100}$/);

const MAX_PAYLOAD_BYTES = 64 * 1024;
const DELIVERY_RETENTION_MS = 30 * 86_400_000;
/** Endpoints per tenant; keeps fan-out a single small query. */
export const MAX_ENDPOINTS = 20;

export type EndpointStatus = "active" | "disabled";
export type DisabledReason = "manual" | "gone" | "failing";

export interface StoredSecret {
  ciphertext: string;
  createdAt: Timestamp;
  /** Set on the old secret when rotated: it keeps signing until then. */
  expiresAt: Timestamp | null;
}

export interface EndpointRecord {
  url: string;
  description: string | null;
  eventTypes: string[];
  status: EndpointStatus;
  disabledReason: DisabledReason | null;
  secrets: StoredSecret[];
  failingSince: Timestamp | null;
  lastSuccessAt: Timestamp | null;
  lastFailureAt: Timestamp | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

export type DeliveryStatus = "pending" | "delivered" | "failed" | "cancelled";

export interface AttemptRecord {
  attempt: number;
  at: string;
  statusCode: number | null;
  latencyMs: number | null;
  error: string | null;
  nextDelaySeconds: number | null;
}

export interface DeliveryRecord {
  endpointId: string;
  eventId: string;
  eventType: string;
  status: DeliveryStatus;
  attempts: AttemptRecord[];
  attemptCount: number;
  /** attemptCount when the current round started (0, or when a replay began). */
  roundStart: number;
  replayRound: number;
  nextAttemptAt: Timestamp | null;
  exhaustedNotified?: boolean;
  createdAt: Timestamp;
  updatedAt: Timestamp;
  expireAt: Timestamp;
}

/** The additional data bound into an endpoint secret's ciphertext (its document path). */
export function secretAad(db: TenantDb, endpointId: string): string {
  return `${db.root}/webhookEndpoints/${endpointId}#secret`;
}

export function deliveryTaskId(deliveryId: string, attempt: number): string {
  return `${taskId("out", deliveryId)}-${attempt}`;
}

export interface PublishOptions {
  /** Caller-chosen event id (`msg_…`): publishing again with it re-enqueues, never duplicates. */
  id?: string;
  /** Deliver only to these endpoints (test events). */
  onlyEndpointIds?: readonly string[];
  /** With `onlyEndpointIds`: deliver even if those endpoints do not subscribe to the type. */
  includeUnsubscribed?: boolean;
  /** Never deliver to these endpoints (an exhausted notice about an endpoint skips that endpoint). */
  excludeEndpointIds?: readonly string[];
  enqueue: Enqueue;
  now?: () => number;
}

/**
 * Publishes an event to every active endpoint of `tenantId` subscribed to `type` (or to "*").
 * Returns the event id and the number of deliveries. Throws if the deliveries could not all be
 * enqueued; calling again with the same `id` finishes the job without duplicating anything.
 */
export async function publishEvent(
  tenantId: string,
  type: string,
  payload: Record<string, unknown>,
  options: PublishOptions,
): Promise<{ eventId: string; deliveries: number }> {
  const typeCheck = EventType.safeParse(type);
  if (!typeCheck.success) throw invalidArgument("Bad event type", { type: ["must be dotted lowercase words"] });
  const body = JSON.stringify(payload ?? {});
  if (Buffer.byteLength(body) > MAX_PAYLOAD_BYTES)
    throw invalidArgument("Payload too large", { payload: ["too large"] });
  const eventId = options.id ?? `msg_${randomUUID().replace(/-/g, "")}`;
  if (!EventId.safeParse(eventId).success) throw invalidArgument("Bad event id", { id: ["must be msg_…"] });
  const now = (options.now ?? Date.now)();
  const db = tenantDbFor(tenantId);
  const eventRef = db.doc(`webhookEvents/${eventId}`);

  const endpoints = await db.collection("webhookEndpoints").where("status", "==", "active").limit(MAX_ENDPOINTS).get();
  const targets = endpoints.docs.filter((doc) => {
    const types = (doc.get("eventTypes") as string[] | undefined) ?? [];
    if (options.onlyEndpointIds && !options.onlyEndpointIds.includes(doc.id)) return false;
    if (options.excludeEndpointIds?.includes(doc.id)) return false;
    if (options.onlyEndpointIds && options.includeUnsubscribed) return true;
    return types.includes(type) || types.includes("*");
  });

  const at = Timestamp.fromMillis(now);
  const expireAt = Timestamp.fromMillis(now + DELIVERY_RETENTION_MS);
  const batch = db.batch();
  batch.create(eventRef, { type, payload: payload ?? {}, createdAt: at, expireAt });
  const deliveries = targets.map((endpoint) => ({ id: `${eventId}_${endpoint.id}`, endpointId: endpoint.id }));
  for (const delivery of deliveries) {
    batch.create(db.doc(`webhookDeliveries/${delivery.id}`), {
      endpointId: delivery.endpointId,
      eventId,
      eventType: type,
      status: "pending",
      attempts: [],
      attemptCount: 0,
      roundStart: 0,
      replayRound: 0,
      nextAttemptAt: at,
      createdAt: at,
      updatedAt: at,
      expireAt,
    } satisfies DeliveryRecord);
  }
  try {
    await batch.commit();
  } catch (error) {
    if ((error as { code?: unknown }).code !== 6) throw error;
    // Published before (a retry by the caller): finish enqueueing whatever is still pending.
    const pending = await db.collection("webhookDeliveries").where("eventId", "==", eventId).get();
    await Promise.all(
      pending.docs
        .filter((d) => d.get("status") === "pending")
        .map((d) =>
          options.enqueue(
            DELIVERY_QUEUE,
            { tenantId, deliveryId: d.id, attempt: (d.get("attemptCount") as number) + 1 },
            { id: deliveryTaskId(d.id, (d.get("attemptCount") as number) + 1) },
          ),
        ),
    );
    return { eventId, deliveries: pending.size };
  }
  await Promise.all(
    deliveries.map((d) =>
      options.enqueue(DELIVERY_QUEUE, { tenantId, deliveryId: d.id, attempt: 1 }, { id: deliveryTaskId(d.id, 1) }),
    ),
  );
  metrics.inc("webhook_events_published_total", { outcome: targets.length > 0 ? "fanned-out" : "no-endpoints" });
  return { eventId, deliveries: deliveries.length };
}

export const DeliveryTask = z.strictObject({
  tenantId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/),
  deliveryId: z.string().regex(/^[A-Za-z0-9_-]{1,300}$/),
  attempt: z.number().int().positive().optional(),
  replay: ReplayMarker.optional(),
  /** Set by `cloudTasksEnqueue`: the publisher's trace, continued by the delivery. */
  trace: TraceContext.optional(),
});
export type DeliveryTask = z.infer<typeof DeliveryTask>;

export interface DeliveryDeps {
  enqueue: Enqueue;
  policy: AddressPolicy;
  maxAttempts: number;
  timeoutMs: number;
  disableAfterMs: number;
  now?: () => number;
  random?: () => number;
  resolve?: Resolver;
  publish?: Publisher;
  /** Replaces the HTTP call (unit tests); defaults to the SSRF-guarded POST. */
  post?: typeof guardedPost;
}

export type DeliveryOutcome =
  "delivered" | "retry-scheduled" | "exhausted" | "endpoint-gone" | "cancelled" | "skipped" | "not-found";

/** The secrets that sign now: the current one and any rotated-out one still inside its overlap. */
export function signingSecrets(db: TenantDb, endpointId: string, endpoint: EndpointRecord, nowMs: number): string[] {
  return endpoint.secrets
    .filter((s) => s.expiresAt === null || s.expiresAt.toMillis() > nowMs)
    .map((s) => decryptString(s.ciphertext, { aad: secretAad(db, endpointId) }));
}

/**
 * The reason a failed attempt shows the tenant (delivery log, dead letter, exhausted event).
 * Coarse on purpose: the resolved addresses and the socket error (refused, reset, unreachable)
 * would let a tenant map our network and probe ports; `detail` is for the server log only.
 */
function describe(error: unknown): { reason: string; detail: string } {
  const code = (error as { code?: string })?.code;
  const detail = error instanceof Error ? `${error.name}: ${error.message}${code ? ` (${code})` : ""}` : String(error);
  if (error instanceof SsrfError) return { reason: "address not allowed", detail };
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return { reason: "timed out", detail };
  }
  return { reason: "connection failed", detail };
}

/**
 * Runs one delivery attempt. Idempotent per (delivery, attempt): a duplicate or late task finds
 * the attempt already recorded, makes sure the follow-up task exists, and stops.
 */
export async function runDelivery(data: unknown, deps: DeliveryDeps): Promise<DeliveryOutcome> {
  const parsed = checkInput(DeliveryTask, data);
  if (!parsed.success) {
    log.error("malformed delivery task payload dropped", { fields: Object.keys(parsed.fields) });
    return "skipped";
  }
  const task = parsed.data;
  const clock = deps.now ?? Date.now;
  const db = tenantDbFor(task.tenantId);
  const deliveryRef = db.doc(`webhookDeliveries/${task.deliveryId}`);

  if (task.replay) {
    const started = await startReplayRound(db, deliveryRef, task.replay, clock());
    if (!started) return "skipped";
  }

  let delivery = (await deliveryRef.get()).data() as DeliveryRecord | undefined;
  if (!delivery) return "not-found";
  // A replay's first attempt is the one after the round started (stable if the task is retried).
  const attempt = task.replay ? (delivery.roundStart ?? 0) + 1 : (task.attempt ?? 1);

  if (delivery.status === "failed" && delivery.exhaustedNotified === false) {
    await emitExhausted(db, task.deliveryId, delivery, deps);
    return "skipped";
  }
  if (delivery.status !== "pending") return "skipped";
  if (attempt <= delivery.attemptCount) {
    // This attempt already ran; a previous run may have died before enqueueing the next one.
    await ensureNextEnqueued(db.tenantId, task.deliveryId, delivery, deps, clock());
    return "skipped";
  }
  if (attempt > delivery.attemptCount + 1) return "skipped";

  const endpointRef = db.doc(`webhookEndpoints/${delivery.endpointId}`);
  const eventRef = db.doc(`webhookEvents/${delivery.eventId}`);
  const [endpointSnap, eventSnap] = await db.getAll(endpointRef, eventRef);
  const endpoint = endpointSnap.data() as EndpointRecord | undefined;
  if (!endpoint || endpoint.status !== "active" || !eventSnap.exists) {
    const reason = !endpoint
      ? "replay cancelled: the endpoint was deleted"
      : endpoint.status !== "active"
        ? "replay cancelled: the endpoint is disabled"
        : "replay cancelled: the event is no longer stored";
    await cancelDelivery(db, deliveryRef, task.deliveryId, reason, clock());
    return "cancelled";
  }

  const body = JSON.stringify({
    type: eventSnap.get("type"),
    timestamp: (eventSnap.get("createdAt") as Timestamp).toDate().toISOString(),
    data: eventSnap.get("payload"),
  });
  const sentAt = clock();
  const timestamp = Math.floor(sentAt / 1000);
  const headers = {
    "content-type": "application/json",
    "user-agent": "saas-core-webhooks/1",
    "webhook-id": delivery.eventId,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": signStandardWebhook(
      signingSecrets(db, delivery.endpointId, endpoint, sentAt),
      delivery.eventId,
      timestamp,
      body,
    ),
  };

  let result: PostResult | undefined;
  let failure: string | null = null;
  try {
    const post = deps.post ?? guardedPost;
    // Only ids on the span: the URL may embed a receiver's credentials or tenant names.
    result = await withSpan(
      "webhook.deliver",
      () =>
        post(endpoint.url, body, headers, {
          policy: deps.policy,
          timeoutMs: deps.timeoutMs,
          resolve: deps.resolve,
          now: clock,
        }),
      {
        "saas.tenant_id": db.tenantId,
        "saas.webhook.endpoint_id": delivery.endpointId,
        "saas.webhook.attempt": attempt,
      },
    );
    if (result.status < 200 || result.status >= 300) failure = `HTTP ${result.status}`;
  } catch (error) {
    const described = describe(error);
    failure = described.reason;
    log.warn("webhook delivery attempt failed", {
      endpointId: delivery.endpointId,
      deliveryId: task.deliveryId,
      attempt,
      cause: described.detail,
    });
  }
  const nowMs = clock();
  const ok = failure === null;
  const gone = result?.status === 410;
  const inRound = attempt - (delivery.roundStart ?? 0);
  const exhausted = !ok && !gone && inRound >= deps.maxAttempts;
  const delay =
    ok || gone || exhausted
      ? null
      : nextDelaySeconds({
          attempt: inRound,
          status: result?.status,
          retryAfter: result?.headers["retry-after"],
          nowMs,
          random: deps.random,
        });
  const failingSince = ok ? null : (endpoint.failingSince?.toMillis() ?? nowMs);
  const failingTooLong = !ok && nowMs - (failingSince as number) >= deps.disableAfterMs;
  const disable: DisabledReason | null = gone ? "gone" : failingTooLong ? "failing" : null;
  const record: AttemptRecord = {
    attempt,
    at: new Date(nowMs).toISOString(),
    statusCode: result?.status ?? null,
    latencyMs: result?.latencyMs ?? null,
    error: failure,
    nextDelaySeconds: delay,
  };
  const status: DeliveryStatus = ok ? "delivered" : delay === null ? "failed" : "pending";
  const at = Timestamp.fromMillis(nowMs);

  const committed = await withSpan("firestore.transaction", () =>
    db.runTransaction(async (tx) => {
      const [current, currentEndpoint] = await Promise.all([tx.get(deliveryRef), tx.get(endpointRef)]);
      const fresh = current.data() as DeliveryRecord | undefined;
      // Another run recorded this attempt meanwhile (duplicate dispatch): keep theirs.
      if (!fresh || fresh.status !== "pending" || fresh.attemptCount !== attempt - 1) return null;
      // Any attempt of a replay round may be its last, not only the one carrying the marker.
      const replayRound = fresh.replayRound ?? 0;
      const letter =
        ok && replayRound > 0 ? await tx.get(db.doc(`deadLetters/${deadLetterIdOf(task.deliveryId)}`)) : undefined;
      if (status === "failed") {
        await putDeadLetter(
          tx,
          { kind: "tenant", db },
          {
            id: deadLetterIdOf(task.deliveryId),
            source: "webhooks.outbound",
            queue: DELIVERY_QUEUE,
            payload: { tenantId: db.tenantId, deliveryId: task.deliveryId },
            reference: task.deliveryId,
            attempts: inRound,
            errors: attemptErrors([...fresh.attempts, record], fresh.roundStart ?? 0),
          },
          new Date(nowMs),
        );
      }
      if (letter?.get("status") === "replaying" && letter.get("replayCount") === replayRound) {
        resolveDeadLetter(tx, { kind: "tenant", db }, letter.id, new Date(nowMs));
      }
      tx.update(deliveryRef, {
        status,
        attempts: [...fresh.attempts, record].slice(-50),
        attemptCount: attempt,
        nextAttemptAt: delay === null ? null : Timestamp.fromMillis(nowMs + delay * 1000),
        updatedAt: at,
        ...(status === "failed" && !gone ? { exhaustedNotified: false } : {}),
      });
      if (currentEndpoint.exists) {
        const endpointUpdate: Record<string, unknown> = ok
          ? { failingSince: null, lastSuccessAt: at }
          : { failingSince: Timestamp.fromMillis(failingSince as number), lastFailureAt: at };
        if (disable && currentEndpoint.get("status") === "active") {
          Object.assign(endpointUpdate, { status: "disabled", disabledReason: disable, updatedAt: at });
          tx.create(db.collection("notifications").doc(), {
            type: "webhook.endpoint.disabled",
            audience: "owners",
            endpointId: delivery!.endpointId,
            url: endpoint.url,
            reason: disable,
            read: false,
            createdAt: at,
          });
        }
        tx.update(endpointRef, endpointUpdate);
      }
      return fresh;
    }),
  );
  if (!committed) return "skipped";
  delivery = { ...committed, status, attemptCount: attempt, attempts: [...committed.attempts, record] };

  metrics.inc("webhook_deliveries_total", {
    outcome: ok ? "delivered" : gone ? "gone" : exhausted ? "exhausted" : "failed",
  });
  if (disable) log.warn("webhook endpoint disabled", { endpointId: delivery.endpointId, reason: disable });
  if (delay !== null) {
    await deps.enqueue(
      DELIVERY_QUEUE,
      { tenantId: db.tenantId, deliveryId: task.deliveryId, attempt: attempt + 1 },
      { id: deliveryTaskId(task.deliveryId, attempt + 1), delaySeconds: delay },
    );
    return "retry-scheduled";
  }
  if (status === "failed") {
    await notifyDeadLetter(
      {
        deadLetterId: deadLetterIdOf(task.deliveryId),
        tenantId: db.tenantId,
        source: "webhooks.outbound",
        reference: task.deliveryId,
        attempts: inRound,
        lastError: failure ?? "failed",
      },
      deps.publish,
    );
    if (!gone) await emitExhausted(db, task.deliveryId, { ...delivery, exhaustedNotified: false }, deps);
    return gone ? "endpoint-gone" : "exhausted";
  }
  return "delivered";
}

export function deadLetterIdOf(deliveryId: string): string {
  return taskId("out", deliveryId);
}

function attemptErrors(attempts: AttemptRecord[], roundStart: number): AttemptError[] {
  return attempts
    .filter((a) => a.attempt > roundStart && a.error)
    .map((a) => ({ attempt: a.attempt, at: a.at, message: a.error as string }));
}

async function ensureNextEnqueued(
  tenantId: string,
  deliveryId: string,
  delivery: DeliveryRecord,
  deps: DeliveryDeps,
  nowMs: number,
): Promise<void> {
  if (delivery.status !== "pending" || !delivery.nextAttemptAt) return;
  const next = delivery.attemptCount + 1;
  await deps.enqueue(
    DELIVERY_QUEUE,
    { tenantId, deliveryId, attempt: next },
    {
      id: deliveryTaskId(deliveryId, next),
      delaySeconds: Math.max(0, (delivery.nextAttemptAt.toMillis() - nowMs) / 1000),
    },
  );
}

/**
 * Emits `webhook.delivery.exhausted` once per exhausted round (deterministic event id), never
 * to the endpoint that failed and never about an exhausted notice itself, so a dead endpoint
 * cannot set off a loop.
 */
async function emitExhausted(db: TenantDb, deliveryId: string, delivery: DeliveryRecord, deps: DeliveryDeps) {
  if (delivery.eventType !== EXHAUSTED_EVENT) {
    const round = delivery.replayRound ?? 0;
    await publishEvent(
      db.tenantId,
      EXHAUSTED_EVENT,
      {
        deliveryId,
        endpointId: delivery.endpointId,
        eventId: delivery.eventId,
        eventType: delivery.eventType,
        attempts: delivery.attemptCount - (delivery.roundStart ?? 0),
        lastError: delivery.attempts.at(-1)?.error ?? null,
      },
      {
        id: `msg_exh_${deadLetterIdOf(deliveryId).slice(4)}_${round}`,
        excludeEndpointIds: [delivery.endpointId],
        enqueue: deps.enqueue,
        now: deps.now,
      },
    );
  }
  await db.doc(`webhookDeliveries/${deliveryId}`).update({ exhaustedNotified: true });
}

/**
 * Cancels a delivery that can no longer be made. When it belongs to a replay round, the dead
 * letter is re-opened with `reason` in the same transaction, so the replay does not end unseen.
 */
async function cancelDelivery(
  db: TenantDb,
  ref: DocumentReference,
  deliveryId: string,
  reason: string,
  nowMs: number,
): Promise<void> {
  await withSpan("firestore.transaction", () =>
    db.runTransaction(async (tx) => {
      const delivery = (await tx.get(ref)).data() as DeliveryRecord | undefined;
      if (!delivery || delivery.status !== "pending") return;
      const round = delivery.replayRound ?? 0;
      if (round > 0) {
        const letter = await tx.get(db.doc(`deadLetters/${deadLetterIdOf(deliveryId)}`));
        reopenReplayedLetter(tx, letter, round, reason, new Date(nowMs));
      }
      tx.update(ref, { status: "cancelled", nextAttemptAt: null, updatedAt: Timestamp.fromMillis(nowMs) });
    }),
  );
}

/**
 * Re-opens a failed delivery for a replay round (once per round); false when nothing to do. A
 * round that cannot start settles its letter: resolved when the delivery already got through,
 * open again when the delivery is gone.
 */
async function startReplayRound(
  db: TenantDb,
  ref: DocumentReference,
  replay: ReplayMarker,
  nowMs: number,
): Promise<boolean> {
  return withSpan("firestore.transaction", () =>
    db.runTransaction(async (tx) => {
      const [snap, letter] = await Promise.all([tx.get(ref), tx.get(db.doc(`deadLetters/${replay.deadLetterId}`))]);
      const delivery = snap.data() as DeliveryRecord | undefined;
      if (!delivery) {
        reopenReplayedLetter(
          tx,
          letter,
          replay.round,
          "replay cancelled: the delivery no longer exists",
          new Date(nowMs),
        );
        return false;
      }
      if ((delivery.replayRound ?? 0) >= replay.round) return delivery.status === "pending";
      if (delivery.status === "delivered") {
        if (letter.get("status") === "replaying")
          resolveDeadLetter(tx, { kind: "tenant", db }, letter.id, new Date(nowMs));
        return false;
      }
      if (delivery.status !== "failed" && delivery.status !== "cancelled") return false;
      tx.update(ref, {
        status: "pending",
        replayRound: replay.round,
        roundStart: delivery.attemptCount,
        nextAttemptAt: Timestamp.fromMillis(nowMs),
        exhaustedNotified: true,
        updatedAt: Timestamp.fromMillis(nowMs),
      });
      return true;
    }),
  );
}
