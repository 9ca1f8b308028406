/**
 * Session checks in the admission pipeline.
 *
 * `checkSensitiveSession` (functions marked `sensitive`): the ID token must not have been
 * revoked, and the app session named in its `sid` claim (if any) must still be active. The
 * session's status is cached per instance for SESSION_STATUS_CACHE_SECONDS: a session revoked
 * on another instance is still accepted here for at most that long (the instance that revokes
 * forgets its own entry at once).
 *
 * `checkTenantMfaPolicy`: a tenant may require MFA for some roles (`tenants/{tid}.mfaRequiredRoles`).
 */
import type { Firestore } from "firebase-admin/firestore";
import { LRUCache } from "lru-cache";
import { adminAuth, rootFirestore } from "./admin";
import { intValue, params } from "./config";
import { AppError, failedPrecondition, unauthenticated } from "./errors";
import type { Principal } from "./pipeline";

interface CachedSession {
  uid: string;
  active: boolean;
  expiresAt: number;
  idleExpiresAt: number;
}

interface GuardOptions {
  /** Epoch ms clock (tests). */
  now?: () => number;
  ttlMs?: number;
  firestore?: Firestore;
}

let options: GuardOptions = {};
let cache: LRUCache<string, CachedSession> | undefined;

/** Replaces the clock, cache TTL or Firestore client, and empties the cache (tests). */
export function configureSessionGuard(next: GuardOptions = {}): void {
  options = next;
  cache = undefined;
}

function statusCache(): LRUCache<string, CachedSession> | undefined {
  const ttlMs = options.ttlMs ?? intValue(params.sessionStatusCacheSeconds) * 1000;
  if (ttlMs <= 0) return undefined;
  const now = options.now;
  // ttlResolution 0 with an injected clock: lru-cache otherwise memoises "now" for 1 ms.
  cache ??= new LRUCache<string, CachedSession>({
    max: 10_000,
    ttl: ttlMs,
    ...(now ? { perf: { now }, ttlResolution: 0 } : {}),
  });
  return cache;
}

/** Drops the cached status of a session (called by the instance that revokes or changes it). */
export function forgetSessionStatus(sid: string): void {
  cache?.delete(sid);
}

const millis = (v: unknown): number =>
  typeof (v as { toMillis?: unknown })?.toMillis === "function" ? (v as { toMillis(): number }).toMillis() : 0;

async function loadSession(sid: string): Promise<CachedSession | null> {
  const snap = await (options.firestore ?? rootFirestore()).doc(`sessions/${sid}`).get();
  if (!snap.exists) return null;
  const d = snap.data() ?? {};
  return {
    uid: String(d.uid),
    active: d.status === "active",
    expiresAt: millis(d.expiresAt),
    idleExpiresAt: millis(d.idleExpiresAt),
  };
}

/** True when session `sid` belongs to `uid` and is active at this moment. */
export async function isSessionActive(sid: string, uid: string): Promise<boolean> {
  if (!/^[0-9a-f]{32}$/.test(sid)) return false;
  const now = (options.now ?? Date.now)();
  const live = (s: CachedSession) => s.active && s.uid === uid && now < s.expiresAt && now < s.idleExpiresAt;
  const store = statusCache();
  const hit = store?.get(sid);
  // A cached "active" answer is trusted for the TTL; a cached idle expiry is re-read, because a
  // refresh on another instance may have moved it.
  if (hit && (live(hit) || !hit.active)) return live(hit);
  const loaded = await loadSession(sid);
  if (!loaded) return false;
  store?.set(sid, loaded);
  return live(loaded);
}

/** Throws `unauthenticated` when the caller's token was revoked or their session ended. */
export async function checkSensitiveSession(principal: Principal): Promise<void> {
  if (!principal.rawToken) throw unauthenticated("A fresh ID token is required.");
  try {
    await adminAuth().verifyIdToken(principal.rawToken, true);
  } catch {
    throw unauthenticated("Your sign-in was revoked. Sign in again.");
  }
  const sid = principal.token.sid;
  if (sid === undefined) return;
  if (typeof sid !== "string" || !(await isSessionActive(sid, principal.uid))) {
    throw new AppError("unauthenticated", "This session has ended. Sign in again.", { reason: "session-inactive" });
  }
}

/**
 * Enforces the tenant's MFA policy: a member holding one of `mfaRequiredRoles` must call with a
 * session verified by a second factor. The error tells the client what to do next: enrol
 * (`mfa-enrollment-required`) or verify a code for this session (`mfa-required`). The
 * enrolment lookup happens only on that failure path.
 */
export async function checkTenantMfaPolicy(
  principal: Principal,
  mfaRequiredRoles: readonly string[] | undefined,
  memberRoles: readonly string[],
): Promise<void> {
  if (!mfaRequiredRoles?.length || principal.token.mfa === true) return;
  if (!memberRoles.some((role) => mfaRequiredRoles.includes(role))) return;
  const snap = await (options.firestore ?? rootFirestore()).doc(`users/${principal.uid}/private/mfa`).get();
  if (snap.exists && snap.get("status") === "enabled") {
    throw failedPrecondition("This workspace requires a session verified with a second factor.", "mfa-required");
  }
  throw failedPrecondition(
    "This workspace requires two-factor authentication. Enrol to continue.",
    "mfa-enrollment-required",
  );
}
