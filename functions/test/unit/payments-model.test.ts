import {
  canTransition,
  decide,
  PAYMENT_STATUSES,
  type PaymentEvent,
  type PaymentState,
} from "../../src/payments/model";
import { injectedFault } from "../../src/payments/inbound";
import { normalise } from "../../src/payments/provider";
import { AppError } from "../../src/platform/errors";

function event(overrides: Partial<PaymentEvent> = {}): PaymentEvent {
  return {
    provider: "stripe",
    eventId: "evt_1",
    type: "payment_intent.succeeded",
    status: "succeeded",
    created: 1_750_000_000,
    tenantId: "t1",
    paymentId: "p1",
    providerPaymentId: "pi_1",
    amount: 1000,
    currency: "eur",
    ...overrides,
  };
}

const payment = (overrides: Partial<PaymentState> = {}): PaymentState => ({
  status: "created",
  amount: 1000,
  currency: "eur",
  providerPaymentId: null,
  appliedEventIds: [],
  ...overrides,
});

describe("payment status order", () => {
  it("moves strictly forward: created < processing < failed < succeeded < partially_refunded < refunded", () => {
    const order = ["created", "processing", "failed", "succeeded", "partially_refunded", "refunded"] as const;
    expect([...PAYMENT_STATUSES]).toEqual([...order]);
    for (let i = 0; i < order.length; i++) {
      for (let j = 0; j < order.length; j++) expect(canTransition(order[i], order[j])).toBe(j > i);
    }
  });
});

describe("applying an event", () => {
  it("applies a forward event and remembers its id", () => {
    expect(decide(payment(), event())).toEqual({
      kind: "apply",
      moved: true,
      status: "succeeded",
      providerPaymentId: "pi_1",
      appliedEventIds: ["evt_1"],
    });
  });

  it("has no effect the second time", () => {
    expect(decide(payment({ status: "succeeded", appliedEventIds: ["evt_1"] }), event())).toEqual({
      kind: "duplicate",
    });
  });

  it("records a late, older event without moving the payment backwards", () => {
    const late = event({ eventId: "evt_0", type: "payment_intent.processing", status: "processing" });
    const decision = decide(
      payment({ status: "succeeded", appliedEventIds: ["evt_1"], providerPaymentId: "pi_1" }),
      late,
    );
    expect(decision).toMatchObject({
      kind: "apply",
      moved: false,
      status: "succeeded",
      appliedEventIds: ["evt_1", "evt_0"],
    });
  });

  it("lets a success follow a failure (the customer retried), never the reverse", () => {
    expect(decide(payment({ status: "failed" }), event())).toMatchObject({ moved: true, status: "succeeded" });
    const lateFailure = event({ eventId: "evt_f", status: "failed" });
    expect(decide(payment({ status: "succeeded" }), lateFailure)).toMatchObject({ moved: false, status: "succeeded" });
  });

  it("reaches the same final status whatever order the events arrive in", () => {
    const events = [
      event({ eventId: "e1", status: "processing" }),
      event({ eventId: "e2", status: "failed" }),
      event({ eventId: "e3", status: "succeeded" }),
      event({ eventId: "e4", status: "refunded" }),
    ];
    const permutations = (xs: PaymentEvent[]): PaymentEvent[][] =>
      xs.length <= 1
        ? [xs]
        : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
    for (const order of permutations(events)) {
      let state = payment();
      for (const e of [...order, ...order]) {
        const d = decide(state, e);
        if (d.kind === "apply")
          state = {
            ...state,
            status: d.status,
            appliedEventIds: d.appliedEventIds,
            providerPaymentId: d.providerPaymentId,
          };
      }
      expect(state.status).toBe("refunded");
      expect(state.appliedEventIds).toHaveLength(4);
    }
  });

  it("records a partial refund as partially_refunded with the refunded total", () => {
    const refund = event({ eventId: "r1", type: "charge.refunded", status: "partially_refunded", amountRefunded: 300 });
    expect(decide(payment({ status: "succeeded" }), refund)).toMatchObject({
      kind: "apply",
      moved: true,
      status: "partially_refunded",
      amountRefunded: 300,
    });
  });

  it("ends refunded once partial refunds reach the amount, in any order", () => {
    const refunds = [300, 700, 1000].map((total, i) =>
      event({
        eventId: `r${i}`,
        type: "charge.refunded",
        status: total >= 1000 ? "refunded" : "partially_refunded",
        amountRefunded: total,
      }),
    );
    for (const order of [refunds, [...refunds].reverse(), [refunds[1], refunds[2], refunds[0]]]) {
      let state = payment({ status: "succeeded" });
      for (const e of order) {
        const d = decide(state, e);
        if (d.kind === "apply")
          state = { ...state, status: d.status, appliedEventIds: d.appliedEventIds, amountRefunded: d.amountRefunded };
      }
      expect(state).toMatchObject({ status: "refunded", amountRefunded: 1000 });
    }
    // A late smaller total neither lowers the total nor the status.
    const late = decide(payment({ status: "partially_refunded", amountRefunded: 700 }), refunds[0]);
    expect(late).toMatchObject({ moved: false, status: "partially_refunded", amountRefunded: 700 });
  });

  it("refuses a refund larger than the payment", () => {
    const refund = event({ eventId: "r9", type: "charge.refunded", status: "refunded", amountRefunded: 1001 });
    expect(decide(payment({ status: "succeeded" }), refund).kind).toBe("mismatch");
  });

  it("refuses events about another provider payment, amount or currency", () => {
    expect(decide(payment({ providerPaymentId: "pi_other" }), event()).kind).toBe("mismatch");
    expect(decide(payment({ amount: 999 }), event()).kind).toBe("mismatch");
    expect(decide(payment({ currency: "usd" }), event()).kind).toBe("mismatch");
  });
});

describe("fault injection hook", () => {
  it("is deterministic per (event, attempt) and close to the requested rate", () => {
    let failures = 0;
    for (let i = 0; i < 4000; i++) {
      const a = injectedFault(`evt_${i}`, 1, 30);
      expect(injectedFault(`evt_${i}`, 1, 30)).toBe(a);
      if (a !== "none") failures++;
    }
    expect(failures / 4000).toBeGreaterThan(0.27);
    expect(failures / 4000).toBeLessThan(0.33);
  });

  it("fails both before and after the commit, and never at 0 %", () => {
    const kinds = new Set(Array.from({ length: 200 }, (_, i) => injectedFault(`evt_${i}`, 2, 50)));
    expect(kinds).toEqual(new Set(["none", "before", "after"]));
    expect(Array.from({ length: 200 }, (_, i) => injectedFault(`evt_${i}`, 1, 0)).every((k) => k === "none")).toBe(
      true,
    );
  });
});

describe("provider event normalisation", () => {
  const body = (object: Record<string, unknown>, type = "payment_intent.succeeded") =>
    Buffer.from(JSON.stringify({ id: "evt_9", type, created: 1, data: { object } }));
  const intent = {
    id: "pi_9",
    object: "payment_intent",
    amount: 500,
    currency: "usd",
    metadata: { tenantId: "t9", paymentId: "p9" },
  };

  it("routes by the metadata set at creation", () => {
    expect(normalise(body(intent))).toEqual({
      kind: "event",
      event: expect.objectContaining({
        eventId: "evt_9",
        tenantId: "t9",
        paymentId: "p9",
        providerPaymentId: "pi_9",
        status: "succeeded",
      }),
    });
  });

  it("takes the payment intent id and refunded total from a refunded charge", () => {
    const charge = { ...intent, id: "ch_1", object: "charge", payment_intent: "pi_9", amount_refunded: 500 };
    expect(normalise(body(charge, "charge.refunded"))).toMatchObject({
      event: { providerPaymentId: "pi_9", status: "refunded", amountRefunded: 500 },
    });
  });

  it("reads a partial refund as partially_refunded", () => {
    const charge = { ...intent, id: "ch_1", object: "charge", payment_intent: "pi_9", amount_refunded: 200 };
    expect(normalise(body(charge, "charge.refunded"))).toMatchObject({
      event: { status: "partially_refunded", amountRefunded: 200 },
    });
  });

  it("ignores unhandled types and objects we did not create", () => {
    expect(normalise(body(intent, "customer.created"))).toMatchObject({ kind: "ignored", reason: "unhandled-type" });
    expect(normalise(body(intent, "constructor"))).toMatchObject({ kind: "ignored", reason: "unhandled-type" });
    expect(normalise(body({ ...intent, metadata: {} }))).toMatchObject({ kind: "ignored", reason: "not-ours" });
  });

  it("ignores, instead of refusing, signed events it can never apply", () => {
    expect(normalise(body({ ...intent, metadata: { tenantId: "../x", paymentId: "p" } }))).toMatchObject({
      kind: "ignored",
      reason: "unroutable",
      eventId: "evt_9",
    });
    expect(normalise(body({ ...intent, metadata: { tenantId: "t9", paymentId: "p/../q" } }))).toMatchObject({
      reason: "unroutable",
    });
    expect(normalise(body({ ...intent, amount: -1 }))).toMatchObject({ kind: "ignored", reason: "malformed" });
    const noTotal = { ...intent, id: "ch_1", object: "charge", payment_intent: "pi_9" };
    expect(normalise(body(noTotal, "charge.refunded"))).toMatchObject({ kind: "ignored", reason: "malformed" });
  });

  it("refuses bodies that are not an event envelope with invalid-argument", () => {
    for (const raw of [
      Buffer.from("not json"),
      Buffer.from(JSON.stringify({ id: "evt_1" })),
      Buffer.from(
        JSON.stringify({ id: "evt/../x", type: "payment_intent.succeeded", created: 1, data: { object: intent } }),
      ),
    ]) {
      expect(() => normalise(raw)).toThrow(AppError);
    }
  });
});
