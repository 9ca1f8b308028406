/**
 * Webhooks: outgoing endpoints and deliveries, and the dead-letter operations shared with
 * inbound payment events. `publishEvent` is the service API other modules call.
 */
import { onTaskDispatched } from "firebase-functions/v2/tasks";
import { z } from "zod";
import { callable, tenantCallable } from "../platform/callable";
import { params, secrets } from "../platform/config";
import { withSpec, type FunctionSpec } from "../platform/spec";
import { traceTask } from "../platform/tracing-port";
import { TenantId } from "../platform/validation";
import { listDeadLetterPage, replayDeadLetterIds, type DeadLetterScope } from "./deadletters";
import { deliveryPolicy, deliverySettings } from "./endpoints";
import { DELIVERY_QUEUE, DeliveryTask, publishEvent as publish, runDelivery, type PublishOptions } from "./outbound";
import { tenantDbFor } from "./store";
import { cloudTasksEnqueue } from "./tasks";

export {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  listWebhookDeliveries,
  listWebhookEndpoints,
  rotateWebhookEndpointSecret,
  sendTestWebhook,
  setWebhookEndpointStatus,
  updateWebhookEndpoint,
} from "./endpoints";

/**
 * Publishes an event of `type` with `payload` to the tenant's subscribed endpoints. Pass a
 * stable `options.id` (`msg_…`) when the caller may retry: publishing again completes the
 * fan-out without duplicating deliveries.
 */
export function publishEvent(
  tenantId: string,
  type: string,
  payload: Record<string, unknown>,
  options: Partial<PublishOptions> = {},
): Promise<{ eventId: string; deliveries: number }> {
  return publish(tenantId, type, payload, { enqueue: cloudTasksEnqueue, ...options });
}

const DELIVERY_SPEC: FunctionSpec = {
  kind: "task",
  name: DELIVERY_QUEUE,
  description: "Delivers one attempt of an outgoing webhook and schedules the next one.",
  input: DeliveryTask,
  auth: "none",
  tenant: false,
};

export const deliverWebhook = withSpec(
  onTaskDispatched(
    {
      // The handler schedules each next attempt itself (schedule, jitter, Retry-After); these
      // retries only cover failures of the handler (e.g. Firestore briefly unavailable).
      retryConfig: { maxAttempts: 5, minBackoffSeconds: 10, maxBackoffSeconds: 300, maxDoublings: 4 },
      rateLimits: { maxConcurrentDispatches: params.webhookTaskConcurrency.param, maxDispatchesPerSecond: 200 },
      // A delivery waits up to the 15 s receiver timeout plus a few Firestore round trips.
      timeoutSeconds: 120,
      secrets: [secrets.dataEncryptionKey],
    },
    (request) =>
      // One trace per webhook: the span continues the publisher's trace carried in the payload.
      traceTask(DELIVERY_SPEC, request, async () => {
        await runDelivery(request.data, {
          ...deliverySettings(),
          enqueue: cloudTasksEnqueue,
          policy: deliveryPolicy(),
        });
      }),
  ),
  DELIVERY_SPEC,
);

const DeadLetterId = z.string().regex(/^[A-Za-z0-9_-]{1,200}$/);
const ListInput = z.strictObject({
  status: z.enum(["open", "replaying", "resolved"]).optional(),
  limit: z.number().int().min(1).max(100).default(25),
  after: DeadLetterId.optional(),
});
const ReplayInput = z.strictObject({ ids: z.array(DeadLetterId).min(1).max(100) });

export const listDeadLetters = tenantCallable(
  {
    name: "listDeadLetters",
    description: "Lists the tenant's dead-lettered inbound events and outbound deliveries.",
    input: ListInput,
    permission: "webhooks:manage",
  },
  async ({ data, db }) => listDeadLetterPage({ kind: "tenant", db }, data),
);

export const replayDeadLetters = tenantCallable(
  {
    name: "replayDeadLetters",
    description: "Re-enqueues one or many of the tenant's dead letters; a letter already replayed is left alone.",
    input: ReplayInput,
    permission: "webhooks:manage",
  },
  async ({ data, db }) => ({
    results: await replayDeadLetterIds({ kind: "tenant", db }, [...new Set(data.ids)], { enqueue: cloudTasksEnqueue }),
  }),
);

/** A tenant's store, or (tenantId omitted) the platform's store of unroutable inbound events. */
function adminScope(tenantId: string | undefined): DeadLetterScope {
  return tenantId ? { kind: "tenant", db: tenantDbFor(tenantId) } : { kind: "platform" };
}

export const adminListDeadLetters = callable(
  {
    name: "adminListDeadLetters",
    description: "Platform admin: lists dead letters of any tenant, or the platform's unroutable events.",
    input: ListInput.extend({ tenantId: TenantId.optional() }),
    platformAdmin: true,
  },
  async ({ data }) => {
    const { tenantId, ...options } = data;
    return listDeadLetterPage(adminScope(tenantId), options);
  },
);

export const adminReplayDeadLetters = callable(
  {
    name: "adminReplayDeadLetters",
    description: "Platform admin: replays dead letters of any tenant, or the platform's unroutable events.",
    input: ReplayInput.extend({ tenantId: TenantId.optional() }),
    platformAdmin: true,
  },
  async ({ data }) => ({
    results: await replayDeadLetterIds(adminScope(data.tenantId), [...new Set(data.ids)], {
      enqueue: cloudTasksEnqueue,
    }),
  }),
);
