/**
 * The refresh-token family as a pure state machine: what a presented token means for a session
 * (rotate, grace, reuse, reject) and what the session looks like afterwards. No I/O here; the
 * service runs these decisions inside one Firestore transaction.
 *
 * Refresh tokens are `<familyId>.<generation>.<mac>`, where mac = HMAC-SHA256 under a key
 * derived from DATA_ENCRYPTION_KEY over (family, generation, the family's random seed): 256
 * pseudo-random bits no one can compute without the server key. Only SHA-256 hashes of the
 * current and previous token are stored, never a token, not even encrypted.
 *
 * Why derive instead of drawing each token at random: the grace rule must hand a second tab the
 * successor that was already issued, and the reuse rule must recognise any older token of the
 * family as genuine (so a forged token cannot revoke someone's sessions). Deriving the token
 * from (server key, seed, generation) lets the server recompute both without storing a token.
 * The cost: someone holding both the database and the key could compute live tokens; that
 * attacker could decrypt every TOTP seed as well, so storing the successor encrypted would
 * protect nothing more.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { hmac } from "../platform/crypto";

export type SessionStatus = "active" | "revoked";

/** A session document, with times in epoch milliseconds. */
export interface SessionState {
  uid: string;
  /** The active tenant when the session last minted a token. */
  tid: string | null;
  /** True once the session was verified with a second factor. */
  mfa: boolean;
  /** Device or user-agent label chosen by the client. */
  label: string;
  generation: number;
  tokenHash: string;
  prevTokenHash: string | null;
  /** When the current token replaced the previous one. */
  rotatedAt: number | null;
  /** Random per-family seed of the token derivation (useless without the server key). */
  seed: string;
  /** The keyring key the tokens are derived with (survives key rotation). */
  keyId: string;
  createdAt: number;
  /** `auth_time` of the primary sign-in the session was started from: a revocation after it ends the session. */
  authTime: number;
  lastUsedAt: number;
  /** Absolute expiry: fixed at creation, never extended. */
  expiresAt: number;
  /** Idle expiry: moves with each refresh, never beyond `expiresAt`. */
  idleExpiresAt: number;
  status: SessionStatus;
  revokedAt: number | null;
  revokedReason: string | null;
}

export interface SessionPolicy {
  absoluteTtlMs: number;
  idleTtlMs: number;
  graceMs: number;
}

const FAMILY_ID = /^[0-9a-f]{32}$/;
const TOKEN = /^([0-9a-f]{32})\.(0|[1-9]\d{0,8})\.([A-Za-z0-9_-]{43})$/;

/** True for a well-formed family (session) id. */
export function isFamilyId(value: unknown): value is string {
  return typeof value === "string" && FAMILY_ID.test(value);
}

/** The refresh token of `generation` in a family. */
export function deriveRefreshToken(key: Buffer, familyId: string, generation: number, seed: string): string {
  return `${familyId}.${generation}.${hmac(key, `refresh-token|${familyId}|${generation}|${seed}`)}`;
}

/** Splits a presented token, or null when it is not one of ours in shape. */
export function parseRefreshToken(token: string): { familyId: string; generation: number } | null {
  const match = typeof token === "string" ? TOKEN.exec(token) : null;
  return match ? { familyId: match[1], generation: Number(match[2]) } : null;
}

/** SHA-256 of a refresh token, base64url: what the session stores. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("base64url");
}

function sameHash(a: string | null, b: string): boolean {
  if (a === null || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** A new family at generation 0. */
export function newSession(args: {
  uid: string;
  tid: string | null;
  mfa: boolean;
  label: string;
  seed: string;
  keyId: string;
  firstTokenHash: string;
  authTime: number;
  now: number;
  policy: Pick<SessionPolicy, "absoluteTtlMs" | "idleTtlMs">;
}): SessionState {
  const expiresAt = args.now + args.policy.absoluteTtlMs;
  return {
    uid: args.uid,
    tid: args.tid,
    mfa: args.mfa,
    label: args.label,
    generation: 0,
    tokenHash: args.firstTokenHash,
    prevTokenHash: null,
    rotatedAt: null,
    seed: args.seed,
    keyId: args.keyId,
    createdAt: args.now,
    authTime: args.authTime,
    lastUsedAt: args.now,
    expiresAt,
    idleExpiresAt: Math.min(args.now + args.policy.idleTtlMs, expiresAt),
    status: "active",
    revokedAt: null,
    revokedReason: null,
  };
}

export type InactiveReason = "session-revoked" | "session-expired" | "session-idle-expired";

/** Why a session can no longer be used at `now`, or null while it is active. */
export function inactiveReason(session: SessionState, now: number): InactiveReason | null {
  if (session.status !== "active") return "session-revoked";
  if (now >= session.expiresAt) return "session-expired";
  if (now >= session.idleExpiresAt) return "session-idle-expired";
  return null;
}

export type RefreshDecision =
  /** The current token: mint generation `generation`. */
  | { kind: "rotate"; generation: number }
  /** The previous token inside the grace interval: hand out the existing `generation` again. */
  | { kind: "grace"; generation: number }
  /** A genuine token that was already rotated away: the family is compromised. */
  | { kind: "reuse"; reason: "previous-after-grace" | "older-token"; presentedGeneration: number }
  | { kind: "reject"; reason: InactiveReason | "invalid-refresh-token" };

/**
 * Classifies a presented token against the session. `isGenuine` recomputes the token of a
 * given generation and compares it (only consulted for tokens older than the previous one).
 */
export function decideRefresh(
  session: SessionState,
  presented: { generation: number; hash: string; isGenuine: () => boolean },
  now: number,
  policy: Pick<SessionPolicy, "graceMs">,
): RefreshDecision {
  const inactive = inactiveReason(session, now);
  if (inactive) return { kind: "reject", reason: inactive };
  if (presented.generation === session.generation && sameHash(session.tokenHash, presented.hash)) {
    return { kind: "rotate", generation: session.generation + 1 };
  }
  if (presented.generation === session.generation - 1 && sameHash(session.prevTokenHash, presented.hash)) {
    const age = now - (session.rotatedAt ?? 0);
    // `age >= 0` keeps a skewed clock from stretching the window backwards.
    return age >= 0 && age <= policy.graceMs
      ? { kind: "grace", generation: session.generation }
      : { kind: "reuse", reason: "previous-after-grace", presentedGeneration: presented.generation };
  }
  if (presented.generation < session.generation - 1 && presented.isGenuine()) {
    return { kind: "reuse", reason: "older-token", presentedGeneration: presented.generation };
  }
  return { kind: "reject", reason: "invalid-refresh-token" };
}

/** The session after rotating to `nextTokenHash` at `now`. */
export function rotate(
  session: SessionState,
  nextTokenHash: string,
  now: number,
  policy: Pick<SessionPolicy, "idleTtlMs">,
): SessionState {
  return {
    ...session,
    generation: session.generation + 1,
    prevTokenHash: session.tokenHash,
    tokenHash: nextTokenHash,
    rotatedAt: now,
    lastUsedAt: now,
    idleExpiresAt: Math.min(now + policy.idleTtlMs, session.expiresAt),
  };
}

/** The session after revocation (idempotent: the first reason and time are kept). */
export function revoke(session: SessionState, reason: string, now: number): SessionState {
  if (session.status === "revoked") return session;
  return { ...session, status: "revoked", revokedAt: now, revokedReason: reason };
}
