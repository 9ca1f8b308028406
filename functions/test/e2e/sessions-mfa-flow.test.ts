/**
 * The whole sessions + MFA flow over HTTP against the functions emulator, as a client would run
 * it: sign in → enrol → confirm → start a session with a code → refresh → call an
 * MFA-required function; plus reuse detection over the wire.
 */
import { totpAt } from "../../src/mfa/totp";
import { createTestUser, decode, signInWithCustomToken, type TestUser } from "../support/firebase";
import { callCallable } from "../support/http";

jest.setTimeout(60_000);

interface Issued {
  sessionId: string;
  refreshToken: string;
  customToken: string;
  mfa: boolean;
}

function ok<T>(res: { status: number; result?: T; error?: unknown }): T {
  if (res.status !== 200 || res.result === undefined) {
    throw new Error(`expected 200, got ${res.status}: ${JSON.stringify(res.error)}`);
  }
  return res.result;
}

describe("sessions and MFA over HTTP", () => {
  let user: TestUser;

  beforeAll(async () => {
    user = await createTestUser();
  });

  it("sign in → enrol → confirm → start session with a code → refresh → MFA-required call", async () => {
    // 1. Enrol: the otpauth URI carries the secret an authenticator app would scan.
    const enrolment = ok(
      await callCallable<{ otpauthUri: string; secret: string; qrCodeSvg: string }>("enrollMfa", null, user.idToken),
    );
    expect(enrolment.qrCodeSvg.startsWith("<svg")).toBe(true);
    const secret = new URL(enrolment.otpauthUri).searchParams.get("secret") as string;
    expect(secret).toBe(enrolment.secret);

    // 2. Confirm with the current code.
    const confirmed = ok(
      await callCallable<{ recoveryCodes: string[] }>(
        "confirmMfa",
        { code: await totpAt(secret, Date.now()) },
        user.idToken,
      ),
    );
    expect(confirmed.recoveryCodes).toHaveLength(10);

    // 3. Starting a session now needs a code; the confirmation code is spent, so use the next step's.
    const noCode = await callCallable("startSession", { label: "e2e" }, user.idToken);
    expect(noCode.status).toBe(400);
    expect(noCode.error).toMatchObject({ status: "FAILED_PRECONDITION", details: { reason: "mfa-code-required" } });
    const session = ok(
      await callCallable<Issued>(
        "startSession",
        { code: await totpAt(secret, Date.now() + 30_000), label: "e2e" },
        user.idToken,
      ),
    );
    expect(session.mfa).toBe(true);
    const first = await signInWithCustomToken(session.customToken);
    expect(await decode(first.idToken)).toMatchObject({ sid: session.sessionId, mfa: true });

    // 4. Refresh with the refresh token alone (no ID token).
    const refreshed = ok(await callCallable<Issued>("refreshSession", { refreshToken: session.refreshToken }));
    expect(refreshed.refreshToken).not.toBe(session.refreshToken);
    const { idToken } = await signInWithCustomToken(refreshed.customToken);

    // 5. An MFA-required function: refused with the plain sign-in token, served with the session's.
    const plain = await callCallable("regenerateRecoveryCodes", null, user.idToken);
    expect(plain.status).toBe(400);
    expect(plain.error).toMatchObject({ status: "FAILED_PRECONDITION", details: { reason: "mfa-required" } });
    const regenerated = ok(await callCallable<{ recoveryCodes: string[] }>("regenerateRecoveryCodes", null, idToken));
    expect(regenerated.recoveryCodes).toHaveLength(10);

    // 6. The session is listed as current.
    const listed = ok(
      await callCallable<{ sessions: { sessionId: string; current: boolean }[] }>("listSessions", null, idToken),
    );
    expect(listed.sessions).toContainEqual(expect.objectContaining({ sessionId: session.sessionId, current: true }));
  });

  it("answers a reused older refresh token with refresh-token-reused and ends the session", async () => {
    const other = await createTestUser();
    const s0 = ok(await callCallable<Issued>("startSession", {}, other.idToken));
    const s1 = ok(await callCallable<Issued>("refreshSession", { refreshToken: s0.refreshToken }));
    const s2 = ok(await callCallable<Issued>("refreshSession", { refreshToken: s1.refreshToken }));
    const reused = await callCallable("refreshSession", { refreshToken: s0.refreshToken });
    expect(reused.status).toBe(401);
    expect(reused.error).toMatchObject({ status: "UNAUTHENTICATED", details: { reason: "refresh-token-reused" } });
    const after = await callCallable("refreshSession", { refreshToken: s2.refreshToken });
    expect(after.error).toMatchObject({ status: "UNAUTHENTICATED", details: { reason: "session-revoked" } });
  });
});
