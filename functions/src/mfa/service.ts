/**
 * TOTP second factor for a user, stored in `users/{uid}/private/mfa`:
 *
 *   status            "pending" (enrolment started) | "enabled"
 *   secret            AES-256-GCM ciphertext of the base32 seed (enabled)
 *   pendingSecret     ciphertext of the seed being enrolled (pending)
 *   lastStep          TOTP step of the last accepted code (replay protection)
 *   recoveryCodeHashes SHA-256 of each unused recovery code
 *   failures, lockedUntil  the attempt lockout (see lockout.ts)
 *
 * Every check runs in a transaction that reads the document once and writes the outcome (the
 * new lastStep, a consumed recovery code, or one more failure), so two concurrent uses of one
 * code cannot both pass. Errors are thrown only after the transaction commits, so a failure is
 * always counted.
 */
import type { Auth } from "firebase-admin/auth";
import type { DocumentData, Firestore } from "firebase-admin/firestore";
import { FieldValue, Timestamp } from "../platform/firestore-sdk";
import { adminAuth, rootFirestore } from "../platform/admin";
import { intValue, params } from "../platform/config";
import { decryptString, encrypt, type Keyring } from "../platform/crypto";
import { AppError, failedPrecondition } from "../platform/errors";
import { log } from "../platform/logger";
import { metrics } from "../platform/metrics";
import { forgetUserState } from "../platform/session-guard";
import { lockoutAt, recordFailure, recordSuccess, type AttemptState, type LockoutPolicy } from "./lockout";
import {
  findRecoveryCode,
  hashRecoveryCode,
  newRecoveryCodes,
  newTotpSecret,
  otpauthUri,
  qrCodeSvg,
  verifyTotp,
  type TotpCheck,
} from "./totp";

export interface MfaDeps {
  firestore?: Firestore;
  auth?: Auth;
  /** Epoch ms clock (tests). */
  now?: () => number;
  lockout?: LockoutPolicy;
  keyring?: Keyring;
  issuer?: string;
}

/** A second factor as presented by the user: a TOTP code or one recovery code. */
export type SecondFactor = { code: string } | { recoveryCode: string };

interface MfaState extends AttemptState {
  status: "none" | "pending" | "enabled";
  secret: string | null;
  pendingSecret: string | null;
  lastStep: number | null;
  recoveryCodeHashes: string[];
}

const EMPTY: MfaState = {
  status: "none",
  secret: null,
  pendingSecret: null,
  lastStep: null,
  recoveryCodeHashes: [],
  failures: [],
  lockedUntil: null,
};

/** The lockout policy from the deploy params. */
export function lockoutPolicy(): LockoutPolicy {
  return {
    maxFailures: intValue(params.mfaMaxFailedAttempts),
    windowMs: intValue(params.mfaLockoutWindowSeconds) * 1000,
  };
}

export const mfaPath = (uid: string) => `users/${uid}/private/mfa`;
// Associated data binds each ciphertext to its user: a seed copied into another user's
// document does not decrypt.
export const secretAad = (uid: string) => `${mfaPath(uid)}#secret`;

function fromDoc(d: DocumentData | undefined): MfaState {
  if (!d) return { ...EMPTY };
  return {
    status: d.status === "enabled" || d.status === "pending" ? d.status : "none",
    secret: typeof d.secret === "string" ? d.secret : null,
    pendingSecret: typeof d.pendingSecret === "string" ? d.pendingSecret : null,
    lastStep: typeof d.lastStep === "number" ? d.lastStep : null,
    recoveryCodeHashes: Array.isArray(d.recoveryCodeHashes) ? d.recoveryCodeHashes.map(String) : [],
    failures: Array.isArray(d.failures) ? d.failures.map(Number) : [],
    lockedUntil: typeof d.lockedUntil === "number" ? d.lockedUntil : null,
  };
}

function resolve(deps: MfaDeps) {
  return {
    db: deps.firestore ?? rootFirestore(),
    now: deps.now ?? Date.now,
    lockout: deps.lockout ?? lockoutPolicy(),
  };
}

/** Whether the user has a confirmed second factor. */
export async function isMfaEnrolled(uid: string, deps: MfaDeps = {}): Promise<boolean> {
  const snap = await resolve(deps).db.doc(mfaPath(uid)).get();
  return snap.exists && snap.get("status") === "enabled";
}

/**
 * Keeps the stored custom claim `mfaEnrolled` in step with the MFA document: the session guard
 * reads it from the Auth user record (cached with the revocation state), so knowing whether a
 * caller must use an MFA-verified session costs no Firestore read. Other claims are kept.
 */
export async function syncMfaClaim(uid: string, enrolled: boolean, deps: MfaDeps = {}): Promise<void> {
  const auth = deps.auth ?? adminAuth();
  const { mfaEnrolled: current, ...others } = (await auth.getUser(uid)).customClaims ?? {};
  if ((current === true) === enrolled) return;
  await auth.setCustomUserClaims(uid, enrolled ? { ...others, mfaEnrolled: true } : others);
  forgetUserState(uid);
}

/** What the user may see about their MFA set-up. */
export async function mfaStatus(
  uid: string,
  deps: MfaDeps = {},
): Promise<{ enrolled: boolean; pending: boolean; recoveryCodesRemaining: number; retryAfterSeconds: number | null }> {
  const { db, now } = resolve(deps);
  const state = fromDoc((await db.doc(mfaPath(uid)).get()).data());
  const lock = lockoutAt(state, now());
  return {
    enrolled: state.status === "enabled",
    pending: state.status === "pending",
    recoveryCodesRemaining: state.status === "enabled" ? state.recoveryCodeHashes.length : 0,
    retryAfterSeconds: lock.locked ? lock.retryAfterSeconds : null,
  };
}

/**
 * Starts (or restarts) enrolment: a new seed, stored encrypted as pending. Returns what the
 * authenticator app needs. A user who already has MFA must disable it first.
 */
export async function beginEnrolment(
  uid: string,
  account: string,
  deps: MfaDeps = {},
): Promise<{ otpauthUri: string; secret: string; qrCodeSvg: string }> {
  const { db, now } = resolve(deps);
  const secret = await newTotpSecret();
  const ciphertext = encrypt(secret, { aad: secretAad(uid), keyring: deps.keyring });
  await db.runTransaction(async (tx) => {
    const ref = db.doc(mfaPath(uid));
    const state = fromDoc((await tx.get(ref)).data());
    if (state.status === "enabled") {
      throw failedPrecondition("Two-factor authentication is already on. Disable it first.", "mfa-already-enrolled");
    }
    tx.set(
      ref,
      { status: "pending", pendingSecret: ciphertext, pendingCreatedAt: Timestamp.fromMillis(now()) },
      { merge: true },
    );
  });
  const uri = await otpauthUri({ issuer: deps.issuer ?? params.productName.value(), account, secret });
  return { otpauthUri: uri, secret, qrCodeSvg: await qrCodeSvg(uri) };
}

type Verdict<T> = { ok: true; value: T } | { ok: false; error: AppError; lockedNow?: boolean };

/**
 * Runs a second-factor check on the user's document in one transaction: refuses while locked
 * out, applies `check`, and writes either its success update or one more failure.
 */
async function withAttempt<T>(
  uid: string,
  deps: MfaDeps,
  check: (
    state: MfaState,
    at: number,
  ) => Promise<{ ok: true; update: DocumentData | "delete"; value: T } | { ok: false; reason: CodeFailure } | AppError>,
): Promise<T> {
  const { db, now, lockout } = resolve(deps);
  const ref = db.doc(mfaPath(uid));
  const verdict = await db.runTransaction<Verdict<T>>(async (tx) => {
    const state = fromDoc((await tx.get(ref)).data());
    const at = now();
    const lock = lockoutAt(state, at);
    if (lock.locked) return { ok: false, error: lockedOut(lock.retryAfterSeconds) };
    const result = await check(state, at);
    if (result instanceof AppError) return { ok: false, error: result };
    if (result.ok) {
      if (result.update === "delete") tx.delete(ref);
      else tx.update(ref, { ...result.update, ...recordSuccess(), updatedAt: Timestamp.fromMillis(at) });
      return { ok: true, value: result.value };
    }
    const failed = recordFailure(state, at, lockout);
    tx.update(ref, { failures: failed.state.failures, lockedUntil: failed.state.lockedUntil });
    if (failed.lockedNow) return { ok: false, error: lockedOut(Math.ceil(lockout.windowMs / 1000)), lockedNow: true };
    return {
      ok: false,
      error: new AppError(
        "permission-denied",
        result.reason === "mfa-code-reused"
          ? "This code was already used. Wait for the next one."
          : "The code is not valid.",
        { reason: result.reason, remainingAttempts: failed.remaining },
      ),
    };
  });
  if (verdict.ok) return verdict.value;
  if (verdict.error.details.reason === "mfa-code-invalid" || verdict.error.details.reason === "mfa-code-reused") {
    metrics.inc("mfa_failures_total", { reason: String(verdict.error.details.reason) });
  }
  if (verdict.lockedNow) {
    metrics.inc("mfa_failures_total", { reason: "mfa-code-invalid" });
    metrics.inc("mfa_lockouts_total");
    log.security("mfa-lockout", { uid, lockoutSeconds: Math.ceil(lockout.windowMs / 1000) });
  }
  throw verdict.error;
}

function lockedOut(retryAfterSeconds: number): AppError {
  return new AppError(
    "resource-exhausted",
    `Too many failed codes. Try again in ${Math.ceil(retryAfterSeconds / 60)} minute(s).`,
    { reason: "mfa-locked-out", retryAfterSeconds },
  );
}

/** Why a second-factor code was refused. */
type CodeFailure = "mfa-code-invalid" | "mfa-code-reused";

function totpFailure(check: TotpCheck & { ok: false }): { ok: false; reason: CodeFailure } {
  return { ok: false, reason: check.reason === "replayed" ? "mfa-code-reused" : "mfa-code-invalid" };
}

/**
 * Confirms enrolment with a code from the app; returns 10 recovery codes, shown once (only
 * their hashes are stored).
 */
export async function confirmEnrolment(
  uid: string,
  code: string,
  deps: MfaDeps = {},
): Promise<{ recoveryCodes: string[] }> {
  const recoveryCodes = newRecoveryCodes();
  await withAttempt(uid, deps, async (state, at) => {
    if (state.status === "enabled") {
      return failedPrecondition("Two-factor authentication is already on.", "mfa-already-enrolled");
    }
    if (state.status !== "pending" || !state.pendingSecret) {
      return failedPrecondition("Start enrolment first (enrollMfa).", "mfa-enrollment-not-started");
    }
    const secret = decryptString(state.pendingSecret, { aad: secretAad(uid), keyring: deps.keyring });
    const check = await verifyTotp({ secret, code, epochMs: at });
    if (!check.ok) return totpFailure(check);
    return {
      ok: true,
      value: undefined,
      update: {
        status: "enabled",
        secret: state.pendingSecret,
        pendingSecret: FieldValue.delete(),
        pendingCreatedAt: FieldValue.delete(),
        lastStep: check.step,
        recoveryCodeHashes: recoveryCodes.map(hashRecoveryCode),
        enabledAt: Timestamp.fromMillis(at),
      },
    };
  });
  // After the commit: if this fails, the next startSession with a code sets the claim.
  await syncMfaClaim(uid, true, deps);
  metrics.inc("mfa_enrolments_total");
  log.info("mfa enabled");
  return { recoveryCodes };
}

/** Checks a second factor against an enabled user's state; the shared core of verify and disable. */
async function checkFactor(
  uid: string,
  state: MfaState,
  factor: SecondFactor,
  at: number,
  deps: MfaDeps,
): Promise<
  { ok: true; update: DocumentData; method: "totp" | "recovery-code" } | { ok: false; reason: CodeFailure } | AppError
> {
  if (state.status !== "enabled" || !state.secret) {
    return failedPrecondition("Two-factor authentication is not set up.", "mfa-not-enrolled");
  }
  if ("recoveryCode" in factor) {
    const index = findRecoveryCode(state.recoveryCodeHashes, factor.recoveryCode);
    if (index < 0) return { ok: false, reason: "mfa-code-invalid" };
    const remaining = state.recoveryCodeHashes.filter((_, i) => i !== index);
    return { ok: true, update: { recoveryCodeHashes: remaining }, method: "recovery-code" };
  }
  const secret = decryptString(state.secret, { aad: secretAad(uid), keyring: deps.keyring });
  const check = await verifyTotp({ secret, code: factor.code, epochMs: at, lastStep: state.lastStep });
  if (!check.ok) return totpFailure(check);
  return { ok: true, update: { lastStep: check.step }, method: "totp" };
}

/**
 * Verifies a TOTP code (±1 step, replay-protected) or consumes a recovery code. Throws
 * `permission-denied` (reason `mfa-code-invalid` / `mfa-code-reused`), `resource-exhausted`
 * (`mfa-locked-out`, with `retryAfterSeconds`) or `failed-precondition` (`mfa-not-enrolled`).
 */
export async function verifySecondFactor(
  uid: string,
  factor: SecondFactor,
  deps: MfaDeps = {},
): Promise<{ method: "totp" | "recovery-code" }> {
  const method = await withAttempt(uid, deps, async (state, at) => {
    const result = await checkFactor(uid, state, factor, at, deps);
    return result instanceof AppError || !result.ok
      ? result
      : { ok: true, update: result.update, value: result.method };
  });
  metrics.inc("mfa_verifications_total", { method });
  if (method === "recovery-code") log.info("recovery code used");
  return { method };
}

/** Replaces the whole set of recovery codes (the old ones stop working at once). */
export async function regenerateRecoveryCodes(uid: string, deps: MfaDeps = {}): Promise<{ recoveryCodes: string[] }> {
  const { db, now } = resolve(deps);
  const recoveryCodes = newRecoveryCodes();
  await db.runTransaction(async (tx) => {
    const ref = db.doc(mfaPath(uid));
    const state = fromDoc((await tx.get(ref)).data());
    if (state.status !== "enabled") {
      throw failedPrecondition("Two-factor authentication is not set up.", "mfa-not-enrolled");
    }
    tx.update(ref, {
      recoveryCodeHashes: recoveryCodes.map(hashRecoveryCode),
      updatedAt: Timestamp.fromMillis(now()),
    });
  });
  log.info("recovery codes regenerated");
  return { recoveryCodes };
}

/** Turns MFA off after checking a current code or a recovery code; the seed is deleted. */
export async function disableMfa(uid: string, factor: SecondFactor, deps: MfaDeps = {}): Promise<{ disabled: true }> {
  await withAttempt(uid, deps, async (state, at) => {
    const result = await checkFactor(uid, state, factor, at, deps);
    return result instanceof AppError || !result.ok ? result : { ok: true, update: "delete", value: undefined };
  });
  await syncMfaClaim(uid, false, deps);
  metrics.inc("mfa_disabled_total");
  log.security("mfa-disabled", { uid });
  return { disabled: true };
}
