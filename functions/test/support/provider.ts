/**
 * The payment provider's side of inbound webhooks, as the tests play it: Stripe-style signature
 * headers over the raw body, and payment-intent events about one of a tenant's payments.
 */
import { createHmac, randomUUID } from "node:crypto";

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** The `Stripe-Signature` header for `body`, signed at `t` with `secret` (the test deployment's by default). */
export function stripeSignature(
  body: string,
  t = nowSeconds(),
  secret = process.env.PAYMENT_WEBHOOK_SECRET as string,
): string {
  return `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")}`;
}

/** A payment-intent event of `type` about `paymentId` of `tenantId`, with a fresh event id. */
export function paymentIntentEvent(
  tenantId: string,
  paymentId: string,
  { type = "payment_intent.processing", amount = 1200 } = {},
): { id: string; body: string } {
  const id = `evt_${randomUUID().replace(/-/g, "")}`;
  const body = JSON.stringify({
    id,
    object: "event",
    type,
    created: nowSeconds(),
    data: {
      object: {
        id: `pi_${paymentId}`,
        object: "payment_intent",
        amount,
        currency: "eur",
        metadata: { tenantId, paymentId },
      },
    },
  });
  return { id, body };
}
