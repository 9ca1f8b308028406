import { createHmac } from "node:crypto";
import Stripe from "stripe";
import { Webhook } from "standardwebhooks";
import {
  generateEndpointSecret,
  parseProviderSignatureHeader,
  secretList,
  signStandardWebhook,
  verifyProviderSignature,
} from "../../src/webhooks/signature";

const SECRET = "whsec_provider_test_secret";
const NOW = 1_750_000_000;
const body = Buffer.from(JSON.stringify({ id: "evt_1", type: "payment_intent.succeeded" }));

/** An independent signer: HMAC-SHA256 over `${t}.${body}` in hex, as Stripe documents. */
function vector(secret: string, t: number, payload: Buffer): string {
  return createHmac("sha256", secret)
    .update(`${t}.${payload.toString("utf8")}`)
    .digest("hex");
}

function verify(header: string | undefined, opts: { secrets?: string[]; now?: number; payload?: Buffer } = {}) {
  return verifyProviderSignature({
    payload: opts.payload ?? body,
    header,
    secrets: opts.secrets ?? [SECRET],
    toleranceSeconds: 300,
    nowSeconds: opts.now ?? NOW,
  });
}

describe("provider signature verification (Stripe scheme)", () => {
  it("accepts a signature computed independently with node:crypto", () => {
    expect(verify(`t=${NOW},v1=${vector(SECRET, NOW, body)}`)).toEqual({ ok: true, timestamp: NOW });
  });

  it("accepts the header format stripe-node generates for tests", () => {
    const stripe = new Stripe("sk_test_dummy");
    const header = stripe.webhooks.generateTestHeaderString({
      payload: body.toString("utf8"),
      secret: SECRET,
      timestamp: NOW,
    });
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verify(header)).toEqual({ ok: true, timestamp: NOW });
  });

  it("rejects a body changed by one byte", () => {
    const tampered = Buffer.from(body.toString("utf8").replace("evt_1", "evt_2"));
    expect(verify(`t=${NOW},v1=${vector(SECRET, NOW, body)}`, { payload: tampered })).toEqual({
      ok: false,
      reason: "no-matching-signature",
    });
  });

  it("rejects a signature made with another secret", () => {
    expect(verify(`t=${NOW},v1=${vector("whsec_other", NOW, body)}`).ok).toBe(false);
  });

  it("rejects a timestamp swapped after signing", () => {
    const sig = vector(SECRET, NOW - 10, body);
    expect(verify(`t=${NOW},v1=${sig}`)).toEqual({ ok: false, reason: "no-matching-signature" });
  });

  it("accepts exactly 300 s of age and refuses 301 s, in both directions", () => {
    const at = (t: number) => `t=${t},v1=${vector(SECRET, t, body)}`;
    expect(verify(at(NOW - 300)).ok).toBe(true);
    expect(verify(at(NOW - 301))).toEqual({ ok: false, reason: "stale-timestamp" });
    expect(verify(at(NOW + 300)).ok).toBe(true);
    expect(verify(at(NOW + 301))).toEqual({ ok: false, reason: "stale-timestamp" });
  });

  it("accepts any v1 of several (provider rolling its secret)", () => {
    const header = `t=${NOW},v1=${vector("whsec_old", NOW, body)},v1=${vector(SECRET, NOW, body)},v0=deadbeef`;
    expect(verify(header).ok).toBe(true);
  });

  it("accepts any of our configured secrets (our rotation) and drops a removed one", () => {
    const header = `t=${NOW},v1=${vector("whsec_next", NOW, body)}`;
    expect(verify(header, { secrets: secretList(` ${SECRET} , whsec_next `) }).ok).toBe(true);
    expect(verify(header, { secrets: secretList(SECRET) }).ok).toBe(false);
  });

  it("refuses missing and malformed headers", () => {
    expect(verify(undefined)).toEqual({ ok: false, reason: "missing-header" });
    expect(verify("")).toEqual({ ok: false, reason: "missing-header" });
    expect(verify(`v1=${vector(SECRET, NOW, body)}`)).toEqual({ ok: false, reason: "malformed-header" });
    expect(verify(`t=${NOW}`)).toEqual({ ok: false, reason: "malformed-header" });
    expect(verify(`t=${NOW},v1=nothex`)).toEqual({ ok: false, reason: "malformed-header" });
    expect(verify(`t=abc,v1=${vector(SECRET, NOW, body)}`)).toEqual({ ok: false, reason: "malformed-header" });
  });

  it("parses only v1 signatures and the first timestamp", () => {
    expect(parseProviderSignatureHeader(`t=5,t=6,v0=${"a".repeat(64)},v1=${"B".repeat(64)}`)).toEqual({
      timestamp: 5,
      signatures: ["b".repeat(64)],
    });
  });

  it("treats an empty secret list as matching nothing", () => {
    expect(verify(`t=${NOW},v1=${vector(SECRET, NOW, body)}`, { secrets: secretList(" , ") }).ok).toBe(false);
  });
});

describe("Standard Webhooks signing (outgoing)", () => {
  const payload = JSON.stringify({ type: "payment.succeeded", data: { id: "p1" } });

  it("produces signatures the standardwebhooks library verifies", () => {
    const secret = generateEndpointSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const ts = Math.floor(Date.now() / 1000);
    const headers = {
      "webhook-id": "msg_1",
      "webhook-timestamp": String(ts),
      "webhook-signature": signStandardWebhook([secret], "msg_1", ts, payload),
    };
    expect(new Webhook(secret).verify(payload, headers)).toEqual(JSON.parse(payload));
  });

  it("signs with every secret during a rotation, so old and new receivers both verify", () => {
    const [oldSecret, newSecret, unrelated] = [
      generateEndpointSecret(),
      generateEndpointSecret(),
      generateEndpointSecret(),
    ];
    const ts = Math.floor(Date.now() / 1000);
    const signature = signStandardWebhook([newSecret, oldSecret], "msg_2", ts, payload);
    expect(signature.split(" ")).toHaveLength(2);
    const headers = { "webhook-id": "msg_2", "webhook-timestamp": String(ts), "webhook-signature": signature };
    expect(() => new Webhook(oldSecret).verify(payload, headers)).not.toThrow();
    expect(() => new Webhook(newSecret).verify(payload, headers)).not.toThrow();
    expect(() => new Webhook(unrelated).verify(payload, headers)).toThrow();
  });

  it("binds the message id and body: a receiver rejects either changed", () => {
    const secret = generateEndpointSecret();
    const ts = Math.floor(Date.now() / 1000);
    const signature = signStandardWebhook([secret], "msg_3", ts, payload);
    const wh = new Webhook(secret);
    expect(() =>
      wh.verify(payload, { "webhook-id": "msg_4", "webhook-timestamp": String(ts), "webhook-signature": signature }),
    ).toThrow();
    expect(() =>
      wh.verify(payload + " ", {
        "webhook-id": "msg_3",
        "webhook-timestamp": String(ts),
        "webhook-signature": signature,
      }),
    ).toThrow();
  });
});
