/**
 * Payments, the example domain that inbound webhooks update.
 *
 * Clients create payments (idempotent callable) and read them; only provider events change a
 * payment's status, through `paymentWebhook` → `processPaymentEvent`.
 */
import { Timestamp, isoTime } from "../platform/firestore-sdk";
import { onTaskDispatched } from "firebase-functions/v2/tasks";
import { z } from "zod";
import { tenantCallable } from "../platform/callable";
import { intValue, params, runtime, secrets } from "../platform/config";
import { notFound } from "../platform/errors";
import { httpsEndpoint } from "../platform/https";
import { withSpec, type FunctionSpec } from "../platform/spec";
import { traceTask } from "../platform/tracing-port";
import { DocId } from "../platform/validation";
import { secretList } from "../webhooks/signature";
import { attemptOf, cloudTasksEnqueue } from "../webhooks/tasks";
import { acknowledge, PAYMENT_QUEUE, PaymentTask, processPaymentTask } from "./inbound";
import { Amount, Currency, type PaymentStatus } from "./model";

const CreatePaymentInput = z.strictObject({
  amount: Amount,
  currency: Currency,
  description: z.string().max(500).optional(),
});

export interface PaymentView {
  id: string;
  status: PaymentStatus;
  amount: number;
  /** Refunded so far (minor units); equals `amount` once `refunded`. */
  amountRefunded: number;
  currency: string;
  description: string | null;
  providerPaymentId: string | null;
  createdAt: string | null;
  updatedAt: string | null;
}

function viewOf(id: string, data: FirebaseFirestore.DocumentData): PaymentView {
  return {
    id,
    status: data.status,
    amount: data.amount,
    amountRefunded: data.amountRefunded ?? 0,
    currency: data.currency,
    description: data.description ?? null,
    providerPaymentId: data.providerPaymentId ?? null,
    createdAt: isoTime(data.createdAt),
    updatedAt: isoTime(data.updatedAt),
  };
}

export const createPayment = tenantCallable(
  {
    name: "createPayment",
    description: "Creates a payment in the caller's tenant and returns the metadata to hand to the payment provider.",
    input: CreatePaymentInput,
    permission: "payments:create",
    idempotent: true,
    // Its one effect is the payment document, written in its transaction: the record rides along.
    idempotencyOptions: { mode: "transactional" },
  },
  async ({ data, db, uid, runTransaction }) => {
    const ref = db.collection("payments").doc();
    const now = Timestamp.now();
    const payment = {
      status: "created" as PaymentStatus,
      amount: data.amount,
      currency: data.currency,
      description: data.description ?? null,
      providerPaymentId: null,
      appliedEventIds: [],
      createdBy: uid,
      createdAt: now,
      updatedAt: now,
    };
    // The response is the transaction's result, so the idempotency record stores it in that commit.
    return runTransaction(async (tx) => {
      tx.create(ref, payment);
      return {
        payment: viewOf(ref.id, payment),
        // Pass as the provider object's metadata; every event about it is routed by it.
        providerMetadata: { tenantId: db.tenantId, paymentId: ref.id },
      };
    });
  },
);

export const getPayment = tenantCallable(
  {
    name: "getPayment",
    description: "Returns one payment of the caller's tenant.",
    input: z.strictObject({ paymentId: DocId }),
    permission: "payments:read",
  },
  async ({ data, db }) => {
    const snap = await db.doc(`payments/${data.paymentId}`).get();
    if (!snap.exists) throw notFound("No such payment.");
    return viewOf(snap.id, snap.data() as FirebaseFirestore.DocumentData);
  },
);

export const listPayments = tenantCallable(
  {
    name: "listPayments",
    description: "Lists the caller's tenant's payments, newest first.",
    input: z.strictObject({ limit: z.number().int().min(1).max(100).default(25), after: DocId.optional() }),
    permission: "payments:read",
  },
  async ({ data, db }) => {
    let query = db.collection("payments").orderBy("createdAt", "desc");
    if (data.after) {
      const cursor = await db.doc(`payments/${data.after}`).get();
      if (cursor.exists) query = query.startAfter(cursor);
    }
    const snap = await query.limit(data.limit + 1).get();
    const docs = snap.docs.slice(0, data.limit);
    return {
      items: docs.map((d) => viewOf(d.id, d.data())),
      next: snap.docs.length > data.limit ? docs[docs.length - 1].id : null,
    };
  },
);

export const paymentWebhook = httpsEndpoint(
  {
    name: "paymentWebhook",
    description:
      "Receives the payment provider's signed events (Stripe-Signature), de-duplicates and queues them; 2xx only once durably accepted.",
    methods: ["POST"],
    // The body is verified and parsed by the handler from the raw bytes, never trusted pre-parsed.
    input: z.unknown(),
    auth: "none",
    options: { secrets: [secrets.paymentWebhookSecret] },
  },
  async ({ req }) =>
    acknowledge(req.rawBody, req.headers["stripe-signature"], {
      enqueue: cloudTasksEnqueue,
      secrets: secretList(secrets.paymentWebhookSecret.value()),
      toleranceSeconds: intValue(params.webhookToleranceSeconds),
      retentionDays: intValue(params.inboundEventRetentionDays),
    }),
);

/** The fault-injection percentage: the param under the emulator, always 0 in production. */
function faultPercent(): number {
  return runtime.isEmulator() ? intValue(params.webhookFaultInjectionPercent) : 0;
}

const PAYMENT_TASK_SPEC: FunctionSpec = {
  kind: "task",
  name: PAYMENT_QUEUE,
  description: "Applies an inbound payment event to its payment; dead-letters it after the last attempt.",
  input: PaymentTask,
  auth: "none",
  tenant: false,
};

export const processPaymentEvent = withSpec(
  onTaskDispatched(
    {
      retryConfig: {
        maxAttempts: params.webhookMaxAttempts.param,
        minBackoffSeconds: params.webhookMinBackoffSeconds.param,
        maxBackoffSeconds: params.webhookMaxBackoffSeconds.param,
        maxDoublings: 16,
      },
      // Bounded so a burst of provider events cannot exhaust Firestore contention on hot payments.
      rateLimits: { maxConcurrentDispatches: params.webhookTaskConcurrency.param, maxDispatchesPerSecond: 100 },
    },
    (request) =>
      // Continues the trace of the `paymentWebhook` request that queued the event.
      traceTask(PAYMENT_TASK_SPEC, request, async () => {
        await processPaymentTask(request.data, attemptOf(request), {
          maxAttempts: intValue(params.webhookMaxAttempts),
          retentionDays: intValue(params.inboundEventRetentionDays),
          faultPercent: faultPercent(),
        });
      }),
  ),
  PAYMENT_TASK_SPEC,
);
