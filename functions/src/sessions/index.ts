/**
 * Session functions: start a refresh-token family, refresh it (rotation with reuse detection),
 * list and revoke sessions. The handlers are thin; the logic is in service.ts and model.ts.
 */
import { z } from "zod";
import { callable } from "../platform/callable";
import { secrets } from "../platform/config";
import { failedPrecondition } from "../platform/errors";
import { NoInput } from "../platform/validation";
import { verifySecondFactor, isMfaEnrolled, type SecondFactor } from "../mfa/service";
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
 * `startSession`: turns a valid Firebase sign-in into an app session. When the user has MFA,
 * a TOTP code or a recovery code is required and the session starts MFA-verified.
 */
export const startSession = callable(
  {
    name: "startSession",
    description:
      "Starts a session (refresh-token family) for the signed-in user; needs a TOTP or recovery code when MFA is on.",
    input: StartSessionInput,
    sensitive: true,
    rateLimits: ["startSession"],
    options: withKey,
  },
  async ({ uid, principal, data, rawRequest }) => {
    const factor: SecondFactor | null = data.code
      ? { code: data.code }
      : data.recoveryCode
        ? { recoveryCode: data.recoveryCode }
        : null;
    if (factor) {
      await verifySecondFactor(uid, factor);
    } else if (await isMfaEnrolled(uid)) {
      throw failedPrecondition("Enter a code from your authenticator app or a recovery code.", "mfa-code-required");
    }
    return service.startSession({
      uid,
      tid: typeof principal.token.tid === "string" ? principal.token.tid : null,
      mfa: factor !== null,
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
  },
  async ({ uid }) => service.revokeAllSessions(uid, "user"),
);
