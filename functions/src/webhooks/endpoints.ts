/**
 * Endpoint management: tenants register the URLs their events are delivered to.
 *
 * The signing secret (`whsec_…`) is returned once, at creation or rotation, and stored only
 * encrypted (AES-256-GCM bound to the endpoint's path). Rotation keeps the previous secret
 * signing for an overlap window, so receivers can switch without dropping a message.
 */
import { Timestamp, isoTime } from "../platform/firestore-sdk";
import { z } from "zod";
import { tenantCallable } from "../platform/callable";
import { intValue, params, runtime, secrets } from "../platform/config";
import { encrypt } from "../platform/crypto";
import { failedPrecondition, invalidArgument, notFound } from "../platform/errors";
import { DocId } from "../platform/validation";
import type { TenantDb } from "../tenancy/db";
import {
  EventType,
  MAX_ENDPOINTS,
  publishEvent,
  secretAad,
  TEST_EVENT,
  type DeliveryRecord,
  type EndpointRecord,
  type StoredSecret,
} from "./outbound";
import { generateEndpointSecret } from "./signature";
import { assertAllowedUrl, SsrfError, type AddressPolicy } from "./ssrf";
import { cloudTasksEnqueue } from "./tasks";

/** http and loopback receivers only under the emulator with WEBHOOK_ALLOW_HTTP; never in production. */
export function deliveryPolicy(): AddressPolicy {
  const relaxed = runtime.isEmulator() && params.webhookAllowHttp.value();
  return { allowHttp: relaxed, allowLoopback: relaxed };
}

const Url = z.string().max(2048);
const EventTypes = z
  .array(z.union([EventType, z.literal("*")]))
  .min(1)
  .max(50);
const DEFAULT_OVERLAP_SECONDS = 24 * 3600;

function checkUrl(url: string): string {
  try {
    return assertAllowedUrl(url, deliveryPolicy()).toString();
  } catch (error) {
    if (error instanceof SsrfError) throw invalidArgument(`url: ${error.message}`, { url: [error.message] });
    throw error;
  }
}

export interface EndpointView {
  id: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  status: string;
  disabledReason: string | null;
  secretsActive: number;
  failingSince: string | null;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  createdAt: string | null;
}

function viewOf(id: string, e: EndpointRecord, nowMs = Date.now()): EndpointView {
  return {
    id,
    url: e.url,
    description: e.description ?? null,
    eventTypes: e.eventTypes,
    status: e.status,
    disabledReason: e.disabledReason ?? null,
    secretsActive: e.secrets.filter((s) => s.expiresAt === null || s.expiresAt.toMillis() > nowMs).length,
    failingSince: isoTime(e.failingSince),
    lastSuccessAt: isoTime(e.lastSuccessAt),
    lastFailureAt: isoTime(e.lastFailureAt),
    createdAt: isoTime(e.createdAt),
  };
}

async function loadEndpoint(db: TenantDb, id: string): Promise<EndpointRecord> {
  const snap = await db.doc(`webhookEndpoints/${id}`).get();
  if (!snap.exists) throw notFound("No such webhook endpoint.");
  return snap.data() as EndpointRecord;
}

const withSecret = { secrets: [secrets.dataEncryptionKey] };

export const createWebhookEndpoint = tenantCallable(
  {
    name: "createWebhookEndpoint",
    description: "Registers a webhook endpoint; returns its whsec_ signing secret (shown only this once).",
    input: z.strictObject({ url: Url, eventTypes: EventTypes, description: z.string().max(500).optional() }),
    permission: "webhooks:manage",
    // Not idempotent on purpose: a replayable response would keep the plaintext secret in the
    // idempotency record, and secrets are stored only encrypted.
    options: withSecret,
  },
  async ({ data, db, uid, runTransaction }) => {
    const url = checkUrl(data.url);
    const ref = db.collection("webhookEndpoints").doc();
    const secret = generateEndpointSecret();
    const now = Timestamp.now();
    const record: EndpointRecord & { createdBy: string } = {
      url,
      description: data.description ?? null,
      eventTypes: [...new Set(data.eventTypes)],
      status: "active",
      disabledReason: null,
      secrets: [{ ciphertext: encrypt(secret, { aad: secretAad(db, ref.id) }), createdAt: now, expiresAt: null }],
      failingSince: null,
      lastSuccessAt: null,
      lastFailureAt: null,
      createdAt: now,
      updatedAt: now,
      createdBy: uid,
    };
    await runTransaction(async (tx) => {
      const existing = await tx.get(db.collection("webhookEndpoints").limit(MAX_ENDPOINTS));
      if (existing.size >= MAX_ENDPOINTS) {
        throw failedPrecondition(`A tenant can have at most ${MAX_ENDPOINTS} endpoints.`, "endpoint-limit");
      }
      tx.create(ref, record);
    });
    return { endpoint: viewOf(ref.id, record), secret };
  },
);

export const listWebhookEndpoints = tenantCallable(
  {
    name: "listWebhookEndpoints",
    description: "Lists the tenant's webhook endpoints (never their secrets).",
    input: z.strictObject({}).optional(),
    permission: "webhooks:read",
  },
  async ({ db }) => {
    const snap = await db.collection("webhookEndpoints").limit(MAX_ENDPOINTS).get();
    return { items: snap.docs.map((d) => viewOf(d.id, d.data() as EndpointRecord)) };
  },
);

export const updateWebhookEndpoint = tenantCallable(
  {
    name: "updateWebhookEndpoint",
    description: "Changes an endpoint's URL, event types or description.",
    input: z.strictObject({
      endpointId: DocId,
      url: Url.optional(),
      eventTypes: EventTypes.optional(),
      description: z.string().max(500).nullable().optional(),
    }),
    permission: "webhooks:manage",
  },
  async ({ data, db }) => {
    const ref = db.doc(`webhookEndpoints/${data.endpointId}`);
    const update: Record<string, unknown> = { updatedAt: Timestamp.now() };
    if (data.url !== undefined) update.url = checkUrl(data.url);
    if (data.eventTypes !== undefined) update.eventTypes = [...new Set(data.eventTypes)];
    if (data.description !== undefined) update.description = data.description;
    await db.runTransaction(async (tx) => {
      if (!(await tx.get(ref)).exists) throw notFound("No such webhook endpoint.");
      tx.update(ref, update);
    });
    return viewOf(data.endpointId, await loadEndpoint(db, data.endpointId));
  },
);

export const rotateWebhookEndpointSecret = tenantCallable(
  {
    name: "rotateWebhookEndpointSecret",
    description:
      "Issues a new signing secret; the previous one keeps signing for the overlap (default 24 h), so both verify meanwhile.",
    input: z.strictObject({
      endpointId: DocId,
      overlapSeconds: z
        .number()
        .int()
        .min(0)
        .max(7 * 86_400)
        .default(DEFAULT_OVERLAP_SECONDS),
    }),
    permission: "webhooks:manage",
    // Not idempotent for the same reason as creation: the response carries the secret.
    options: withSecret,
  },
  async ({ data, db, runTransaction }) => {
    const ref = db.doc(`webhookEndpoints/${data.endpointId}`);
    const secret = generateEndpointSecret();
    const now = Timestamp.now();
    const expiresAt = Timestamp.fromMillis(now.toMillis() + data.overlapSeconds * 1000);
    await runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      if (!snap.exists) throw notFound("No such webhook endpoint.");
      const current = (snap.get("secrets") as StoredSecret[]).filter(
        (s) => s.expiresAt === null || s.expiresAt.toMillis() > now.toMillis(),
      );
      // Every previously active secret now ends with the overlap; at most the newest two stay.
      const retired = current.map((s) => ({ ...s, expiresAt: s.expiresAt ?? expiresAt })).slice(0, 1);
      tx.update(ref, {
        secrets: [
          { ciphertext: encrypt(secret, { aad: secretAad(db, data.endpointId) }), createdAt: now, expiresAt: null },
          ...(data.overlapSeconds > 0 ? retired : []),
        ],
        updatedAt: now,
      });
    });
    return { secret, previousSecretExpiresAt: data.overlapSeconds > 0 ? expiresAt.toDate().toISOString() : null };
  },
);

export const setWebhookEndpointStatus = tenantCallable(
  {
    name: "setWebhookEndpointStatus",
    description: "Disables or re-enables an endpoint; enabling clears its failure streak.",
    input: z.strictObject({ endpointId: DocId, status: z.enum(["active", "disabled"]) }),
    permission: "webhooks:manage",
  },
  async ({ data, db }) => {
    const ref = db.doc(`webhookEndpoints/${data.endpointId}`);
    await db.runTransaction(async (tx) => {
      if (!(await tx.get(ref)).exists) throw notFound("No such webhook endpoint.");
      tx.update(ref, {
        status: data.status,
        disabledReason: data.status === "disabled" ? "manual" : null,
        failingSince: null,
        updatedAt: Timestamp.now(),
      });
    });
    return viewOf(data.endpointId, await loadEndpoint(db, data.endpointId));
  },
);

export const deleteWebhookEndpoint = tenantCallable(
  {
    name: "deleteWebhookEndpoint",
    description: "Deletes an endpoint; pending deliveries to it are cancelled when they come up.",
    input: z.strictObject({ endpointId: DocId }),
    permission: "webhooks:manage",
  },
  async ({ data, db }) => {
    const ref = db.doc(`webhookEndpoints/${data.endpointId}`);
    if (!(await ref.get()).exists) throw notFound("No such webhook endpoint.");
    await ref.delete();
    return { deleted: true };
  },
);

export const sendTestWebhook = tenantCallable(
  {
    name: "sendTestWebhook",
    description: "Sends a webhook.test event to one endpoint through the normal signed, retried delivery.",
    input: z.strictObject({ endpointId: DocId }),
    permission: "webhooks:manage",
    rateLimits: ["sendTestWebhook"],
  },
  async ({ data, db, uid }) => {
    const endpoint = await loadEndpoint(db, data.endpointId);
    if (endpoint.status !== "active") throw failedPrecondition("The endpoint is disabled.", "endpoint-disabled");
    // Test events go to this endpoint whatever it subscribes to.
    const { eventId } = await publishEvent(
      db.tenantId,
      TEST_EVENT,
      { endpointId: data.endpointId, requestedBy: uid },
      { onlyEndpointIds: [data.endpointId], enqueue: cloudTasksEnqueue, includeUnsubscribed: true },
    );
    return { eventId };
  },
);

export const listWebhookDeliveries = tenantCallable(
  {
    name: "listWebhookDeliveries",
    description: "The delivery log of one endpoint, newest first: attempts, status codes, latency, errors.",
    input: z.strictObject({
      endpointId: DocId,
      limit: z.number().int().min(1).max(100).default(25),
      after: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,300}$/)
        .optional(),
    }),
    permission: "webhooks:read",
  },
  async ({ data, db }) => {
    let query = db
      .collection("webhookDeliveries")
      .where("endpointId", "==", data.endpointId)
      .orderBy("createdAt", "desc");
    if (data.after) {
      const cursor = await db.doc(`webhookDeliveries/${data.after}`).get();
      if (cursor.exists) query = query.startAfter(cursor);
    }
    const snap = await query.limit(data.limit + 1).get();
    const docs = snap.docs.slice(0, data.limit);
    return {
      items: docs.map((d) => {
        const r = d.data() as DeliveryRecord;
        return {
          id: d.id,
          eventId: r.eventId,
          eventType: r.eventType,
          status: r.status,
          attemptCount: r.attemptCount,
          attempts: r.attempts,
          nextAttemptAt: isoTime(r.nextAttemptAt),
          createdAt: isoTime(r.createdAt),
        };
      }),
      next: snap.docs.length > data.limit ? docs[docs.length - 1].id : null,
    };
  },
);

/** Reads the configured delivery knobs (handlers only). */
export function deliverySettings() {
  return {
    maxAttempts: intValue(params.webhookMaxAttempts),
    timeoutMs: intValue(params.webhookDeliveryTimeoutSeconds) * 1000,
    disableAfterMs: intValue(params.webhookDisableAfterFailingDays) * 86_400_000,
  };
}
