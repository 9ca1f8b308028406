/**
 * The payment state machine, as pure functions.
 *
 * Provider events arrive at least once and in any order. A payment therefore only moves forward
 * along a rank order, and records the ids of events already applied:
 *
 *   created (0) < processing (1) < failed (2) < succeeded (3) < partially_refunded (4) < refunded (5)
 *
 * `failed` ranks below `succeeded` because a provider failure is not final (the customer may
 * retry with another card and the same intent then succeeds), while a late "failed" for an
 * earlier try must never overwrite a success. `refunded` is terminal. Refund events carry the
 * charge's running refunded total; the payment keeps the largest seen (`amountRefunded`), so
 * partial refunds arriving in any order end at the same total and status.
 */
import { z } from "zod";

export const PAYMENT_STATUSES = [
  "created",
  "processing",
  "failed",
  "succeeded",
  "partially_refunded",
  "refunded",
] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

const RANK: Readonly<Record<PaymentStatus, number>> = {
  created: 0,
  processing: 1,
  failed: 2,
  succeeded: 3,
  partially_refunded: 4,
  refunded: 5,
};

/** True when a payment in `from` may move to `to` (strictly forward in rank). */
export function canTransition(from: PaymentStatus, to: PaymentStatus): boolean {
  return RANK[to] > RANK[from];
}

/**
 * The provider event types we act on, and the status each one means (`charge.refunded`: see
 * `refundStatus`). A Map: the type is the sender's string, and "constructor" must not match.
 */
export const EVENT_STATUS: ReadonlyMap<string, PaymentStatus> = new Map<string, PaymentStatus>([
  ["payment_intent.processing", "processing"],
  ["payment_intent.payment_failed", "failed"],
  ["payment_intent.succeeded", "succeeded"],
  ["charge.refunded", "refunded"],
]);

/** The status a refunded total means: fully refunded only once it reaches the amount. */
export function refundStatus(amount: number, amountRefunded: number): PaymentStatus {
  return amountRefunded >= amount ? "refunded" : "partially_refunded";
}

/** How many applied event ids a payment remembers (a payment sees a handful of events). */
export const APPLIED_EVENTS_KEPT = 100;

export const Currency = z.string().regex(/^[a-z]{3}$/, "must be a lowercase ISO 4217 code");
export const Amount = z.number().int().positive().max(99_999_999);

/** The event as the task handler receives it (normalised and validated at the edge). */
export const PaymentEvent = z.strictObject({
  provider: z.string().regex(/^[a-z0-9-]{1,32}$/),
  eventId: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/),
  type: z.string().max(100),
  status: z.enum(PAYMENT_STATUSES),
  /** Provider's event creation time (unix seconds). */
  created: z.number().int().nonnegative(),
  tenantId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/),
  paymentId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/),
  providerPaymentId: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/),
  amount: z.number().int().nonnegative(),
  currency: Currency,
  /** Refund events only: the charge's refunded total so far (minor units). */
  amountRefunded: z.number().int().nonnegative().optional(),
});
export type PaymentEvent = z.infer<typeof PaymentEvent>;

/** The stored payment fields that event application reads. */
export interface PaymentState {
  status: PaymentStatus;
  amount: number;
  currency: string;
  providerPaymentId?: string | null;
  appliedEventIds?: string[];
  /** Largest refunded total any refund event reported (0 or absent: nothing refunded). */
  amountRefunded?: number;
}

export type ApplyDecision =
  | { kind: "duplicate" }
  | { kind: "mismatch"; reason: string }
  | {
      kind: "apply";
      /** False when the event is older news (recorded as applied, status unchanged). */
      moved: boolean;
      status: PaymentStatus;
      providerPaymentId: string;
      appliedEventIds: string[];
      /** Refund events only: the payment's refunded total after this event. */
      amountRefunded?: number;
    };

/**
 * Decides what an event does to a payment: nothing (already applied), refuse (it does not
 * describe this payment: different provider object, amount or currency), or apply (status moves
 * forward or stays, the event id is remembered either way).
 */
export function decide(payment: PaymentState, event: PaymentEvent): ApplyDecision {
  const applied = payment.appliedEventIds ?? [];
  if (applied.includes(event.eventId)) return { kind: "duplicate" };
  if (payment.providerPaymentId && payment.providerPaymentId !== event.providerPaymentId) {
    return { kind: "mismatch", reason: "the event belongs to a different provider payment" };
  }
  if (payment.amount !== event.amount || payment.currency !== event.currency) {
    return { kind: "mismatch", reason: "the event's amount or currency differs from the payment's" };
  }
  const appliedEventIds = [...applied, event.eventId].slice(-APPLIED_EVENTS_KEPT);
  if (event.amountRefunded !== undefined) {
    if (event.amountRefunded > payment.amount) {
      return { kind: "mismatch", reason: "the event refunds more than the payment's amount" };
    }
    // Totals only grow: an older partial refund arriving late changes nothing.
    const before = payment.amountRefunded ?? 0;
    const amountRefunded = Math.max(before, event.amountRefunded);
    const target = refundStatus(payment.amount, amountRefunded);
    const forward = canTransition(payment.status, target);
    return {
      kind: "apply",
      moved: forward || amountRefunded > before,
      status: forward ? target : payment.status,
      providerPaymentId: event.providerPaymentId,
      appliedEventIds,
      amountRefunded,
    };
  }
  const moved = canTransition(payment.status, event.status);
  return {
    kind: "apply",
    moved,
    status: moved ? event.status : payment.status,
    providerPaymentId: event.providerPaymentId,
    appliedEventIds,
  };
}
