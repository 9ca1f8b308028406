/**
 * Webhook signatures, both directions.
 *
 * Inbound (payment provider): Stripe's scheme. The `Stripe-Signature` header is
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.rawBody">[,v1=…]`; several `v1` values appear while
 * the provider rolls its secret, and we may hold several secrets while we roll ours, so any
 * (secret, v1) pair that matches is accepted.
 *
 * Outbound: Standard Webhooks. `webhook-signature` is a space-separated list of `v1,<base64
 * HMAC-SHA256 of "id.timestamp.body">`, one per active secret; secrets are `whsec_<base64 key>`.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export type SignatureFailure = "missing-header" | "malformed-header" | "stale-timestamp" | "no-matching-signature";

export type SignatureCheck = { ok: true; timestamp: number } | { ok: false; reason: SignatureFailure };

interface ParsedHeader {
  timestamp: number;
  signatures: string[];
}

/** Parses `t=…,v1=…,v1=…`; unknown schemes (v0, …) are ignored, as Stripe documents. */
export function parseProviderSignatureHeader(header: string): ParsedHeader | undefined {
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t" && timestamp === undefined && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === "v1" && /^[0-9a-f]{64}$/i.test(value)) signatures.push(value.toLowerCase());
  }
  return timestamp === undefined || signatures.length === 0 ? undefined : { timestamp, signatures };
}

/** Hex HMAC-SHA256 of `${timestamp}.${payload}` (the value of a `v1=` element). */
export function providerSignature(secret: string, timestamp: number, payload: Buffer | string): string {
  return createHmac("sha256", secret).update(`${timestamp}.`).update(payload).digest("hex");
}

/** Constant-time equality of two equal-length byte strings (false for different lengths). */
function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Verifies a provider signature over the raw request body. `secrets` are all currently valid
 * signing secrets; `toleranceSeconds` bounds the timestamp's distance from `nowSeconds` in both
 * directions (a far-future timestamp is as suspicious as an old one).
 */
export function verifyProviderSignature(args: {
  payload: Buffer;
  header: string | undefined;
  secrets: readonly string[];
  toleranceSeconds: number;
  nowSeconds: number;
}): SignatureCheck {
  if (!args.header) return { ok: false, reason: "missing-header" };
  const parsed = parseProviderSignatureHeader(args.header);
  if (!parsed) return { ok: false, reason: "malformed-header" };
  if (Math.abs(args.nowSeconds - parsed.timestamp) > args.toleranceSeconds) {
    return { ok: false, reason: "stale-timestamp" };
  }
  const received = parsed.signatures.map((s) => Buffer.from(s, "hex"));
  let matched = false;
  // Every pair is compared (no early exit) so timing does not reveal which secret matched.
  for (const secret of args.secrets) {
    const expected = Buffer.from(providerSignature(secret, parsed.timestamp, args.payload), "hex");
    for (const candidate of received) matched = safeEqual(expected, candidate) || matched;
  }
  return matched ? { ok: true, timestamp: parsed.timestamp } : { ok: false, reason: "no-matching-signature" };
}

/** Splits a comma-separated secret list (rotation) into trimmed, non-empty secrets. */
export function secretList(raw: string | undefined): string[] {
  return (raw ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

const WHSEC = "whsec_";

/** A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function generateEndpointSecret(): string {
  return WHSEC + randomBytes(32).toString("base64");
}

/** The HMAC key of a `whsec_` secret (the base64-decoded part after the prefix). */
export function endpointSecretKey(secret: string): Buffer {
  if (!secret.startsWith(WHSEC)) throw new Error("not a whsec_ secret");
  const key = Buffer.from(secret.slice(WHSEC.length), "base64");
  if (key.length < 24) throw new Error("whsec_ secret too short");
  return key;
}

/**
 * The Standard Webhooks `webhook-signature` value: `v1,<base64>` for every secret, space
 * separated, so a receiver holding either the old or the new secret accepts the message.
 */
export function signStandardWebhook(
  secrets: readonly string[],
  msgId: string,
  timestampSeconds: number,
  body: string,
): string {
  return secrets
    .map((secret) => {
      const mac = createHmac("sha256", endpointSecretKey(secret))
        .update(`${msgId}.${timestampSeconds}.${body}`)
        .digest("base64");
      return `v1,${mac}`;
    })
    .join(" ");
}
