/**
 * The checks of this deployment: Firestore, Auth, every Cloud Tasks queue of the exported task
 * functions, the dead-letter Pub/Sub topic, the tenant-objects bucket and every secret.
 */
import { params, runtime, secrets } from "../platform/config";
import { parseKeyring } from "../platform/crypto";
import { ConfigError } from "../platform/errors";
import { specOf } from "../platform/spec";
import {
  authReachable,
  firestoreRoundTrip,
  pubsubTopic,
  secretsPresent,
  storageBucket,
  tasksQueue,
  type NamedCheck,
  type SecretTarget,
} from "./checks";

/**
 * Queue names of the exported task functions. A v2 task queue is named after its function, so
 * the list follows the code: a new task function is checked without touching this module.
 */
export async function taskQueueNames(): Promise<string[]> {
  const exported = (await import("../index")) as Record<string, unknown>;
  return Object.values(exported)
    .map((fn) => specOf(fn))
    .filter((spec) => spec?.kind === "task")
    .map((spec) => spec!.name)
    .sort();
}

/** Secrets with a known shape are validated too (without ever echoing the value). */
export const SECRET_TARGETS: readonly SecretTarget[] = [
  {
    name: "DATA_ENCRYPTION_KEY",
    value: () => secrets.dataEncryptionKey.value(),
    // The documented keyring format (`id:key,id:key` during a rotation) as well as one bare key.
    validate: (v) => {
      try {
        parseKeyring(v);
        return undefined;
      } catch (error) {
        return error instanceof ConfigError ? error.message.replace(/^DATA_ENCRYPTION_KEY /, "") : "is not a keyring";
      }
    },
  },
  { name: "PAYMENT_WEBHOOK_SECRET", value: () => secrets.paymentWebhookSecret.value() },
  {
    name: "OPERATOR_TOKEN",
    value: () => secrets.operatorToken.value(),
    validate: (v) => (v.length >= 16 ? undefined : "is shorter than 16 characters"),
  },
];

/** Every check of this deployment, built from params and the exported functions. */
export async function defaultChecks(): Promise<NamedCheck[]> {
  const project = runtime.projectId();
  const emulator = runtime.isEmulator();
  const location = params.region.value();
  const queues = await taskQueueNames();
  return [
    { name: "firestore", check: firestoreRoundTrip() },
    { name: "auth", check: authReachable() },
    ...queues.map((queue) => ({
      name: `tasks:${queue}`,
      check: tasksQueue({ project, location, queue, emulator, emulatorHost: runtime.tasksEmulatorHost() }),
    })),
    {
      name: "pubsub:dead-letters",
      check: pubsubTopic({
        project,
        topic: params.deadLetterTopic.value(),
        emulator,
        emulatorHost: runtime.pubsubEmulatorHost(),
      }),
    },
    {
      name: "storage",
      check: storageBucket({
        bucket: async () => (await (await import("../storage/signer")).tenantBucket()).name,
        emulator,
        emulatorHost: runtime.storageEmulatorHost(),
      }),
    },
    { name: "secrets", check: secretsPresent(SECRET_TARGETS) },
  ];
}
