/**
 * Dependency checks for the health endpoint. Each check reports status, latency and a short
 * reason; none of them returns configuration values or secrets.
 *
 * A check either resolves (ok), throws `SkipCheck` (skipped: the dependency cannot be checked
 * here, e.g. no Pub/Sub emulator on a developer machine) or throws anything else (fail).
 * Production never skips: every check talks to the real service.
 */
import { randomUUID } from "node:crypto";
import type { Auth } from "firebase-admin/auth";
import type { Firestore } from "firebase-admin/firestore";
import { adminApp, adminAuth, rootFirestore } from "../platform/admin";

export type CheckStatus = "ok" | "fail" | "skipped";

export interface CheckResult {
  name: string;
  status: CheckStatus;
  latencyMs: number;
  reason?: string;
}

export type Check = () => Promise<void>;

export interface NamedCheck {
  name: string;
  check: Check;
}

/** Thrown by a check that cannot run in this environment; reported as "skipped", not failed. */
export class SkipCheck extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "SkipCheck";
  }
}

function shortReason(error: unknown): string {
  // Only the error's first line: driver messages can be long, but carry no secrets.
  return (error instanceof Error ? error.message : String(error)).split("\n")[0].slice(0, 200);
}

/** Runs one check with a timeout, timing it and catching its failure. */
export async function runCheck(
  name: string,
  check: Check,
  timeoutMs = 3000,
  now = () => performance.now(),
): Promise<CheckResult> {
  const started = now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { name, status: "ok", latencyMs: Math.round(now() - started) };
  } catch (error) {
    const status: CheckStatus = error instanceof SkipCheck ? "skipped" : "fail";
    return { name, status, latencyMs: Math.round(now() - started), reason: shortReason(error) };
  } finally {
    clearTimeout(timer);
  }
}

// One health document per instance, so concurrent instances never contend on one document.
const instanceId = randomUUID();
const HEALTH_DOC_TTL_MS = 24 * 3600 * 1000;

/**
 * Firestore: a write and a read of one document under the reserved `_health` collection. The
 * document carries `expireAt` so a TTL policy removes those of instances long gone.
 */
export function firestoreRoundTrip(db: () => Firestore = rootFirestore, now: () => number = Date.now): Check {
  return async () => {
    const ref = db().doc(`_health/${instanceId}`);
    const stamp = now();
    await ref.set({ stamp, expireAt: new Date(stamp + HEALTH_DOC_TTL_MS) });
    const snap = await ref.get();
    if (snap.get("stamp") !== stamp) throw new Error("read did not return the value written");
  };
}

/** Auth: looking up a user that cannot exist proves the service answers. */
export function authReachable(auth: () => Auth = adminAuth): Check {
  return async () => {
    try {
      await auth().getUser("health-check-nonexistent-user");
    } catch (error) {
      if ((error as { code?: string }).code === "auth/user-not-found") return;
      throw error;
    }
  };
}

export type Fetch = typeof fetch;

/** An OAuth access token for Google APIs from the Admin SDK's credential (the runtime account). */
export async function googleAccessToken(): Promise<string> {
  const credential = adminApp().options.credential;
  if (!credential) throw new Error("no credential to call Google APIs");
  return (await credential.getAccessToken()).access_token;
}

export interface GoogleApiDeps {
  fetch?: Fetch;
  /** Access token for production APIs; not called when talking to an emulator. */
  token?: () => Promise<string>;
}

async function getJson(url: string, deps: GoogleApiDeps, authorised: boolean): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = {};
  if (authorised) headers.authorization = `Bearer ${await (deps.token ?? googleAccessToken)()}`;
  const res = await (deps.fetch ?? fetch)(url, { headers, signal: AbortSignal.timeout(5000) });
  if (res.status === 404) throw new Error("not found");
  if (res.status === 403) throw new Error("permission denied to the runtime service account");
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const text = await res.text();
  try {
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export interface QueueTarget {
  project: string;
  location: string;
  queue: string;
  /** host:port of the Cloud Tasks emulator; undefined in production. */
  emulatorHost?: string;
  emulator: boolean;
}

/**
 * A Cloud Tasks queue exists and is RUNNING (a paused or disabled queue silently stops webhook
 * processing, so it fails readiness). Under the emulator: the emulator answers and the
 * functions emulator has registered the queue.
 */
export function tasksQueue(target: QueueTarget, deps: GoogleApiDeps = {}): Check {
  return async () => {
    if (target.emulator) {
      if (!target.emulatorHost) throw new SkipCheck("no Cloud Tasks emulator");
      const stats = await getJson(`http://${target.emulatorHost}/queueStats`, deps, false);
      const key = `queue:${target.project}-${target.location}-${target.queue}`;
      if (!(key in stats)) throw new Error("queue not registered with the emulator");
      return;
    }
    const queue = await getJson(
      `https://cloudtasks.googleapis.com/v2/projects/${target.project}/locations/${target.location}/queues/${target.queue}`,
      deps,
      true,
    );
    if (queue.state !== "RUNNING") throw new Error(`queue is ${String(queue.state ?? "in an unknown state")}`);
  };
}

export interface TopicTarget {
  project: string;
  topic: string;
  emulatorHost?: string;
  emulator: boolean;
}

/** The dead-letter Pub/Sub topic exists. */
export function pubsubTopic(target: TopicTarget, deps: GoogleApiDeps = {}): Check {
  return async () => {
    if (target.emulator && !target.emulatorHost) throw new SkipCheck("no Pub/Sub emulator");
    const base = target.emulator ? `http://${target.emulatorHost}` : "https://pubsub.googleapis.com";
    await getJson(`${base}/v1/projects/${target.project}/topics/${target.topic}`, deps, !target.emulator);
  };
}

export interface BucketTarget {
  bucket: () => Promise<string>;
  emulatorHost?: string;
  emulator: boolean;
}

/** The tenant-objects bucket exists and the runtime account can see it. */
export function storageBucket(target: BucketTarget, deps: GoogleApiDeps = {}): Check {
  return async () => {
    if (target.emulator && !target.emulatorHost) throw new SkipCheck("no Storage emulator");
    const name = encodeURIComponent(await target.bucket());
    if (target.emulator) {
      // The Storage emulator has no bucket metadata call; listing one object proves the bucket.
      await getJson(`http://${target.emulatorHost}/storage/v1/b/${name}/o?maxResults=1`, deps, false);
      return;
    }
    await getJson(`https://storage.googleapis.com/storage/v1/b/${name}?fields=name`, deps, true);
  };
}

export interface SecretTarget {
  name: string;
  /** Reads the secret; throws or returns "" when it is not set. */
  value: () => string;
  /** Extra shape check; returns a reason when the value is malformed. Never echoes the value. */
  validate?: (value: string) => string | undefined;
}

/** Every secret is present (and well-formed where a shape is known). Values are never reported. */
export function secretsPresent(targets: readonly SecretTarget[]): Check {
  return async () => {
    const problems: string[] = [];
    for (const target of targets) {
      let value = "";
      try {
        value = target.value();
      } catch {
        value = "";
      }
      if (!value) {
        problems.push(`${target.name} missing`);
        continue;
      }
      const invalid = target.validate?.(value);
      if (invalid) problems.push(`${target.name} ${invalid}`);
    }
    if (problems.length > 0) throw new Error(problems.join("; "));
  };
}
