/**
 * The session stage of the admission pipeline: the app session is the authority on every
 * function, not only on a few.
 *
 * For every signed-in call it looks at two things, each cached per instance for
 * SESSION_STATUS_CACHE_SECONDS (the documented bound, default 30 s):
 *
 * - the user's revocation state from the Auth Admin API (`tokensValidAfterTime`, `disabled`,
 *   deleted, and the `mfaEnrolled` claim MFA keeps in step): a password change,
 *   `revokeRefreshTokens`, disabling or deleting the account ends every token and every session
 *   started from a sign-in before it;
 * - the session named by the token's `sid` claim, one Firestore read on a miss: a revoked,
 *   idle-expired or absolutely-expired session is refused however fresh the ID token is (the
 *   Firebase SDK refreshes ID tokens on its own, so token freshness proves nothing).
 *
 * A warm call costs no Firestore read and no Auth call; a cold one at most one read of
 * `sessions/{sid}` plus one `getUser`. The instance that revokes something forgets its own
 * entries at once; other instances refuse within the bound.
 *
 * A token without `sid` (a plain Firebase sign-in) is accepted only where a session is not
 * needed: never when SESSION_REQUIRED is on, and never for a user who enrolled MFA (who must
 * act through an MFA-verified session), except on the functions marked `sessionless`
 * (session, MFA and whoami-like functions).
 */
import type { Auth, DecodedIdToken, UserRecord } from "firebase-admin/auth";
import type { Firestore } from "firebase-admin/firestore";
import { LRUCache } from "lru-cache";
import { adminAuth, rootFirestore } from "./admin";
import { intValue, params } from "./config";
import { AppError, failedPrecondition } from "./errors";

/** What the guard needs of a session document. Times in epoch ms. */
export interface SessionFacts {
  uid: string;
  active: boolean;
  mfa: boolean;
  expiresAt: number;
  idleExpiresAt: number;
  /** `auth_time` (ms) of the primary sign-in the session was started from. */
  authTime: number;
  /** Last proof of presence: the primary sign-in, or the latest second-factor verification. */
  authAt: number;
}

/** What the guard needs of the Auth user record. */
export interface UserFacts {
  exists: boolean;
  disabled: boolean;
  /** `tokensValidAfterTime` in epoch ms (0 when never revoked). */
  validSince: number;
  mfaEnrolled: boolean;
  /** The `platformAdmin` claim as stored now (a token may still carry one that was removed). */
  platformAdmin: boolean;
}

/** What admission learned about the caller's session; later stages and handlers read it. */
export interface SessionVerdict {
  sid?: string;
  /** True when the caller acts through a session verified with a second factor. */
  mfa: boolean;
  mfaEnrolled: boolean;
  platformAdmin: boolean;
  /** Last proof of presence (epoch ms): the session's sign-in or second factor, else the token's auth_time. */
  authAt: number;
}

/** The parts of a function's spec the session stage looks at. */
export interface SessionRequirements {
  /** Answers callers without a session (session, MFA and whoami-like functions). */
  sessionless?: boolean;
}

export interface SessionPolicyParams {
  sessionRequired: boolean;
  recentSignInMs: number;
}

interface GuardOptions {
  /** Epoch ms clock (tests). */
  now?: () => number;
  ttlMs?: number;
  firestore?: Firestore;
  auth?: Auth;
  policy?: SessionPolicyParams;
}

let options: GuardOptions = {};
let sessions: LRUCache<string, SessionFacts> | undefined;
let users: LRUCache<string, UserFacts> | undefined;

/** Replaces the clock, cache TTL, clients or policy, and empties the caches (tests, bench). */
export function configureSessionGuard(next: GuardOptions = {}): void {
  options = next;
  sessions = undefined;
  users = undefined;
}

function ttlMs(): number {
  return options.ttlMs ?? intValue(params.sessionStatusCacheSeconds) * 1000;
}

function makeCache<V extends object>(): LRUCache<string, V> | undefined {
  const ttl = ttlMs();
  if (ttl <= 0) return undefined;
  const now = options.now;
  // ttlResolution 0 with an injected clock: lru-cache otherwise memoises "now" for 1 ms; it also
  // takes a start time of 0 to mean "no TTL", hence the shift by 1.
  return new LRUCache<string, V>({
    max: 10_000,
    ttl,
    ...(now ? { perf: { now: () => 1 + now() }, ttlResolution: 0 } : {}),
  });
}

function sessionCache(): LRUCache<string, SessionFacts> | undefined {
  return (sessions ??= makeCache<SessionFacts>());
}

function userCache(): LRUCache<string, UserFacts> | undefined {
  return (users ??= makeCache<UserFacts>());
}

/** Drops the cached status of a session (called by the instance that revokes or changes it). */
export function forgetSessionStatus(sid: string): void {
  sessions?.delete(sid);
}

/** Drops the cached Auth state of a user (called after this instance revokes or changes it). */
export function forgetUserState(uid: string): void {
  users?.delete(uid);
}

export function policyParams(): SessionPolicyParams {
  return (
    options.policy ?? {
      sessionRequired: params.sessionRequired.value(),
      recentSignInMs: intValue(params.recentSignInSeconds) * 1000,
    }
  );
}

const millis = (v: unknown): number =>
  typeof (v as { toMillis?: unknown })?.toMillis === "function" ? (v as { toMillis(): number }).toMillis() : 0;

/** Reads a session document into the facts the guard needs (null when there is none). */
export function sessionFacts(d: FirebaseFirestore.DocumentData | undefined): SessionFacts | null {
  if (!d) return null;
  const createdAt = millis(d.createdAt);
  const authTime = millis(d.authTime) || createdAt;
  return {
    uid: String(d.uid),
    active: d.status === "active",
    mfa: d.mfa === true,
    expiresAt: millis(d.expiresAt),
    idleExpiresAt: millis(d.idleExpiresAt),
    authTime,
    authAt: Math.max(authTime, millis(d.mfaAt)),
  };
}

/** The user-record facts the guard needs. */
export function userFacts(user: UserRecord | null): UserFacts {
  if (!user) return { exists: false, disabled: true, validSince: 0, mfaEnrolled: false, platformAdmin: false };
  const validSince = user.tokensValidAfterTime ? Date.parse(user.tokensValidAfterTime) : 0;
  return {
    exists: true,
    disabled: user.disabled,
    validSince: Number.isFinite(validSince) ? validSince : 0,
    mfaEnrolled: user.customClaims?.mfaEnrolled === true,
    platformAdmin: user.customClaims?.platformAdmin === true,
  };
}

const SID = /^[0-9a-f]{32}$/;

async function loadSession(sid: string, claimsMfa = false): Promise<SessionFacts | null> {
  const store = sessionCache();
  const now = (options.now ?? Date.now)();
  const hit = store?.get(sid);
  // Re-read a cached idle expiry (a refresh elsewhere may have moved it) and a cached non-MFA
  // session whose token already says mfa (verifyMfa elsewhere upgraded it): never a stale "no".
  if (hit && !(hit.active && now >= hit.idleExpiresAt) && !(claimsMfa && !hit.mfa)) return hit;
  const snap = await (options.firestore ?? rootFirestore()).doc(`sessions/${sid}`).get();
  const facts = sessionFacts(snap.exists ? snap.data() : undefined);
  if (facts) store?.set(sid, facts);
  return facts;
}

/** The user's Auth state, cached per uid for the bound. */
export async function loadUser(uid: string): Promise<UserFacts> {
  const store = userCache();
  const hit = store?.get(uid);
  if (hit) return hit;
  let record: UserRecord | null;
  try {
    record = await (options.auth ?? adminAuth()).getUser(uid);
  } catch (error) {
    if ((error as { code?: string }).code !== "auth/user-not-found") throw error;
    record = null;
  }
  const facts = userFacts(record);
  store?.set(uid, facts);
  return facts;
}

/** True when session `sid` belongs to `uid` and is active at this moment (cached). */
export async function isSessionActive(sid: string, uid: string): Promise<boolean> {
  if (!SID.test(sid)) return false;
  const s = await loadSession(sid);
  return s !== null && sessionEnded(s, uid, (options.now ?? Date.now)()) === null;
}

function sessionEnded(s: SessionFacts, uid: string, now: number): string | null {
  if (s.uid !== uid || !s.active) return "session-revoked";
  if (now >= s.expiresAt) return "session-expired";
  if (now >= s.idleExpiresAt) return "session-idle-expired";
  return null;
}

const pick = (u: UserFacts) => ({ mfaEnrolled: u.mfaEnrolled, platformAdmin: u.platformAdmin });

const ended = (reason: string, message = "This session has ended. Sign in again.") =>
  new AppError("unauthenticated", message, { reason });

/**
 * The pure decision of the session stage: throws an `AppError` when the call must be refused,
 * otherwise returns the verdict. `session` is the document named by the token's `sid`
 * (undefined when the token has none, null when it names no session).
 */
export function decideSession(input: {
  uid: string;
  token: Pick<DecodedIdToken, "auth_time"> & { sid?: unknown };
  user: UserFacts;
  session: SessionFacts | null | undefined;
  spec: SessionRequirements;
  now: number;
  policy: SessionPolicyParams;
}): SessionVerdict {
  const { uid, token, user, session, spec, now, policy } = input;
  if (!user.exists) throw ended("user-deleted", "This account no longer exists.");
  if (user.disabled) throw ended("user-disabled", "This account is disabled.");
  // Firebase's own revocation rule (auth_time before tokensValidAfterTime), applied on every call.
  if (token.auth_time * 1000 < user.validSince)
    throw ended("tokens-revoked", "Your sign-in was revoked. Sign in again.");

  let verdict: SessionVerdict;
  if (token.sid !== undefined) {
    if (session === undefined || session === null) throw ended("session-revoked");
    const reason = sessionEnded(session, uid, now);
    if (reason) throw ended(reason);
    // A session started from a sign-in that was later revoked (password change…) ends with it.
    if (session.authTime < user.validSince) throw ended("tokens-revoked", "Your sign-in was revoked. Sign in again.");
    verdict = { sid: token.sid as string, mfa: session.mfa, ...pick(user), authAt: session.authAt };
  } else {
    verdict = { mfa: false, ...pick(user), authAt: token.auth_time * 1000 };
  }

  if (!spec.sessionless) {
    if (policy.sessionRequired && !verdict.sid) {
      throw failedPrecondition("Start a session first (startSession).", "session-required");
    }
    if (user.mfaEnrolled && !verdict.mfa) {
      throw failedPrecondition(
        "This account uses two-factor authentication: verify a code for this session.",
        "mfa-required",
      );
    }
  }
  return verdict;
}

/**
 * Sensitive functions (MFA changes, sign-out everywhere, policy changes, platform admin): the
 * last proof of presence must be younger than RECENT_SIGN_IN_SECONDS, so a stolen ID token or
 * session cannot enrol a second factor; a user with MFA must act through an MFA-verified session.
 */
export function decideSensitive(verdict: SessionVerdict, now: number, policy: SessionPolicyParams): void {
  if (now - verdict.authAt > policy.recentSignInMs) {
    throw failedPrecondition("This action needs a recent sign-in. Sign in again.", "recent-sign-in-required");
  }
  if (verdict.mfaEnrolled && !verdict.mfa) {
    throw failedPrecondition("This action needs a session verified with a second factor.", "mfa-required");
  }
}

/** Runs `decideSensitive` with the guard's clock and the deploy params. */
export function checkSensitive(verdict: SessionVerdict): void {
  decideSensitive(verdict, (options.now ?? Date.now)(), policyParams());
}

/** Runs the session stage for a signed-in caller: loads the (cached) facts and decides. */
export async function checkSession(
  uid: string,
  token: DecodedIdToken,
  spec: SessionRequirements,
): Promise<SessionVerdict> {
  const sid = token.sid;
  if (sid !== undefined && (typeof sid !== "string" || !SID.test(sid))) throw ended("session-revoked");
  const [user, session] = await Promise.all([
    loadUser(uid),
    sid === undefined ? undefined : loadSession(sid, token.mfa === true),
  ]);
  return decideSession({
    uid,
    token,
    user,
    session,
    spec,
    now: (options.now ?? Date.now)(),
    policy: policyParams(),
  });
}

/**
 * Enforces the tenant's MFA policy: a member holding one of `mfaRequiredRoles`, directly or
 * through inheritance (`memberRoles` is the member's role closure), must call through an
 * MFA-verified session. The error tells the client what to do next: enrol
 * (`mfa-enrollment-required`) or verify a code for this session (`mfa-required`).
 */
export function checkTenantMfaPolicy(
  verdict: SessionVerdict,
  mfaRequiredRoles: readonly string[] | undefined,
  memberRoles: Iterable<string>,
): void {
  if (!mfaRequiredRoles?.length || verdict.mfa) return;
  if (![...memberRoles].some((role) => mfaRequiredRoles.includes(role))) return;
  if (verdict.mfaEnrolled) {
    throw failedPrecondition("This workspace requires a session verified with a second factor.", "mfa-required");
  }
  throw failedPrecondition(
    "This workspace requires two-factor authentication. Enrol to continue.",
    "mfa-enrollment-required",
  );
}
