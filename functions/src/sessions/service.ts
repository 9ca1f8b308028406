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
import { forgetSessionStatus } from "../platform/session-guard";
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
  /** Exchange with `signInWithCustomToken` for an ID token carrying tid, roles, sid, mfa. */
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
 * Signs the Firebase custom token for a session. `tid` and `roles` come from the user's current
 * custom claims (kept in step with memberships by the tenancy module), so a refresh never
 * resurrects a role the user lost; `sid` and `mfa` come from the session.
 */
async function mintCustomToken(auth: Auth, uid: string, sid: string, mfa: boolean): Promise<string> {
  const user = await auth.getUser(uid);
  if (user.disabled) throw new AppError("unauthenticated", "This account is disabled.", { reason: "user-disabled" });
  const custom = user.customClaims ?? {};
  const claims: Record<string, unknown> = { sid, mfa };
  if (typeof custom.tid === "string") claims.tid = custom.tid;
  if (Array.isArray(custom.roles)) claims.roles = custom.roles;
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
 * Starts a new family for `uid`. The caller has already proven identity (ID token) and, when
 * MFA is enrolled, a second factor (`mfa: true`).
 */
export async function startSession(
  args: { uid: string; tid: string | null; mfa: boolean; label: string },
  deps: SessionDeps = {},
): Promise<IssuedSession> {
  const { db, auth, now, policy } = resolve(deps);
  const sid = randomBytes(16).toString("hex");
  const seed = randomBytes(32).toString("base64url");
  const { keyId, key } = deriveKey(TOKEN_KEY_PURPOSE, { keyring: deps.keyring });
  const token = deriveRefreshToken(key, sid, 0, seed);
  const state = newSession({ ...args, seed, keyId, firstTokenHash: hashToken(token), now: now(), policy });
  // Mint first: a disabled user gets no session document at all.
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
 * - the previous token after the grace interval, or any older genuine token → the family is
 *   revoked, the user's Firebase refresh tokens are revoked, and the call fails with
 *   `unauthenticated` / reason `refresh-token-reused`.
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
    // Whoever holds the newer token may be the thief: kill every Firebase session of the user too.
    await auth.revokeRefreshTokens(outcome.state.uid);
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
      "This refresh token was already used. The session has been signed out everywhere for your safety.",
      { reason: "refresh-token-reused" },
    );
  }
  let customToken: string;
  try {
    customToken = await mintCustomToken(auth, outcome.state.uid, familyId, outcome.state.mfa);
  } catch (error) {
    if (error instanceof AppError && error.details.reason === "user-disabled") {
      await revokeSession(outcome.state.uid, familyId, "user-disabled", deps);
    }
    throw error;
  }
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
 * like an unknown one. Firebase ID tokens already minted for it live on until they expire
 * (≤ 1 h) for ordinary functions; sensitive functions refuse them at once.
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
 * refresh tokens (which ends ID-token based access within the hour, and at once for sensitive
 * functions).
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
  metrics.inc("sessions_revoked_total", { reason }, snap.size);
  log.info("all sessions revoked", { count: snap.size, revocation: reason });
  return { revoked: snap.size };
}
