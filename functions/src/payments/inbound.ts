/**
 * Inbound payment events: the acknowledge path (HTTPS) and the processing path (Cloud Tasks).
 *
 * Acknowledge = verify the signature over the raw body → normalise → create the de-duplication
 * record `inboundEvents/{provider}:{eventId}` (create-if-absent: one write, no read) → enqueue
 * with a task id derived from the event id → 2xx. If the record cannot be written or the task
 * cannot be enqueued the answer is 503, so the provider retries. The record stays `pending`
 * until the handler has processed the event, so a provider retry that finds a `pending`
 * record enqueues again (the deterministic task id makes that safe) instead of trusting that
 * the first enqueue happened.
 *
 * Processing applies the event to `tenants/{tid}/payments/{id}` in one transaction that also
 * marks the record `processed` (see model.ts for ordering and idempotency). Transient failures
 * throw so Cloud Tasks retries; on the final attempt, or for a permanent failure, the event is
 * dead-lettered instead — unless it was in fact applied (a failure after commit).
 */
import { createHash } from "node:crypto";
import type { Transaction } from "firebase-admin/firestore";
import { FieldValue, Timestamp } from "../platform/firestore-sdk";
import { z } from "zod";
import { AppError, invalidArgument } from "../platform/errors";
import type { HttpResult } from "../platform/https";
import { log } from "../platform/logger";
import { metrics } from "../platform/metrics";
import { withSpan } from "../platform/tracing-port";
import { checkInput } from "../platform/validation";
import {
  notifyDeadLetter,
  putDeadLetter,
  ReplayMarker,
  resolveDeadLetter,
  type AttemptError,
  type DeadLetterScope,
  type Publisher,
} from "../webhooks/deadletters";
import { eventId as outboundEventId, flushStagedEvent, stageEvent } from "../webhooks/events";
import { verifyProviderSignature } from "../webhooks/signature";
import { inboundEventRef, runRootTransaction, tenantDbFor } from "../webhooks/store";
import { taskId, TraceContext, type Enqueue } from "../webhooks/tasks";
import { decide, PaymentEvent, type PaymentState } from "./model";
import { normalise, PROVIDER, type Normalised } from "./provider";

/** The task-queue function that processes inbound payment events. */
export const PAYMENT_QUEUE = "processPaymentEvent";

const DAY_MS = 86_400_000;
const MAX_BODY_BYTES = 256 * 1024;

export type InboundState = "pending" | "processed" | "dead-lettered" | "ignored";

/** The task id of an event: the same for every delivery of the event by the provider. */
export function inboundTaskId(provider: string, eventId: string): string {
  return taskId("in", provider, eventId);
}

export interface AcknowledgeDeps {
  enqueue: Enqueue;
  secrets: readonly string[];
  toleranceSeconds: number;
  retentionDays: number;
  now?: () => number;
}

const ALREADY_EXISTS = 6;

function isAlreadyExists(error: unknown): boolean {
  return (error as { code?: unknown })?.code === ALREADY_EXISTS;
}

function unavailable(message: string): AppError {
  return new AppError("unavailable", message, { retryAfterSeconds: 5 });
}

/**
 * The acknowledge path. Returns the HTTP answer for the provider; throws `invalid-argument`
 * (400, nothing written) for a bad signature or body and `unavailable` (503) when the event
 * could not be durably accepted.
 */
export async function acknowledge(
  rawBody: Buffer | undefined,
  signatureHeader: string | string[] | undefined,
  deps: AcknowledgeDeps,
): Promise<HttpResult> {
  const now = deps.now ?? Date.now;
  const body = rawBody ?? Buffer.alloc(0);
  if (body.length > MAX_BODY_BYTES) throw invalidArgument("The body is too large", { body: ["too large"] });
  const check = verifyProviderSignature({
    payload: body,
    header: Array.isArray(signatureHeader) ? signatureHeader[0] : signatureHeader,
    secrets: deps.secrets,
    toleranceSeconds: deps.toleranceSeconds,
    nowSeconds: Math.floor(now() / 1000),
  });
  if (!check.ok) {
    metrics.inc("inbound_webhooks_total", { provider: PROVIDER, outcome: check.reason });
    log.security("webhook-signature-rejected", { provider: PROVIDER, reason: check.reason });
    throw new AppError("invalid-argument", "The webhook signature is invalid or too old.", {
      reason: check.reason === "stale-timestamp" ? "stale-timestamp" : "bad-signature",
    });
  }

  const normalised = normalise(body);
  const nowMs = now();
  if (normalised.kind === "ignored") {
    if (normalised.reason === "unroutable" || normalised.reason === "malformed") {
      await recordIgnored(normalised, nowMs, deps.retentionDays);
    }
    metrics.inc("inbound_webhooks_total", { provider: PROVIDER, outcome: `ignored-${normalised.reason}` });
    return { status: 200, body: { received: true, ignored: normalised.reason } };
  }
  const event = normalised.event;
  const ref = inboundEventRef(event.provider, event.eventId);
  const id = inboundTaskId(event.provider, event.eventId);

  try {
    await ref.create({
      state: "pending" satisfies InboundState,
      provider: event.provider,
      eventId: event.eventId,
      type: event.type,
      tenantId: event.tenantId,
      paymentId: event.paymentId,
      taskId: id,
      receivedAt: Timestamp.fromMillis(nowMs),
      // Kept beyond the provider's 3-day retry window so a late retry is still recognised.
      expireAt: Timestamp.fromMillis(nowMs + deps.retentionDays * DAY_MS),
    });
  } catch (error) {
    if (!isAlreadyExists(error)) {
      log.error("inbound event record not written", { eventId: event.eventId, cause: String(error) });
      throw unavailable("The event could not be stored; retry later.");
    }
    return acknowledgeDuplicate(event, ref, id, deps);
  }

  try {
    await deps.enqueue(PAYMENT_QUEUE, { event }, { id });
  } catch (error) {
    // The record stays `pending`: the provider's retry will enqueue again.
    log.error("inbound event not enqueued", { eventId: event.eventId, cause: String(error) });
    throw unavailable("The event could not be queued; retry later.");
  }
  metrics.inc("inbound_webhooks_total", { provider: PROVIDER, outcome: "accepted" });
  return { status: 200, body: { received: true } };
}

/**
 * Records a signed event that will never apply (routing metadata or object we cannot use) as
 * `ignored` with the reason, and logs it: the provider gets its 2xx, operators see the event.
 * 503 when it cannot be recorded, so nothing is acknowledged unseen.
 */
async function recordIgnored(
  ignored: Extract<Normalised, { kind: "ignored" }>,
  nowMs: number,
  retentionDays: number,
): Promise<void> {
  log.warn("signed inbound event ignored", {
    provider: PROVIDER,
    eventId: ignored.eventId,
    type: ignored.type,
    reason: ignored.reason,
    fields: ignored.detail,
  });
  try {
    await inboundEventRef(PROVIDER, ignored.eventId).create({
      state: "ignored" satisfies InboundState,
      provider: PROVIDER,
      eventId: ignored.eventId,
      type: ignored.type,
      reason: ignored.reason,
      fields: ignored.detail ?? null,
      receivedAt: Timestamp.fromMillis(nowMs),
      expireAt: Timestamp.fromMillis(nowMs + retentionDays * DAY_MS),
    });
  } catch (error) {
    if (isAlreadyExists(error)) return; // a provider retry of an event already recorded
    log.error("ignored inbound event not recorded", { eventId: ignored.eventId, cause: String(error) });
    throw unavailable("The event could not be stored; retry later.");
  }
}

async function acknowledgeDuplicate(
  event: PaymentEvent,
  ref: ReturnType<typeof inboundEventRef>,
  id: string,
  deps: AcknowledgeDeps,
): Promise<HttpResult> {
  const snap = await ref.get();
  const state = snap.get("state") as InboundState | undefined;
  if (state === "pending") {
    try {
      await deps.enqueue(PAYMENT_QUEUE, { event }, { id });
    } catch (error) {
      log.error("inbound event not re-enqueued", { eventId: event.eventId, cause: String(error) });
      throw unavailable("The event could not be queued; retry later.");
    }
  }
  metrics.inc("inbound_webhooks_total", { provider: PROVIDER, outcome: "duplicate" });
  return { status: 200, body: { received: true, duplicate: true } };
}

/** Raised for failures that no retry can fix; the event is dead-lettered at once. */
export class PermanentEventError extends Error {
  constructor(
    message: string,
    /** "unroutable": no such payment in the named tenant, so nothing may be written there. */
    readonly scope: "tenant" | "unroutable",
  ) {
    super(message);
    this.name = "PermanentEventError";
  }
}

export const PaymentTask = z.strictObject({
  event: PaymentEvent,
  replay: ReplayMarker.optional(),
  /** Set by `cloudTasksEnqueue`: the trace of the webhook request that queued the event. */
  trace: TraceContext.optional(),
});
export type PaymentTask = z.infer<typeof PaymentTask>;

export interface ProcessDeps {
  maxAttempts: number;
  retentionDays: number;
  publish?: Publisher;
  now?: () => number;
  /** Test hook (emulator only): percentage of attempts that fail on purpose. */
  faultPercent?: number;
}

export type ProcessOutcome = "applied" | "stale" | "duplicate" | "dead-lettered";

/** Deterministic fault decision for (event, attempt): none, before the commit, or after it. */
export function injectedFault(eventId: string, attempt: number, percent: number): "none" | "before" | "after" {
  if (percent <= 0) return "none";
  const digest = createHash("sha256").update(`${eventId}:${attempt}`).digest();
  if (digest.readUInt32BE(0) % 10_000 >= percent * 100) return "none";
  return (digest[4] & 1) === 1 ? "after" : "before";
}

function scopeOf(replay: ReplayMarker | undefined): DeadLetterScope {
  return replay?.tenantId ? { kind: "tenant", db: tenantDbFor(replay.tenantId) } : { kind: "platform" };
}

async function apply(task: PaymentTask, attempt: number, deps: ProcessDeps): Promise<ProcessOutcome> {
  const { event, replay } = task;
  const now = new Date((deps.now ?? Date.now)());
  const db = tenantDbFor(event.tenantId);
  const paymentRef = db.doc(`payments/${event.paymentId}`);
  const recordRef = inboundEventRef(event.provider, event.eventId);
  return withSpan("firestore.transaction", () =>
    db.runTransaction(async (tx) => {
      const snap = await tx.get(paymentRef);
      if (!snap.exists) throw new PermanentEventError("no such payment in the named tenant", "unroutable");
      const decision = decide(snap.data() as PaymentState, event);
      if (decision.kind === "mismatch") throw new PermanentEventError(decision.reason, "tenant");
      let outcome: ProcessOutcome = "duplicate";
      if (decision.kind === "apply") {
        outcome = decision.moved ? "applied" : "stale";
        if (decision.moved) {
          stagePaymentEvent(
            tx,
            db,
            event,
            (snap.data() as PaymentState).status,
            decision.status,
            decision.amountRefunded,
          );
        }
        tx.update(paymentRef, {
          status: decision.status,
          providerPaymentId: decision.providerPaymentId,
          appliedEventIds: decision.appliedEventIds,
          ...(decision.amountRefunded !== undefined ? { amountRefunded: decision.amountRefunded } : {}),
          lastEventAt: Timestamp.fromMillis(event.created * 1000),
          updatedAt: Timestamp.fromDate(now),
          ...(decision.moved ? { statusChangedAt: Timestamp.fromDate(now) } : {}),
        });
      }
      markRecord(tx, recordRef, "processed", attempt, now, deps.retentionDays);
      if (replay) resolveDeadLetter(tx, scopeOf(replay), replay.deadLetterId, now);
      return outcome;
    }),
  );
}

/** The outgoing event id of a provider event: the same on every retry of its task. */
export function paymentEventId(event: PaymentEvent): string {
  return outboundEventId("payment", event.provider, event.eventId);
}

/**
 * Stages `payment.<status>` in the apply transaction (published after the commit). A partial
 * refund is a `payment.refunded` event too: its `status` and `amountRefunded` tell how much.
 */
function stagePaymentEvent(
  tx: Transaction,
  db: ReturnType<typeof tenantDbFor>,
  event: PaymentEvent,
  previous: PaymentState["status"],
  status: PaymentState["status"],
  amountRefunded: number | undefined,
): void {
  if (status === "created") return;
  stageEvent(
    tx,
    db,
    status === "partially_refunded" ? "payment.refunded" : `payment.${status}`,
    {
      paymentId: event.paymentId,
      status,
      previousStatus: previous,
      amount: event.amount,
      ...(amountRefunded !== undefined ? { amountRefunded } : {}),
      currency: event.currency,
      providerPaymentId: event.providerPaymentId,
      providerEventId: event.eventId,
    },
    paymentEventId(event),
  );
}

function markRecord(
  tx: Transaction,
  ref: ReturnType<typeof inboundEventRef>,
  state: InboundState,
  attempt: number,
  now: Date,
  retentionDays: number,
): void {
  tx.set(
    ref,
    {
      state,
      attempts: attempt,
      settledAt: Timestamp.fromDate(now),
      expireAt: Timestamp.fromMillis(now.getTime() + retentionDays * DAY_MS),
    },
    { merge: true },
  );
}

/** The dead-letter id of an inbound event (stable, so a failed replay re-opens the same letter). */
export function inboundDeadLetterId(event: PaymentEvent): string {
  return taskId("in", event.provider, event.eventId);
}

async function deadLetter(
  task: PaymentTask,
  attempt: number,
  error: unknown,
  deps: ProcessDeps,
): Promise<"dead-lettered" | "duplicate"> {
  const { event } = task;
  const now = new Date((deps.now ?? Date.now)());
  const message = error instanceof Error ? error.message : String(error);
  const db = tenantDbFor(event.tenantId);
  const paymentRef = db.doc(`payments/${event.paymentId}`);
  const recordRef = inboundEventRef(event.provider, event.eventId);
  const id = inboundDeadLetterId(event);
  const result = await runRootTransaction(async (tx) => {
    const [payment, record] = await Promise.all([tx.get(paymentRef), tx.get(recordRef)]);
    const applied = (payment.get("appliedEventIds") as string[] | undefined) ?? [];
    // A failure after the commit (lost response, crash) must not dead-letter an applied event.
    if (payment.exists && applied.includes(event.eventId)) {
      markRecord(tx, recordRef, "processed", attempt, now, deps.retentionDays);
      if (task.replay) resolveDeadLetter(tx, scopeOf(task.replay), task.replay.deadLetterId, now);
      return { outcome: "duplicate" as const };
    }
    // Only a payment that exists in the named tenant lets us write into that tenant.
    const scope: DeadLetterScope = payment.exists ? { kind: "tenant", db } : { kind: "platform" };
    const history = ((record.get("errors") as AttemptError[] | undefined) ?? []).filter((e) => e.attempt < attempt);
    const errors = [...history, { attempt, at: now.toISOString(), message }];
    await putDeadLetter(
      tx,
      scope,
      {
        id,
        source: "payments.inbound",
        queue: PAYMENT_QUEUE,
        payload: { event },
        reference: `${event.provider}:${event.eventId}`,
        attempts: attempt,
        errors,
      },
      now,
    );
    if (task.replay && (task.replay.tenantId ?? null) !== (scope.kind === "tenant" ? db.tenantId : null)) {
      // The letter moved scope (e.g. the payment was created since): close the replayed one.
      resolveDeadLetter(tx, scopeOf(task.replay), task.replay.deadLetterId, now);
    }
    markRecord(tx, recordRef, "dead-lettered", attempt, now, deps.retentionDays);
    return { outcome: "dead-lettered" as const, tenantId: scope.kind === "tenant" ? db.tenantId : null, message };
  });
  if (result.outcome === "dead-lettered") {
    metrics.inc("inbound_events_total", { outcome: "dead-lettered" });
    log.warn("inbound event dead-lettered", { eventId: event.eventId, attempts: attempt });
    await notifyDeadLetter(
      {
        deadLetterId: id,
        tenantId: result.tenantId,
        source: "payments.inbound",
        reference: `${event.provider}:${event.eventId}`,
        attempts: attempt,
        lastError: result.message,
      },
      deps.publish,
    );
  }
  return result.outcome;
}

async function recordFailure(task: PaymentTask, attempt: number, error: unknown, now: Date): Promise<void> {
  const recordRef = inboundEventRef(task.event.provider, task.event.eventId);
  const entry: AttemptError = {
    attempt,
    at: now.toISOString(),
    message: error instanceof Error ? error.message : String(error),
  };
  try {
    await recordRef.set({ errors: FieldValue.arrayUnion(entry) }, { merge: true });
  } catch (writeError) {
    log.warn("could not record an inbound attempt error", { eventId: task.event.eventId, cause: String(writeError) });
  }
}

/**
 * Processes one dispatch of an inbound event task. Returns normally when the task is done
 * (applied, duplicate, stale or dead-lettered); throws to have Cloud Tasks retry it.
 */
export async function processPaymentTask(data: unknown, attempt: number, deps: ProcessDeps): Promise<ProcessOutcome> {
  const parsed = checkInput(PaymentTask, data);
  if (!parsed.success) {
    // Only this codebase enqueues here; a malformed payload is a bug, retrying cannot fix it.
    log.error("malformed payment task payload dropped", { fields: Object.keys(parsed.fields) });
    metrics.inc("inbound_events_total", { outcome: "malformed" });
    return "dead-lettered";
  }
  const task = parsed.data;
  const final = attempt >= deps.maxAttempts;
  const fault = injectedFault(task.event.eventId, attempt, deps.faultPercent ?? 0);
  try {
    if (fault === "before") throw new Error(`injected fault before commit (attempt ${attempt})`);
    const outcome = await apply(task, attempt, deps);
    if (fault === "after") throw new Error(`injected fault after commit (attempt ${attempt})`);
    // Publishes the event staged with the change; a retry (outcome "duplicate") publishes it if
    // this dispatch could not.
    await flushStagedEvent(tenantDbFor(task.event.tenantId), paymentEventId(task.event));
    metrics.inc("inbound_events_total", { outcome });
    log.info("inbound event processed", { eventId: task.event.eventId, outcome, retryCount: attempt - 1 });
    return outcome;
  } catch (error) {
    if (error instanceof PermanentEventError || final) return deadLetter(task, attempt, error, deps);
    await recordFailure(task, attempt, error, new Date((deps.now ?? Date.now)()));
    log.warn("inbound event attempt failed; Cloud Tasks will retry", {
      eventId: task.event.eventId,
      retryCount: attempt - 1,
      cause: error instanceof Error ? error.message : String(error),
    });
    throw error;
  }
}
