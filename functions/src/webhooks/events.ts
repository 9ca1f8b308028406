/**
 * The event catalogue: every event type the product publishes to tenants' webhook endpoints, with
 * its payload schema (zod; the API reference renders them as JSON Schema), and the two ways a
 * producer publishes one.
 *
 * - `emitEvent` publishes at once, after the producer's change has committed. Used by callables
 *   (membership changes): a failed publish is logged and counted, the change stands.
 * - `stageEvent` + `flushStagedEvent`: a transactional outbox for task handlers (payments, jobs).
 *   The event is written to `tenants/{tid}/eventOutbox/{id}` in the same transaction as the
 *   change; after the commit it is published and the outbox entry deleted. If publishing fails
 *   the handler throws, and its Cloud Tasks retry finds the entry and publishes it again. The id
 *   is deterministic, and publishing an id twice never duplicates a delivery.
 */
import { createHash } from "node:crypto";
import type { Transaction } from "firebase-admin/firestore";
import { z } from "zod";
import { describeError, log } from "../platform/logger";
import { metrics } from "../platform/metrics";
import { Timestamp } from "../platform/firestore-sdk";
import type { TenantDb } from "../tenancy/db";
import { EXHAUSTED_EVENT, publishEvent, TEST_EVENT } from "./outbound";
import { cloudTasksEnqueue } from "./tasks";

const Uid = z.string().min(1).max(128);
const PaymentPayload = z.strictObject({
  paymentId: z.string(),
  status: z.enum(["processing", "succeeded", "failed", "refunded"]),
  previousStatus: z.string(),
  amount: z.number().int(),
  currency: z.string(),
  providerPaymentId: z.string(),
  /** The provider event that caused the change. */
  providerEventId: z.string(),
});
const JobPayload = z.strictObject({
  jobId: z.string(),
  type: z.string(),
  attempts: z.number().int(),
  createdBy: z.string(),
  error: z.strictObject({ code: z.string(), message: z.string() }).nullable(),
});

/** Event type → payload schema. A `Map`, so a caller-supplied name never reaches a prototype. */
export const EVENT_CATALOGUE: ReadonlyMap<string, { description: string; payload: z.ZodType }> = new Map([
  ["payment.processing", { description: "A payment is being processed by the provider.", payload: PaymentPayload }],
  ["payment.succeeded", { description: "A payment succeeded.", payload: PaymentPayload }],
  ["payment.failed", { description: "A payment attempt failed (the customer may retry).", payload: PaymentPayload }],
  ["payment.refunded", { description: "A payment was refunded.", payload: PaymentPayload }],
  [
    "member.added",
    {
      description: "A user became a member of the tenant.",
      payload: z.strictObject({ uid: Uid, email: z.string().nullable(), roles: z.array(z.string()), by: Uid }),
    },
  ],
  ["member.removed", { description: "A member was removed.", payload: z.strictObject({ uid: Uid, by: Uid }) }],
  [
    "member.roles_changed",
    {
      description: "A member's roles changed.",
      payload: z.strictObject({ uid: Uid, roles: z.array(z.string()), by: Uid }),
    },
  ],
  [
    "job.succeeded",
    { description: "A job finished successfully (its result is on the job record).", payload: JobPayload },
  ],
  ["job.failed", { description: "A job failed for good and was dead-lettered.", payload: JobPayload }],
  [
    TEST_EVENT,
    {
      description: "Sent by sendTestWebhook to one endpoint.",
      payload: z.strictObject({ endpointId: z.string(), requestedBy: Uid }),
    },
  ],
  [
    EXHAUSTED_EVENT,
    {
      description: "A delivery used up its attempts and was dead-lettered (never sent to the failing endpoint).",
      payload: z.strictObject({
        deliveryId: z.string(),
        endpointId: z.string(),
        eventId: z.string(),
        eventType: z.string(),
        attempts: z.number().int(),
        lastError: z.string().nullable(),
      }),
    },
  ],
]);

/** A deterministic event id (`msg_…`) from the facts that identify the event. */
export function eventId(...parts: string[]): string {
  return `msg_${createHash("sha256").update(parts.join("\u0000")).digest("base64url").slice(0, 32)}`;
}

/** Parses `payload` against the catalogue; a producer sending the wrong shape is a bug. */
function checked(type: string, payload: Record<string, unknown>): Record<string, unknown> {
  const entry = EVENT_CATALOGUE.get(type);
  if (!entry) throw new Error(`event type ${type} is not in the catalogue`);
  return entry.payload.parse(payload) as Record<string, unknown>;
}

/**
 * Publishes a catalogued event after the producer's change committed. Never throws: the change
 * stands whether or not its event went out; a failure is logged and counted.
 */
export async function emitEvent(
  tenantId: string,
  type: string,
  payload: Record<string, unknown>,
  id?: string,
): Promise<void> {
  try {
    await publishEvent(tenantId, type, checked(type, payload), { id, enqueue: cloudTasksEnqueue });
    metrics.inc("events_emitted_total", { type, outcome: "published" });
  } catch (error) {
    metrics.inc("events_emitted_total", { type, outcome: "failed" });
    log.error("event not published", { type, ...describeError(error) });
  }
}

/** Writes a catalogued event into the tenant's outbox inside `tx` (after the transaction's reads). */
export function stageEvent(
  tx: Transaction,
  db: TenantDb,
  type: string,
  payload: Record<string, unknown>,
  id: string,
): void {
  tx.set(db.doc(`eventOutbox/${id}`), { type, payload: checked(type, payload), createdAt: Timestamp.now() });
}

/**
 * Publishes a staged event and removes it from the outbox; nothing to do when it is not there
 * (already published). Throws when publishing fails, so the task handler that staged it retries.
 */
export async function flushStagedEvent(db: TenantDb, id: string): Promise<boolean> {
  const ref = db.doc(`eventOutbox/${id}`);
  const snap = await ref.get();
  if (!snap.exists) return false;
  const type = snap.get("type") as string;
  await publishEvent(db.tenantId, type, snap.get("payload") as Record<string, unknown>, {
    id,
    enqueue: cloudTasksEnqueue,
  });
  metrics.inc("events_emitted_total", { type, outcome: "published" });
  await ref.delete();
  return true;
}
