/**
 * TOTP (RFC 6238) through otplib, with the product's fixed profile: SHA-1, 6 digits, 30 s step,
 * ±1 step of clock drift. These are what every authenticator app supports; changing them would
 * break enrolled users, so they are constants, not params.
 *
 * otplib is loaded on first use (it is only needed by MFA calls, not on every cold start).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export interface TotpProfile {
  algorithm: "sha1" | "sha256" | "sha512";
  digits: 6 | 7 | 8;
  period: number;
  driftSteps: number;
}

export const TOTP_PROFILE: Readonly<TotpProfile> = { algorithm: "sha1", digits: 6, period: 30, driftSteps: 1 };

/** A base32 secret as stored, or raw key bytes (the RFC 6238 test vectors use ASCII keys). */
export type TotpSecret = string | Uint8Array;

type Otplib = typeof import("otplib");
let otplib: Promise<Otplib> | undefined;
const loadOtplib = (): Promise<Otplib> => (otplib ??= import("otplib"));

/** A new random TOTP secret: 20 bytes (160 bits, RFC 4226's recommendation), base32. */
export async function newTotpSecret(): Promise<string> {
  return (await loadOtplib()).generateSecret({ length: 20 });
}

/** The `otpauth://totp/…` URI an authenticator app scans. */
export async function otpauthUri(args: { issuer: string; account: string; secret: string }): Promise<string> {
  const { generateURI } = await loadOtplib();
  return generateURI({
    issuer: args.issuer,
    label: args.account,
    secret: args.secret,
    algorithm: TOTP_PROFILE.algorithm,
    digits: TOTP_PROFILE.digits,
    period: TOTP_PROFILE.period,
  });
}

/** The QR code of `uri` as an SVG document (scales cleanly; no canvas needed on the server). */
export async function qrCodeSvg(uri: string): Promise<string> {
  const qrcode = await import("qrcode");
  return qrcode.toString(uri, { type: "svg", errorCorrectionLevel: "M", margin: 2 });
}

/** The time step (counter) that contains `epochMs`. */
export function stepAt(epochMs: number, profile: TotpProfile = TOTP_PROFILE): number {
  return Math.floor(epochMs / 1000 / profile.period);
}

/** The code for `secret` at `epochMs`. For tests and tools; servers only verify. */
export async function totpAt(
  secret: TotpSecret,
  epochMs: number,
  profile: TotpProfile = TOTP_PROFILE,
): Promise<string> {
  const { generate } = await loadOtplib();
  return generate({
    secret,
    algorithm: profile.algorithm,
    digits: profile.digits,
    period: profile.period,
    epoch: Math.floor(epochMs / 1000),
  });
}

export type TotpCheck = { ok: true; step: number } | { ok: false; reason: "invalid" | "replayed" };

/**
 * Verifies `code` at `epochMs` with ±1 step of drift. A code whose step is not after
 * `lastStep` (the step of the last accepted code) is refused as "replayed", so a code seen over
 * someone's shoulder cannot be used again, nor can an older one inside the drift window.
 */
export async function verifyTotp(args: {
  secret: TotpSecret;
  code: string;
  epochMs: number;
  lastStep?: number | null;
  profile?: TotpProfile;
}): Promise<TotpCheck> {
  const profile = args.profile ?? TOTP_PROFILE;
  if (typeof args.code !== "string" || !new RegExp(`^\\d{${profile.digits}}$`).test(args.code)) {
    return { ok: false, reason: "invalid" };
  }
  const { verify } = await loadOtplib();
  const options = {
    secret: args.secret,
    token: args.code,
    algorithm: profile.algorithm,
    digits: profile.digits,
    period: profile.period,
    epoch: Math.floor(args.epochMs / 1000),
    epochTolerance: profile.driftSteps * profile.period,
  };
  const hasLast = typeof args.lastStep === "number";
  const result = await verify(hasLast ? { ...options, afterTimeStep: args.lastStep as number } : options);
  if (result.valid && "timeStep" in result) return { ok: true, step: result.timeStep };
  if (hasLast && (await verify(options)).valid) return { ok: false, reason: "replayed" };
  return { ok: false, reason: "invalid" };
}

// Recovery codes: 16 characters of Crockford's base32 (no i, l, o, u look-alikes) = 80 bits each.
const RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
const RECOVERY_LENGTH = 16;
export const RECOVERY_CODE_COUNT = 10;

/** `count` new single-use recovery codes, formatted `xxxx-xxxx-xxxx-xxxx`. */
export function newRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, () => {
    const chars: string[] = [];
    // Rejection sampling keeps every letter equally likely (no modulo bias).
    while (chars.length < RECOVERY_LENGTH) {
      for (const byte of randomBytes(RECOVERY_LENGTH * 2)) {
        if (byte < 256 - (256 % RECOVERY_ALPHABET.length) && chars.length < RECOVERY_LENGTH) {
          chars.push(RECOVERY_ALPHABET[byte % RECOVERY_ALPHABET.length]);
        }
      }
    }
    return chars.join("").replace(/(.{4})(?=.)/g, "$1-");
  });
}

/** Bits of entropy in one recovery code. */
export const RECOVERY_CODE_BITS = RECOVERY_LENGTH * Math.log2(RECOVERY_ALPHABET.length);

/** Canonical form of a typed recovery code: lower case, no separators or spaces. */
export function normaliseRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[\s-]/g, "");
}

/**
 * The stored form of a recovery code. A plain SHA-256 suffices: with ≥ 78 bits of entropy per
 * code, offline guessing from a leaked hash is infeasible, and no key is needed to check one.
 */
export function hashRecoveryCode(code: string): string {
  return createHash("sha256").update(normaliseRecoveryCode(code), "utf8").digest("base64url");
}

/** The index of `code` among `hashes` (constant-time per comparison), or -1. */
export function findRecoveryCode(hashes: readonly string[], code: string): number {
  const candidate = Buffer.from(hashRecoveryCode(code));
  let found = -1;
  hashes.forEach((hash, i) => {
    const stored = Buffer.from(hash);
    if (stored.length === candidate.length && timingSafeEqual(stored, candidate) && found < 0) found = i;
  });
  return found;
}
