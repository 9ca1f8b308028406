/**
 * MFA functions: TOTP enrolment, confirmation, verification (session step-up), recovery codes,
 * disabling, and the tenant policy that requires MFA for some roles.
 */
import { z } from "zod";
import { callable, tenantCallable } from "../platform/callable";
import { secrets } from "../platform/config";
import { failedPrecondition } from "../platform/errors";
import { log } from "../platform/logger";
import { checkTenantMfaPolicy } from "../platform/session-guard";
import { NoInput } from "../platform/validation";
import { upgradeSessionMfa } from "../sessions/service";
import { RoleId } from "../rbac";
import { parseRoleDoc } from "../rbac/effective";
import type { RoleDefinition } from "../rbac/permissions";
import { MAX_CUSTOM_ROLES } from "../rbac/policy";
import { ancestors, rolesCovering } from "../rbac/resolve";
import { bumpConfigVersion, evictLocal } from "../tenancy/service";
import { SecondFactorInput, TotpCodeInput } from "./inputs";
import * as service from "./service";

const withKey = { secrets: [secrets.dataEncryptionKey] };

/** `enrollMfa`: starts TOTP enrolment; returns the otpauth URI, the secret and a QR code (SVG). */
export const enrollMfa = callable(
  {
    name: "enrollMfa",
    description: "Starts TOTP enrolment: returns the otpauth URI, the base32 secret and a QR code as SVG.",
    input: NoInput,
    sensitive: true,
    sessionless: true,
    options: withKey,
  },
  async ({ uid, principal }) =>
    service.beginEnrolment(uid, typeof principal.token.email === "string" ? principal.token.email : uid),
);

/** `confirmMfa`: confirms enrolment with a current code; returns 10 one-time recovery codes. */
export const confirmMfa = callable(
  {
    name: "confirmMfa",
    description: "Confirms TOTP enrolment with a code from the app; returns 10 single-use recovery codes, once.",
    input: z.strictObject({ code: TotpCodeInput }),
    sensitive: true,
    sessionless: true,
    options: withKey,
  },
  async ({ uid, data }) => service.confirmEnrolment(uid, data.code),
);

/**
 * `verifyMfa`: checks a TOTP or recovery code and upgrades the caller's session to `mfa: true`;
 * returns a custom token to sign in with. Not `sensitive`: the code is itself the fresh proof
 * (it also renews the session's recent-sign-in time for sensitive functions).
 */
export const verifyMfa = callable(
  {
    name: "verifyMfa",
    description: "Verifies a TOTP or recovery code and upgrades the current session; returns a custom token with mfa.",
    input: SecondFactorInput,
    sessionless: true,
    options: withKey,
  },
  async ({ uid, principal, data }) => {
    const sid = principal.token.sid;
    // Checked before the code so a code is never spent on a call that cannot succeed.
    if (typeof sid !== "string") throw failedPrecondition("Start a session first (startSession).", "session-required");
    await service.verifySecondFactor(uid, data);
    return upgradeSessionMfa(uid, sid);
  },
);

/** `getMfaStatus`: whether MFA is on, recovery codes left, and any lockout. */
export const getMfaStatus = callable(
  {
    name: "getMfaStatus",
    description: "Returns whether MFA is enrolled or pending, recovery codes remaining, and any lockout.",
    input: NoInput,
    sessionless: true,
  },
  async ({ uid }) => service.mfaStatus(uid),
);

/** `regenerateRecoveryCodes`: a new set of 10 codes; the old set stops working. */
export const regenerateRecoveryCodes = callable(
  {
    name: "regenerateRecoveryCodes",
    description: "Replaces the caller's recovery codes with 10 new ones (needs an MFA-verified session).",
    input: NoInput,
    requireMfa: true,
    sensitive: true,
    sessionless: true,
  },
  async ({ uid }) => service.regenerateRecoveryCodes(uid),
);

/** `disableMfa`: turns MFA off after a current code or a recovery code. */
export const disableMfa = callable(
  {
    name: "disableMfa",
    description: "Turns TOTP off; needs a current code or a recovery code.",
    input: SecondFactorInput,
    sensitive: true,
    sessionless: true,
    options: withKey,
  },
  async ({ uid, data }) => service.disableMfa(uid, data),
);

/**
 * `setTenantMfaPolicy`: the roles whose members must use MFA-verified sessions in this tenant,
 * inherited roles included (a custom role inheriting `admin` is covered by `admin`). The covered
 * roles are stored expanded as `mfaPolicyRoles` for security rules. Refuses a policy that would
 * lock the caller out (their role covered, their session not MFA-verified).
 */
export const setTenantMfaPolicy = tenantCallable(
  {
    name: "setTenantMfaPolicy",
    description: "Sets which roles must use MFA in the active tenant (e.g. owner, admin); [] turns the policy off.",
    input: z.strictObject({
      requiredRoles: z
        .array(RoleId)
        .max(20, "at most 20 roles")
        .transform((roles) => [...new Set(roles)].sort()),
    }),
    permission: "tenant:manage",
    sensitive: true,
  },
  async ({ data, db, principal, member, runTransaction }) => {
    await runTransaction(async (tx) => {
      const snap = await tx.get(db.collection("roles").limit(MAX_CUSTOM_ROLES + 1));
      const custom: Record<string, RoleDefinition> = {};
      for (const doc of snap.docs) custom[doc.id] = parseRoleDoc(doc.data());
      if (principal.session)
        checkTenantMfaPolicy(principal.session, data.requiredRoles, ancestors(member.roles, custom));
      bumpConfigVersion(tx, db.tenantId, undefined, {
        mfaRequiredRoles: data.requiredRoles,
        mfaPolicyRoles: rolesCovering(data.requiredRoles, custom),
      });
    });
    evictLocal(db.tenantId);
    log.security("tenant-mfa-policy-changed", { requiredRoles: data.requiredRoles });
    return { requiredRoles: data.requiredRoles };
  },
);
