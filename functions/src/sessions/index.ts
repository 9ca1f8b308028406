/**
 * Session functions: start a refresh-token family, refresh it (rotation with reuse detection),
 * list and revoke sessions. The handlers are thin; the logic is in service.ts and model.ts.
 */
import { z } from "zod";
import { callable } from "../platform/callable";
import { secrets } from "../platform/config";
import { failedPrecondition } from "../platform/errors";
import { policyParams } from "../platform/session-guard";
import { NoInput } from "../platform/validation";
import { verifySecondFactor, isMfaEnrolled, syncMfaClaim, type SecondFactor } from "../mfa/service";
import { RecoveryCodeInput, TotpCodeInput } from "../mfa/inputs";
import * as service from "./service";

const withKey = { secrets: [secrets.dataEncryptionKey] };

const StartSessionInput = z
  .strictObject({
    code: TotpCodeInput.optional(),
    recoveryCode: RecoveryCodeInput.optional(),
    label: z.string().trim().min(1, "must not be empty").max(100, "must be at most 100 characters").optional(),
  })
  .refine((d) => !(d.code && d.recoveryCode), {
    message: "send either code or recoveryCode, not both",
    path: ["code"],
  });

const SessionId = z.string().regex(/^[0-9a-f]{32}$/, "must be a session id");

function userAgentLabel(headers: Record<string, unknown> | undefined): string {
  const ua = headers?.["user-agent"];
  return typeof ua === "string" && ua.trim() ? ua.trim().slice(0, 100) : "unknown device";
}

/**
 * `startSession`: turns a primary Firebase sign-in (password, federated, or the app's own
 * custom-token sign-in) into an app session. When the user has MFA, a TOTP code or a recovery
 * code is required and the session starts MFA-verified.
 *
 * Refused for a sign-in made with a session's own custom token (it carries `sid`): whoever
 * holds a session's refresh token could otherwise fork an independent family that reuse
 * detection on the first never touches. Refused too for a sign-in older than
 * RECENT_SIGN_IN_SECONDS, so an ID token or Firebase refresh token found later cannot start one.
 */
export const startSession = callable(
  {
    name: "startSession",
    description:
      "Starts a session (refresh-token family) for the signed-in user; needs a TOTP or recovery code when MFA is on.",
    input: StartSessionInput,
    sessionless: true,
    options: withKey,
  },
  async ({ uid, principal, data, rawRequest }) => {
    if (principal.token.sid !== undefined) {
      throw failedPrecondition("A session cannot start another session. Sign in again.", "session-token");
    }
    const authTime = principal.token.auth_time * 1000;
    if (Date.now() - authTime > policyParams().recentSignInMs) {
      throw failedPrecondition("Sign in again to start a session.", "recent-sign-in-required");
    }
    const factor: SecondFactor | null = data.code
      ? { code: data.code }
      : data.recoveryCode
        ? { recoveryCode: data.recoveryCode }
        : null;
    if (factor) {
      await verifySecondFactor(uid, factor);
      // Repairs a claim left unset by a failure right after confirmMfa.
      await syncMfaClaim(uid, true);
    } else if (await isMfaEnrolled(uid)) {
      throw failedPrecondition("Enter a code from your authenticator app or a recovery code.", "mfa-code-required");
    }
    return service.startSession({
      uid,
      tid: typeof principal.token.tid === "string" ? principal.token.tid : null,
      mfa: factor !== null,
      authTime,
      label: data.label ?? userAgentLabel(rawRequest?.headers as Record<string, unknown> | undefined),
    });
  },
);

/**
 * `refreshSession`: exchanges a refresh token for its successor and a fresh custom token. Needs
 * no ID token (the client's may have expired); the refresh token is the credential.
 */
export const refreshSession = callable(
  {
    name: "refreshSession",
    description: "Rotates a refresh token: returns its successor and a fresh custom token.",
    input: z.strictObject({ refreshToken: z.string().min(1, "is required").max(256, "is too long") }),
    auth: "none",
    options: withKey,
  },
  async ({ data }) => service.refreshSession(data.refreshToken),
);

/** `listSessions`: the caller's active sessions, the current one marked. */
export const listSessions = callable(
  {
    name: "listSessions",
    description: "Lists the caller's active sessions, most recently used first.",
    input: NoInput,
    sessionless: true,
  },
  async ({ uid, principal }) => ({
    sessions: await service.listSessions(
      uid,
      typeof principal.token.sid === "string" ? principal.token.sid : undefined,
    ),
  }),
);

/** `revokeSession`: signs one of the caller's sessions out. */
export const revokeSession = callable(
  {
    name: "revokeSession",
    description: "Revokes one of the caller's sessions; its refresh token stops working at once.",
    input: z.strictObject({ sessionId: SessionId }),
    sessionless: true,
  },
  async ({ uid, data }) => service.revokeSession(uid, data.sessionId, "user"),
);

/** `revokeAllSessions`: signs the caller out everywhere, Firebase refresh tokens included. */
export const revokeAllSessions = callable(
  {
    name: "revokeAllSessions",
    description: "Revokes every session of the caller and their Firebase refresh tokens (sign out everywhere).",
    input: NoInput,
    sensitive: true,
    sessionless: true,
  },
  async ({ uid }) => service.revokeAllSessions(uid, "user"),
);
