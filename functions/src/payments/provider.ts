/**
 * The payment provider's event format (Stripe-shaped) and its normalisation into a
 * `PaymentEvent`. Called only after the signature over the raw body has been verified.
 *
 * Routing: when a payment is created we hand the provider `metadata: {tenantId, paymentId}`;
 * the provider echoes it on every event about that payment. The metadata is signed by the
 * provider but was written by whoever created the provider object, so it is only a routing
 * hint: the task handler applies an event only when that payment exists in that tenant and
 * the provider object id, amount and currency agree with it.
 */
import { z } from "zod";
import { invalidArgument } from "../platform/errors";
import { checkInput, parseInput } from "../platform/validation";
import { EVENT_STATUS, PaymentEvent, refundStatus, type PaymentEvent as PaymentEventT } from "./model";

export const PROVIDER = "stripe";

const ProviderId = z.string().regex(/^[A-Za-z0-9_-]{1,200}$/);

const ProviderObject = z.object({
  id: ProviderId,
  object: z.enum(["payment_intent", "charge"]),
  /** On a charge: the payment intent it belongs to. */
  payment_intent: ProviderId.optional(),
  amount: z.number().int().nonnegative(),
  /** On a charge: the total refunded so far (a partial refund leaves it below `amount`). */
  amount_refunded: z.number().int().nonnegative().optional(),
  currency: z.string(),
  metadata: z.record(z.string(), z.string()).optional(),
});

const ProviderEnvelope = z.object({
  id: ProviderId,
  type: z.string().max(100),
  created: z.number().int().nonnegative(),
  data: z.object({ object: z.unknown() }),
});

/**
 * Why a signed event is acknowledged without being applied. `unroutable` and `malformed` are
 * the provider's (or a metadata author's) mistakes that no retry fixes, so they are recorded
 * for operators instead of being answered 4xx (which would make the provider retry for days).
 */
export type IgnoredReason = "unhandled-type" | "not-ours" | "unroutable" | "malformed";

export type Normalised =
  | { kind: "event"; event: PaymentEventT }
  | { kind: "ignored"; reason: IgnoredReason; eventId: string; type: string; detail?: string };

/**
 * Parses a verified raw body. Event types we do not handle and events about provider objects we
 * did not create (no routing metadata) are `ignored`; so are handled events whose object or
 * routing metadata cannot be used (`malformed`, `unroutable`). Only a body that is not an event
 * envelope at all is `invalid-argument`.
 */
export function normalise(rawBody: Buffer): Normalised {
  let json: unknown;
  try {
    json = JSON.parse(rawBody.toString("utf8"));
  } catch {
    throw invalidArgument("The body is not JSON", { body: ["not JSON"] });
  }
  const envelope = parseInput(ProviderEnvelope, json);
  const ignored = (reason: IgnoredReason, detail?: string): Normalised => ({
    kind: "ignored",
    reason,
    eventId: envelope.id,
    type: envelope.type,
    ...(detail ? { detail } : {}),
  });
  const status = EVENT_STATUS.get(envelope.type);
  if (!status) return ignored("unhandled-type");
  const parsedObject = checkInput(ProviderObject, envelope.data.object);
  if (!parsedObject.success) return ignored("malformed", Object.keys(parsedObject.fields).join(", "));
  const object = parsedObject.data;
  const tenantId = object.metadata?.tenantId;
  const paymentId = object.metadata?.paymentId;
  if (!tenantId || !paymentId) return ignored("not-ours");
  const providerPaymentId = object.object === "charge" ? object.payment_intent : object.id;
  const refund = envelope.type === "charge.refunded";
  // A charge reports the running refunded total; without it a refund event cannot say how much.
  if (refund && object.amount_refunded === undefined) return ignored("malformed", "amount_refunded");
  const event = checkInput(PaymentEvent, {
    provider: PROVIDER,
    eventId: envelope.id,
    type: envelope.type,
    status: refund ? refundStatus(object.amount, object.amount_refunded as number) : status,
    created: envelope.created,
    tenantId,
    paymentId,
    providerPaymentId,
    amount: object.amount,
    currency: object.currency,
    ...(refund ? { amountRefunded: object.amount_refunded } : {}),
  });
  if (!event.success) {
    const fields = Object.keys(event.fields);
    const routing = fields.some((f) => f === "tenantId" || f === "paymentId");
    return ignored(routing ? "unroutable" : "malformed", fields.join(", "));
  }
  return { kind: "event", event: event.data };
}
