/**
 * The session stage's decision (`decideSession`, pure) and its per-instance cache, with an
 * injected clock and in-process sources that count every lookup.
 */
import type { DecodedIdToken } from "firebase-admin/auth";
import {
  checkSession,
  checkTenantMfaPolicy,
  configureSessionGuard,
  decideSensitive,
  decideSession,
  forgetSessionStatus,
  isSessionActive,
  type SessionFacts,
  type UserFacts,
} from "../../src/platform/session-guard";
import { AppError } from "../../src/platform/errors";

const NOW = 1_800_000_000_000;
const SID = "a".repeat(32);
const policy = { sessionRequired: false, recentSignInMs: 300_000 };
const user = (over: Partial<UserFacts> = {}): UserFacts => ({
  exists: true,
  disabled: false,
  validSince: 0,
  mfaEnrolled: false,
  platformAdmin: false,
  ...over,
});
const session = (over: Partial<SessionFacts> = {}): SessionFacts => ({
  uid: "u1",
  active: true,
  mfa: false,
  expiresAt: NOW + 86_400_000,
  idleExpiresAt: NOW + 3_600_000,
  authTime: NOW - 86_400_000,
  authAt: NOW - 86_400_000,
  ...over,
});

type Input = Parameters<typeof decideSession>[0];
function decide(over: Partial<Input> = {}) {
  return decideSession({
    uid: "u1",
    token: { auth_time: (NOW - 60_000) / 1000 },
    user: user(),
    session: undefined,
    spec: {},
    now: NOW,
    policy,
    ...over,
  });
}
function reason(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof AppError) return `${error.code}/${String(error.details.reason)}`;
    throw error;
  }
  return undefined;
}

describe("decideSession: the user's Auth state", () => {
  it("refuses a deleted or disabled user", () => {
    expect(reason(() => decide({ user: user({ exists: false }) }))).toBe("unauthenticated/user-deleted");
    expect(reason(() => decide({ user: user({ disabled: true }) }))).toBe("unauthenticated/user-disabled");
  });

  it("refuses a token signed in before tokensValidAfterTime (password change, revokeRefreshTokens)", () => {
    const authTime = NOW - 60_000;
    expect(reason(() => decide({ user: user({ validSince: authTime + 1000 }) }))).toBe(
      "unauthenticated/tokens-revoked",
    );
    // Same second as the revocation: Firebase's own rule (strictly before) lets it through.
    expect(reason(() => decide({ user: user({ validSince: authTime }) }))).toBeUndefined();
  });

  it("ends a session whose primary sign-in came before the revocation, however fresh its token", () => {
    const fresh = { auth_time: NOW / 1000, sid: SID };
    const s = session({ authTime: NOW - 10_000 });
    expect(reason(() => decide({ token: fresh, session: s, user: user({ validSince: NOW - 5_000 }) }))).toBe(
      "unauthenticated/tokens-revoked",
    );
    expect(
      reason(() => decide({ token: fresh, session: s, user: user({ validSince: NOW - 20_000 }) })),
    ).toBeUndefined();
  });
});

describe("decideSession: the session the token names", () => {
  const token = { auth_time: NOW / 1000, sid: SID };
  it.each([
    ["unknown", null, "session-revoked"],
    ["someone else's", session({ uid: "u2" }), "session-revoked"],
    ["revoked", session({ active: false }), "session-revoked"],
    ["absolutely expired", session({ expiresAt: NOW }), "session-expired"],
    ["idle-expired", session({ idleExpiresAt: NOW }), "session-idle-expired"],
  ])("refuses a %s session, even on sessionless functions", (_label, s, why) => {
    expect(reason(() => decide({ token, session: s }))).toBe(`unauthenticated/${why}`);
    expect(reason(() => decide({ token, session: s, spec: { sessionless: true } }))).toBe(`unauthenticated/${why}`);
  });

  it("takes the MFA level from the session document, not from the token", () => {
    expect(decide({ token: { ...token, mfa: true } as never, session: session() }).mfa).toBe(false);
    expect(decide({ token, session: session({ mfa: true }) }).mfa).toBe(true);
  });
});

describe("decideSession: tokens without a session", () => {
  it("are accepted by default for users without MFA", () => {
    expect(decide()).toEqual({ mfa: false, mfaEnrolled: false, platformAdmin: false, authAt: NOW - 60_000 });
  });

  it("are refused everywhere but sessionless functions when SESSION_REQUIRED is on", () => {
    const required = { ...policy, sessionRequired: true };
    expect(reason(() => decide({ policy: required }))).toBe("failed-precondition/session-required");
    expect(reason(() => decide({ policy: required, spec: { sessionless: true } }))).toBeUndefined();
  });

  it("give a user with MFA nothing but sessionless functions; a non-MFA session does not either", () => {
    const enrolled = user({ mfaEnrolled: true });
    expect(reason(() => decide({ user: enrolled }))).toBe("failed-precondition/mfa-required");
    expect(reason(() => decide({ user: enrolled, spec: { sessionless: true } }))).toBeUndefined();
    const token = { auth_time: NOW / 1000, sid: SID };
    expect(reason(() => decide({ user: enrolled, token, session: session() }))).toBe(
      "failed-precondition/mfa-required",
    );
    expect(decide({ user: enrolled, token, session: session({ mfa: true }) }).mfa).toBe(true);
  });
});

describe("decideSensitive: sensitive functions", () => {
  const sensitive = (over: Partial<Input> = {}) =>
    decideSensitive(decide({ spec: { sessionless: true }, ...over }), NOW, policy);

  it("need a sign-in younger than RECENT_SIGN_IN_SECONDS", () => {
    expect(reason(() => sensitive({ token: { auth_time: (NOW - 299_000) / 1000 } }))).toBeUndefined();
    expect(reason(() => sensitive({ token: { auth_time: (NOW - 301_000) / 1000 } }))).toBe(
      "failed-precondition/recent-sign-in-required",
    );
  });

  it("measure a session's age from its sign-in or last second factor, not from its latest token", () => {
    const token = { auth_time: NOW / 1000, sid: SID };
    expect(reason(() => sensitive({ token, session: session() }))).toBe("failed-precondition/recent-sign-in-required");
    expect(reason(() => sensitive({ token, session: session({ authAt: NOW - 1000 }) }))).toBeUndefined();
  });

  it("need an MFA-verified session from a user with MFA, even where sessionless calls are fine", () => {
    const enrolled = user({ mfaEnrolled: true });
    expect(reason(() => sensitive({ user: enrolled }))).toBe("failed-precondition/mfa-required");
    const token = { auth_time: NOW / 1000, sid: SID };
    const s = session({ mfa: true, authAt: NOW - 1000 });
    expect(reason(() => sensitive({ user: enrolled, token, session: s }))).toBeUndefined();
  });
});

describe("tenant MFA policy", () => {
  const verdict = (over = {}) => ({ mfa: false, mfaEnrolled: false, platformAdmin: false, authAt: NOW, ...over });
  it("lets everyone through without a policy, and members outside it", () => {
    expect(() => checkTenantMfaPolicy(verdict(), undefined, ["owner"])).not.toThrow();
    expect(() => checkTenantMfaPolicy(verdict(), [], ["owner"])).not.toThrow();
    expect(() => checkTenantMfaPolicy(verdict(), ["owner", "admin"], ["member", "viewer"])).not.toThrow();
  });
  it("tells a covered member to verify or to enrol, and lets an MFA session through", () => {
    expect(reason(() => checkTenantMfaPolicy(verdict({ mfaEnrolled: true }), ["admin"], ["admin"]))).toBe(
      "failed-precondition/mfa-required",
    );
    expect(reason(() => checkTenantMfaPolicy(verdict(), ["admin"], ["admin"]))).toBe(
      "failed-precondition/mfa-enrollment-required",
    );
    expect(() => checkTenantMfaPolicy(verdict({ mfa: true }), ["admin"], ["admin"])).not.toThrow();
  });
});

describe("the per-instance cache", () => {
  let clock = NOW;
  const calls = { getUser: 0, reads: 0 };
  let stored: Record<string, unknown> | undefined;
  const at = (ms: number) => ({ toMillis: () => ms });
  const auth = { getUser: async () => (calls.getUser++, { disabled: false, customClaims: {} }) };
  const firestore = {
    doc: () => ({ get: async () => (calls.reads++, { exists: stored !== undefined, data: () => stored }) }),
  };
  const token = (sid?: string) =>
    ({ uid: "u1", auth_time: NOW / 1000, ...(sid ? { sid } : {}) }) as unknown as DecodedIdToken;

  beforeEach(() => {
    clock = NOW;
    calls.getUser = 0;
    calls.reads = 0;
    stored = {
      uid: "u1",
      status: "active",
      mfa: false,
      createdAt: at(NOW),
      expiresAt: at(NOW + 86_400_000),
      idleExpiresAt: at(NOW + 3_600_000),
    };
    configureSessionGuard({
      now: () => clock,
      ttlMs: 30_000,
      auth: auth as never,
      firestore: firestore as never,
      policy,
    });
  });
  afterAll(() => configureSessionGuard());

  it("costs one read and one user lookup cold, nothing warm, and looks again after the bound", async () => {
    await checkSession("u1", token(SID), {});
    expect(calls).toEqual({ getUser: 1, reads: 1 });
    for (let i = 0; i < 5; i++) await checkSession("u1", token(SID), {});
    expect(calls).toEqual({ getUser: 1, reads: 1 });
    clock += 30_001;
    await checkSession("u1", token(SID), {});
    expect(calls).toEqual({ getUser: 2, reads: 2 });
  });

  it("refuses a revoked session within the bound, and at once where it was forgotten", async () => {
    await checkSession("u1", token(SID), {});
    stored = { ...stored, status: "revoked" };
    await expect(checkSession("u1", token(SID), {})).resolves.toBeDefined(); // still cached
    clock += 30_001;
    await expect(checkSession("u1", token(SID), {})).rejects.toMatchObject({ details: { reason: "session-revoked" } });
    stored = { ...stored, status: "active" };
    forgetSessionStatus(SID);
    await expect(checkSession("u1", token(SID), {})).resolves.toBeDefined();
  });

  it("re-reads a cached session once its idle expiry passed (another instance may have moved it)", async () => {
    await checkSession("u1", token(SID), {});
    clock = NOW + 3_600_000;
    stored = { ...stored, idleExpiresAt: at(NOW + 7_200_000) };
    await expect(checkSession("u1", token(SID), {})).resolves.toBeDefined();
    expect(calls.reads).toBe(2);
  });

  it("re-reads a cached non-MFA session when the token already says mfa (upgraded elsewhere)", async () => {
    await checkSession("u1", token(SID), {});
    stored = { ...stored, mfa: true };
    const upgraded = { ...token(SID), mfa: true } as unknown as DecodedIdToken;
    expect((await checkSession("u1", upgraded, {})).mfa).toBe(true);
    expect(calls.reads).toBe(2);
    await checkSession("u1", upgraded, {});
    expect(calls.reads).toBe(2);
  });

  it("reads no session for a token without sid, and refuses a malformed sid without a read", async () => {
    await checkSession("u1", token(), {});
    expect(calls.reads).toBe(0);
    await expect(checkSession("u1", token("../x"), {})).rejects.toMatchObject({
      details: { reason: "session-revoked" },
    });
    for (const sid of ["", "../x", "A".repeat(32), "0".repeat(31)]) {
      await expect(isSessionActive(sid, "u1")).resolves.toBe(false);
    }
    expect(calls.reads).toBe(0);
  });
});
