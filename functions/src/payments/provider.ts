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
import { fieldErrors, invalidArgument, summarise } from "../platform/errors";
import { EVENT_STATUS, PaymentEvent, type PaymentEvent as PaymentEventT } from "./model";

export const PROVIDER = "stripe";

const ProviderId = z.string().regex(/^[A-Za-z0-9_-]{1,200}$/);

const ProviderObject = z.object({
  id: ProviderId,
  object: z.enum(["payment_intent", "charge"]),
  /** On a charge: the payment intent it belongs to. */
  payment_intent: ProviderId.optional(),
  amount: z.number().int().nonnegative(),
  currency: z.string(),
  metadata: z.record(z.string(), z.string()).optional(),
});

const ProviderEnvelope = z.object({
  id: ProviderId,
  type: z.string().max(100),
  created: z.number().int().nonnegative(),
  data: z.object({ object: z.unknown() }),
});

export type Normalised =
  { kind: "event"; event: PaymentEventT } | { kind: "ignored"; reason: string; eventId?: string };

function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const fields = fieldErrors(result.error);
    throw invalidArgument(summarise(fields), fields);
  }
  return result.data;
}

/**
 * Parses a verified raw body. Event types we do not handle, and events about provider objects
 * we did not create (no routing metadata), are `ignored` (acknowledged, nothing written); a body
 * that is not a well-formed event is `invalid-argument`.
 */
export function normalise(rawBody: Buffer): Normalised {
  let json: unknown;
  try {
    json = JSON.parse(rawBody.toString("utf8"));
  } catch {
    throw invalidArgument("The body is not JSON", { body: ["not JSON"] });
  }
  const envelope = parse(ProviderEnvelope, json);
  const status = EVENT_STATUS[envelope.type];
  if (!status) return { kind: "ignored", reason: "unhandled-type", eventId: envelope.id };
  const object = parse(ProviderObject, envelope.data.object);
  const tenantId = object.metadata?.tenantId;
  const paymentId = object.metadata?.paymentId;
  if (!tenantId || !paymentId) return { kind: "ignored", reason: "not-ours", eventId: envelope.id };
  const providerPaymentId = object.object === "charge" ? object.payment_intent : object.id;
  return {
    kind: "event",
    event: parse(PaymentEvent, {
      provider: PROVIDER,
      eventId: envelope.id,
      type: envelope.type,
      status,
      created: envelope.created,
      tenantId,
      paymentId,
      providerPaymentId,
      amount: object.amount,
      currency: object.currency,
    }),
  };
}
