/**
 * Session families on Firestore: start, refresh (rotation with reuse detection), upgrade to
 * MFA, list and revoke. Each refresh is one transaction with one read and at most one write of
 * `sessions/{familyId}`; the custom token is signed after it commits.
 *
 * Sessions are per user, not tenant data, so this module addresses the root collection
 * `sessions` directly (the lint override for src/sessions says so).
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Auth } from "firebase-admin/auth";
import type { DocumentData, Firestore } from "firebase-admin/firestore";
import { Timestamp, isTimestamp } from "../platform/firestore-sdk";
import { adminAuth, rootFirestore } from "../platform/admin";
import { intValue, params } from "../platform/config";
import { deriveKey, type Keyring } from "../platform/crypto";
import { AppError, notFound, unauthenticated } from "../platform/errors";
import { log } from "../platform/logger";
import { metrics } from "../platform/metrics";
import { forgetSessionStatus, forgetUserState, userFacts } from "../platform/session-guard";
import {
  decideRefresh,
  deriveRefreshToken,
  hashToken,
  inactiveReason,
  isFamilyId,
  newSession,
  parseRefreshToken,
  revoke,
  rotate,
  type SessionPolicy,
  type SessionState,
} from "./model";

/** Purpose string of the HKDF subkey refresh tokens are derived with. */
const TOKEN_KEY_PURPOSE = "session-refresh-token";
/** Firebase refuses developer claims over 1,000 bytes; we stay well below. */
const MAX_CLAIMS_BYTES = 1000;
/** Sessions are deleted by the TTL policy this long after their absolute expiry (audit trail). */
const RETENTION_MS = 30 * 86_400_000;

export interface SessionDeps {
  firestore?: Firestore;
  auth?: Auth;
  /** Epoch ms clock (tests inject one). */
  now?: () => number;
  policy?: SessionPolicy;
  keyring?: Keyring;
}

/** What a client receives when a session starts or refreshes. */
export interface IssuedSession {
  sessionId: string;
  refreshToken: string;
  /**
   * Exchange with `signInWithCustomToken` for an ID token carrying `sid` and `mfa`; `tid` and
   * `roles` in that token come from the user's stored claims, which follow membership.
   */
  customToken: string;
  mfa: boolean;
  /** ISO times: the absolute and the current idle expiry. */
  expiresAt: string;
  idleExpiresAt: string;
}

/** The session policy from the deploy params. */
export function sessionPolicy(): SessionPolicy {
  return {
    absoluteTtlMs: intValue(params.sessionAbsoluteTtlSeconds) * 1000,
    idleTtlMs: intValue(params.sessionIdleTtlSeconds) * 1000,
    graceMs: intValue(params.sessionReuseGraceSeconds) * 1000,
  };
}

function resolve(deps: SessionDeps) {
  return {
    db: deps.firestore ?? rootFirestore(),
    auth: deps.auth ?? adminAuth(),
    now: deps.now ?? Date.now,
    policy: deps.policy ?? sessionPolicy(),
  };
}

const ts = (ms: number | null): Timestamp | null => (ms === null ? null : Timestamp.fromMillis(ms));
const ms = (value: unknown): number | null => (isTimestamp(value) ? value.toMillis() : null);

/** The Firestore form of a session (Timestamps, plus the TTL field `deleteAt`). */
export function toDoc(s: SessionState): DocumentData {
  return {
    ...s,
    rotatedAt: ts(s.rotatedAt),
    createdAt: ts(s.createdAt),
    authTime: ts(s.authTime),
    lastUsedAt: ts(s.lastUsedAt),
    expiresAt: ts(s.expiresAt),
    idleExpiresAt: ts(s.idleExpiresAt),
    revokedAt: ts(s.revokedAt),
    deleteAt: ts(s.expiresAt + RETENTION_MS),
  };
}

/** Reads a session document back into its state. */
export function fromDoc(d: DocumentData): SessionState {
  return {
    uid: String(d.uid),
    tid: typeof d.tid === "string" ? d.tid : null,
    mfa: d.mfa === true,
    label: String(d.label ?? ""),
    generation: Number(d.generation),
    tokenHash: String(d.tokenHash),
    prevTokenHash: typeof d.prevTokenHash === "string" ? d.prevTokenHash : null,
    rotatedAt: ms(d.rotatedAt),
    seed: String(d.seed),
    keyId: String(d.keyId),
    createdAt: ms(d.createdAt) ?? 0,
    authTime: ms(d.authTime) ?? ms(d.createdAt) ?? 0,
    lastUsedAt: ms(d.lastUsedAt) ?? 0,
    expiresAt: ms(d.expiresAt) ?? 0,
    idleExpiresAt: ms(d.idleExpiresAt) ?? 0,
    status: d.status === "active" ? "active" : "revoked",
    revokedAt: ms(d.revokedAt),
    revokedReason: typeof d.revokedReason === "string" ? d.revokedReason : null,
  };
}

const sessionRef = (db: Firestore, id: string) => db.doc(`sessions/${id}`);

// Updates name only the fields a transition changes, so fields other code adds (e.g. `mfaAt`)
// survive, and the write stays small.
function rotationFields(s: SessionState): DocumentData {
  return {
    generation: s.generation,
    tokenHash: s.tokenHash,
    prevTokenHash: s.prevTokenHash,
    rotatedAt: ts(s.rotatedAt),
    lastUsedAt: ts(s.lastUsedAt),
    idleExpiresAt: ts(s.idleExpiresAt),
  };
}

function revocationFields(s: SessionState): DocumentData {
  return { status: s.status, revokedAt: ts(s.revokedAt), revokedReason: s.revokedReason };
}

/**
 * Throws `unauthenticated` when the user is gone, disabled, or revoked their tokens (password
 * change, `revokeRefreshTokens`) after `authTime`, the sign-in the session was started from.
 */
async function assertUserMayContinue(auth: Auth, uid: string, authTime: number): Promise<void> {
  let record = null;
  try {
    record = await auth.getUser(uid);
  } catch (error) {
    if ((error as { code?: string }).code !== "auth/user-not-found") throw error;
  }
  const user = userFacts(record);
  if (!user.exists) throw new AppError("unauthenticated", "This account no longer exists.", { reason: "user-deleted" });
  if (user.disabled) throw new AppError("unauthenticated", "This account is disabled.", { reason: "user-disabled" });
  if (authTime < user.validSince) {
    throw new AppError("unauthenticated", "Your sign-in was revoked. Sign in again.", { reason: "tokens-revoked" });
  }
}

/**
 * Signs the Firebase custom token for a session. It carries only what is bound to the session,
 * `sid` and `mfa`: custom-token claims override stored claims on every Firebase refresh, so a
 * `tid`/`roles` minted here would outlive a removal or demotion. The ID token's `tid`/`roles`
 * come from the stored claims, which the tenancy module keeps in step with membership.
 */
async function mintCustomToken(auth: Auth, uid: string, sid: string, mfa: boolean): Promise<string> {
  const claims = { sid, mfa };
  if (Buffer.byteLength(JSON.stringify(claims)) > MAX_CLAIMS_BYTES) {
    throw new Error(`session claims exceed ${MAX_CLAIMS_BYTES} bytes`);
  }
  return auth.createCustomToken(uid, claims);
}

function issued(sid: string, token: string, customToken: string, s: SessionState): IssuedSession {
  return {
    sessionId: sid,
    refreshToken: token,
    customToken,
    mfa: s.mfa,
    expiresAt: new Date(s.expiresAt).toISOString(),
    idleExpiresAt: new Date(s.idleExpiresAt).toISOString(),
  };
}

/**
 * Starts a new family for `uid`. The caller has already proven identity with a primary sign-in
 * at `authTime` (epoch ms) and, when MFA is enrolled, a second factor (`mfa: true`).
 */
export async function startSession(
  args: { uid: string; tid: string | null; mfa: boolean; label: string; authTime: number },
  deps: SessionDeps = {},
): Promise<IssuedSession> {
  const { db, auth, now, policy } = resolve(deps);
  // Checked first: a disabled or revoked user gets no session document at all.
  await assertUserMayContinue(auth, args.uid, args.authTime);
  const sid = randomBytes(16).toString("hex");
  const seed = randomBytes(32).toString("base64url");
  const { keyId, key } = deriveKey(TOKEN_KEY_PURPOSE, { keyring: deps.keyring });
  const token = deriveRefreshToken(key, sid, 0, seed);
  const state = newSession({ ...args, seed, keyId, firstTokenHash: hashToken(token), now: now(), policy });
  const customToken = await mintCustomToken(auth, args.uid, sid, args.mfa);
  await sessionRef(db, sid).create(toDoc(state));
  metrics.inc("sessions_started_total", { mfa: String(args.mfa) });
  log.info("session started", { sessionId: sid, mfa: args.mfa });
  return issued(sid, token, customToken, state);
}

type RefreshOutcome =
  | { kind: "issue"; state: SessionState; token: string; rotated: boolean }
  | { kind: "reuse"; state: SessionState; reason: string; presentedGeneration: number }
  | { kind: "reject"; reason: string };

const REJECT_MESSAGES: Record<string, string> = {
  "invalid-refresh-token": "The refresh token is not valid. Sign in again.",
  "session-revoked": "This session was signed out. Sign in again.",
  "session-expired": "This session has expired. Sign in again.",
  "session-idle-expired": "This session expired after a period of inactivity. Sign in again.",
};

/**
 * Exchanges a refresh token for its successor and a fresh custom token.
 *
 * - current token → rotate (one read, one write, in one transaction);
 * - previous token within the grace interval → the successor already issued (no write), so
 *   concurrent refreshes from two tabs agree on one successor;
 * - the previous token after the grace interval, or any older genuine token → every session of
 *   the user is revoked and so are their Firebase refresh tokens (whoever holds the newer token
 *   may be the thief), and the call fails with `unauthenticated` / reason `refresh-token-reused`;
 * - a user who is gone, disabled, or revoked their tokens after the session's sign-in → the
 *   session is revoked and the call fails with `unauthenticated`.
 */
export async function refreshSession(refreshToken: string, deps: SessionDeps = {}): Promise<IssuedSession> {
  const { db, auth, now, policy } = resolve(deps);
  const parsed = parseRefreshToken(refreshToken);
  if (!parsed) {
    metrics.inc("session_refresh_rejected_total", { reason: "invalid-refresh-token" });
    throw new AppError("unauthenticated", REJECT_MESSAGES["invalid-refresh-token"], {
      reason: "invalid-refresh-token",
    });
  }
  const { familyId } = parsed;
  const ref = sessionRef(db, familyId);
  const presentedHash = hashToken(refreshToken);

  const outcome = await db.runTransaction<RefreshOutcome>(async (tx) => {
    const snap = await tx.get(ref);
    if (!snap.exists) return { kind: "reject", reason: "invalid-refresh-token" };
    const session = fromDoc(snap.data() as DocumentData);
    let key: Buffer;
    try {
      key = deriveKey(TOKEN_KEY_PURPOSE, { keyId: session.keyId, keyring: deps.keyring }).key;
    } catch {
      // The key this family was made with has been retired: the family cannot continue.
      return { kind: "reject", reason: "invalid-refresh-token" };
    }
    const at = now();
    const decision = decideRefresh(
      session,
      {
        generation: parsed.generation,
        hash: presentedHash,
        isGenuine: () => {
          const expected = Buffer.from(deriveRefreshToken(key, familyId, parsed.generation, session.seed));
          const given = Buffer.from(refreshToken);
          return expected.length === given.length && timingSafeEqual(expected, given);
        },
      },
      at,
      policy,
    );
    switch (decision.kind) {
      case "rotate": {
        const token = deriveRefreshToken(key, familyId, decision.generation, session.seed);
        const next = rotate(session, hashToken(token), at, policy);
        tx.update(ref, rotationFields(next));
        return { kind: "issue", state: next, token, rotated: true };
      }
      case "grace":
        return {
          kind: "issue",
          state: session,
          token: deriveRefreshToken(key, familyId, decision.generation, session.seed),
          rotated: false,
        };
      case "reuse":
        tx.update(ref, revocationFields(revoke(session, "refresh-token-reused", at)));
        return {
          kind: "reuse",
          state: session,
          reason: decision.reason,
          presentedGeneration: decision.presentedGeneration,
        };
      case "reject":
        return { kind: "reject", reason: decision.reason };
    }
  });

  if (outcome.kind === "reject") {
    metrics.inc("session_refresh_rejected_total", { reason: outcome.reason });
    throw new AppError("unauthenticated", REJECT_MESSAGES[outcome.reason], { reason: outcome.reason });
  }
  if (outcome.kind === "reuse") {
    forgetSessionStatus(familyId);
    // Whoever holds the newer token may be the thief: end every session of the user, Firebase's too.
    await revokeAllSessions(outcome.state.uid, "refresh-token-reused", deps);
    metrics.inc("session_reuse_detected_total", { reason: outcome.reason });
    log.security("refresh-token-reused", {
      sessionId: familyId,
      uid: outcome.state.uid,
      detection: outcome.reason,
      presentedGeneration: outcome.presentedGeneration,
      currentGeneration: outcome.state.generation,
    });
    throw new AppError(
      "unauthenticated",
      "This refresh token was already used, so for your safety every session of this account was signed out, on every device.",
      { reason: "refresh-token-reused" },
    );
  }
  try {
    await assertUserMayContinue(auth, outcome.state.uid, outcome.state.authTime);
  } catch (error) {
    if (error instanceof AppError && typeof error.details.reason === "string") {
      await revokeSession(outcome.state.uid, familyId, error.details.reason, deps);
      metrics.inc("session_refresh_rejected_total", { reason: error.details.reason });
    }
    throw error;
  }
  const customToken = await mintCustomToken(auth, outcome.state.uid, familyId, outcome.state.mfa);
  metrics.inc("session_rotations_total", { outcome: outcome.rotated ? "rotated" : "grace" });
  return issued(familyId, outcome.token, customToken, outcome.state);
}

/**
 * Marks the caller's session as verified with a second factor and returns a custom token with
 * `mfa: true`. The refresh token is unchanged; later refreshes keep the MFA level.
 */
export async function upgradeSessionMfa(
  uid: string,
  sid: string,
  deps: SessionDeps = {},
): Promise<{ customToken: string; mfa: true }> {
  const { db, auth, now } = resolve(deps);
  if (!isFamilyId(sid)) throw unauthenticated("Start a session first.");
  const ref = sessionRef(db, sid);
  await db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    const session = snap.exists ? fromDoc(snap.data() as DocumentData) : null;
    if (!session || session.uid !== uid) throw notFound("Session not found.");
    const inactive = inactiveReason(session, now());
    if (inactive) throw new AppError("unauthenticated", REJECT_MESSAGES[inactive], { reason: inactive });
    if (!session.mfa) tx.update(ref, { mfa: true, mfaAt: Timestamp.fromMillis(now()) });
  });
  forgetSessionStatus(sid);
  return { customToken: await mintCustomToken(auth, uid, sid, true), mfa: true };
}

/** One session as the owner sees it (no hashes, no seed). */
export interface SessionSummary {
  sessionId: string;
  label: string;
  mfa: boolean;
  tid: string | null;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  idleExpiresAt: string;
  current: boolean;
}

/** The user's active sessions, most recently used first (at most 100). */
export async function listSessions(
  uid: string,
  currentSid: string | undefined,
  deps: SessionDeps = {},
): Promise<SessionSummary[]> {
  const { db, now } = resolve(deps);
  const snap = await db.collection("sessions").where("uid", "==", uid).where("status", "==", "active").limit(100).get();
  const at = now();
  return snap.docs
    .map((d) => ({ id: d.id, s: fromDoc(d.data()) }))
    .filter(({ s }) => inactiveReason(s, at) === null)
    .sort((a, b) => b.s.lastUsedAt - a.s.lastUsedAt)
    .map(({ id, s }) => ({
      sessionId: id,
      label: s.label,
      mfa: s.mfa,
      tid: s.tid,
      createdAt: new Date(s.createdAt).toISOString(),
      lastUsedAt: new Date(s.lastUsedAt).toISOString(),
      expiresAt: new Date(s.expiresAt).toISOString(),
      idleExpiresAt: new Date(s.idleExpiresAt).toISOString(),
      current: id === currentSid,
    }));
}

/**
 * Revokes one of the user's sessions. Another user's session id answers `not-found`, exactly
 * like an unknown one. ID tokens carrying its `sid` (including those the Firebase SDK keeps
 * refreshing) are refused by security rules at once and by every function within
 * SESSION_STATUS_CACHE_SECONDS (at once on this instance).
 */
export async function revokeSession(
  uid: string,
  sid: string,
  reason = "user",
  deps: SessionDeps = {},
): Promise<{ revoked: boolean }> {
  const { db, now } = resolve(deps);
  if (!isFamilyId(sid)) throw notFound("Session not found.");
  const ref = sessionRef(db, sid);
  const revoked = await db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    const session = snap.exists ? fromDoc(snap.data() as DocumentData) : null;
    if (!session || session.uid !== uid) throw notFound("Session not found.");
    if (session.status === "revoked") return false;
    tx.update(ref, revocationFields(revoke(session, reason, now())));
    return true;
  });
  forgetSessionStatus(sid);
  if (revoked) metrics.inc("sessions_revoked_total", { reason });
  return { revoked };
}

/**
 * Signs the user out everywhere: every active family is revoked and so are the user's Firebase
 * refresh tokens. Every function refuses all of the user's current ID tokens, with or without
 * a session, within SESSION_STATUS_CACHE_SECONDS (at once on this instance); security rules
 * refuse the session-bound ones at once and sessionless ones when they expire (≤ 1 h: rules
 * cannot see Auth's revocation time).
 */
export async function revokeAllSessions(
  uid: string,
  reason = "user",
  deps: SessionDeps = {},
): Promise<{ revoked: number }> {
  const { db, auth, now } = resolve(deps);
  const snap = await db.collection("sessions").where("uid", "==", uid).where("status", "==", "active").get();
  const at = now();
  // 500 writes per batch is Firestore's limit; a user rarely has more than a handful of sessions.
  for (let i = 0; i < snap.docs.length; i += 500) {
    const batch = db.batch();
    for (const doc of snap.docs.slice(i, i + 500)) {
      // Only the status fields, so a rotation committed meanwhile is not overwritten.
      batch.update(doc.ref, revocationFields(revoke(fromDoc(doc.data()), reason, at)));
      forgetSessionStatus(doc.id);
    }
    await batch.commit();
  }
  await auth.revokeRefreshTokens(uid);
  forgetUserState(uid);
  metrics.inc("sessions_revoked_total", { reason }, snap.size);
  log.info("all sessions revoked", { count: snap.size, revocation: reason });
  return { revoked: snap.size };
}
