/**
 * Dependency checks for the health endpoint. Each check reports status, latency and a short
 * reason; none of them returns configuration values or secrets.
 */
import { adminAuth, rootFirestore } from "../platform/admin";

export type CheckStatus = "ok" | "fail";

export interface CheckResult {
  name: string;
  status: CheckStatus;
  latencyMs: number;
  reason?: string;
}

export type Check = () => Promise<void>;

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
    // Only the error's first line: driver messages can be long, but carry no secrets.
    const reason = (error instanceof Error ? error.message : String(error)).split("\n")[0].slice(0, 200);
    return { name, status: "fail", latencyMs: Math.round(now() - started), reason };
  } finally {
    clearTimeout(timer);
  }
}

/** Firestore: a write and a read of one document under the reserved `_health` collection. */
export const firestoreRoundTrip: Check = async () => {
  const ref = rootFirestore().doc(`_health/${process.pid}`);
  const stamp = Date.now();
  await ref.set({ stamp });
  const snap = await ref.get();
  if (snap.get("stamp") !== stamp) throw new Error("read did not return the value written");
};

/** Auth: looking up a user that cannot exist proves the service answers. */
export const authReachable: Check = async () => {
  try {
    await adminAuth().getUser("health-check-nonexistent-user");
  } catch (error) {
    if ((error as { code?: string }).code === "auth/user-not-found") return;
    throw error;
  }
};
