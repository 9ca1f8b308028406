/**
 * Input schemas for second factors, shared by the MFA and session functions.
 */
import { z } from "zod";

/** A 6-digit TOTP code. */
export const TotpCodeInput = z.string().regex(/^\d{6}$/, "must be 6 digits");

/** A recovery code as typed: 16 letters/digits, optionally grouped with '-' or spaces. */
export const RecoveryCodeInput = z
  .string()
  .max(40, "is too long")
  .refine((v) => /^[0-9a-z]{16}$/i.test(v.replace(/[\s-]/g, "")), "must be a recovery code");

/** Exactly one of a TOTP code or a recovery code. */
export const SecondFactorInput = z.union([
  z.strictObject({ code: TotpCodeInput }),
  z.strictObject({ recoveryCode: RecoveryCodeInput }),
]);
