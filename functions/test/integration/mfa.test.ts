/**
 * TOTP MFA against the real Firestore and Auth emulators: enrolment, encryption at rest,
 * confirmation, drift, replay, lockout, recovery codes, session step-up, disabling, and the
 * tenant policy that requires MFA for roles.
 */
import { adminAuth, rootFirestore } from "../../src/platform/admin";
import { decryptString } from "../../src/platform/crypto";
import { metrics } from "../../src/platform/metrics";
import { configureSessionGuard } from "../../src/platform/session-guard";
import {
  confirmMfa,
  disableMfa,
  enrollMfa,
  getMfaStatus,
  regenerateRecoveryCodes,
  setTenantMfaPolicy,
  verifyMfa,
} from "../../src/mfa";
import * as mfa from "../../src/mfa/service";
import { totpAt } from "../../src/mfa/totp";
import { refreshSession as refreshSessionFn, startSession as startSessionFn } from "../../src/sessions";
import type { IssuedSession } from "../../src/sessions/service";
import { getTenant } from "../../src/tenancy";
import {
  callAs,
  countOps,
  createTestUser,
  decode,
  expectHttpsError,
  seedTenant,
  signInWithCustomToken,
  type TestUser,
} from "../support/firebase";
import { captureLogs } from "../support/observability-logs";

jest.setTimeout(60_000);

const logs = captureLogs();
/** Every secret and code the tests handled, to check the logs against at the end. */
const handled: string[] = [];

const mfaDoc = async (uid: string) => (await rootFirestore().doc(`users/${uid}/private/mfa`).get()).data();
const lockout = { maxFailures: 5, windowMs: 900_000 };

type Enrolment = { otpauthUri: string; secret: string; qrCodeSvg: string };

/** Enrols `user` through the callables; returns the secret and the recovery codes. */
async function enrolled(user: TestUser): Promise<{ secret: string; recoveryCodes: string[] }> {
  const { secret } = await callAs<Enrolment>(enrollMfa, user, null);
  const { recoveryCodes } = await callAs<{ recoveryCodes: string[] }>(confirmMfa, user, {
    code: await codeAt(secret, Date.now()),
  });
  handled.push(secret, ...recoveryCodes);
  return { secret, recoveryCodes };
}

/** A code for a step after everything accepted so far (each test step uses a fresh one). */
async function codeAt(secret: string, ms: number) {
  const code = await totpAt(secret, ms);
  handled.push(code);
  return code;
}

let user: TestUser;
beforeEach(async () => {
  user = await createTestUser();
  configureSessionGuard({ ttlMs: 0 });
});
afterAll(() => configureSessionGuard());

describe("TOTP enrolment", () => {
  it("returns an otpauth URI for the product and the user's email, and a QR code", async () => {
    const res = await callAs<Enrolment>(enrollMfa, user, null);
    const uri = new URL(res.otpauthUri);
    expect(decodeURIComponent(uri.pathname)).toBe(`/SaaS Core:${user.email}`);
    expect(uri.searchParams.get("issuer")).toBe("SaaS Core");
    expect(uri.searchParams.get("secret")).toBe(res.secret);
    expect(res.qrCodeSvg.startsWith("<svg")).toBe(true);
  });

  it("stores the secret encrypted (no plaintext at rest), bound to the user", async () => {
    const { secret } = await callAs<Enrolment>(enrollMfa, user, null);
    const pending = await mfaDoc(user.uid);
    expect(pending?.status).toBe("pending");
    expect(JSON.stringify(pending)).not.toContain(secret);
    expect(pending?.pendingSecret).toMatch(/^enc1\./);
    expect(decryptString(pending?.pendingSecret, { aad: `users/${user.uid}/private/mfa#secret` })).toBe(secret);
    expect(() => decryptString(pending?.pendingSecret, { aad: `users/someone-else/private/mfa#secret` })).toThrow();

    const { recoveryCodes } = await callAs<{ recoveryCodes: string[] }>(confirmMfa, user, {
      code: await totpAt(secret, Date.now()),
    });
    const stored = JSON.stringify(await mfaDoc(user.uid));
    expect(stored).not.toContain(secret);
    for (const code of recoveryCodes) expect(stored).not.toContain(code.replace(/-/g, ""));
    expect(await mfaDoc(user.uid)).toMatchObject({ status: "enabled" });
  });

  it("confirms only with a valid code, then returns 10 recovery codes once", async () => {
    const { secret } = await callAs<Enrolment>(enrollMfa, user, null);
    const wrong = String((Number(await totpAt(secret, Date.now())) + 1) % 1_000_000).padStart(6, "0");
    const err = await expectHttpsError(callAs(confirmMfa, user, { code: wrong }), "permission-denied");
    expect(err.details).toMatchObject({ reason: "mfa-code-invalid", remainingAttempts: 4 });
    expect((await mfaDoc(user.uid))?.status).toBe("pending");
    const { recoveryCodes } = await callAs<{ recoveryCodes: string[] }>(confirmMfa, user, {
      code: await totpAt(secret, Date.now()),
    });
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    // Enrolled now: the password-only token no longer reaches sensitive MFA functions.
    const again = await expectHttpsError(callAs(enrollMfa, user, null), "failed-precondition");
    expect(again.details).toMatchObject({ reason: "mfa-required" });
  });

  it("refuses confirmation before enrolment and bad input without writing", async () => {
    const err = await expectHttpsError(callAs(confirmMfa, user, { code: "123456" }), "failed-precondition");
    expect(err.details).toMatchObject({ reason: "mfa-enrollment-not-started" });
    const { ops } = await countOps(() =>
      expectHttpsError(callAs(confirmMfa, user, { code: "12345", extra: 1 }), "invalid-argument"),
    );
    expect(ops.log.filter((e) => e.kind !== "read" && e.path.startsWith(`users/${user.uid}/`))).toEqual([]);
    expect(await mfaDoc(user.uid)).toBeUndefined();
  });
});

describe("TOTP verification", () => {
  it("accepts ±1 step of drift and refuses ±2", async () => {
    const { secret } = await enrolled(user);
    const t = Date.now() + 10 * 60_000; // past the step used to confirm
    for (const drift of [-1, 0, 1]) {
      // Each check happens a few steps after the previous one, so no code is a replay.
      const at = t + (drift + 1) * 120_000;
      const code = await codeAt(secret, at + drift * 30_000);
      await expect(mfa.verifySecondFactor(user.uid, { code }, { now: () => at, lockout })).resolves.toEqual({
        method: "totp",
      });
    }
    const later = t + 20 * 60_000;
    for (const drift of [-2, 2]) {
      const code = await codeAt(secret, later + drift * 30_000);
      await expect(mfa.verifySecondFactor(user.uid, { code }, { now: () => later, lockout })).rejects.toMatchObject({
        code: "permission-denied",
        details: { reason: "mfa-code-invalid" },
      });
    }
  });

  it("rejects a replayed code, and a concurrent double use passes exactly once", async () => {
    const { secret } = await enrolled(user);
    const at = Date.now() + 5 * 60_000;
    const code = await codeAt(secret, at);
    const results = await Promise.allSettled(
      Array.from({ length: 4 }, () => mfa.verifySecondFactor(user.uid, { code }, { now: () => at, lockout })),
    );
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const reasons = results.flatMap((r) =>
      r.status === "rejected" ? [(r.reason as { details: { reason: string } }).details.reason] : [],
    );
    expect(reasons).toEqual(Array(3).fill("mfa-code-reused"));
    await expect(mfa.verifySecondFactor(user.uid, { code }, { now: () => at + 20_000, lockout })).rejects.toMatchObject(
      { details: { reason: "mfa-code-reused" } },
    );
  });

  it("locks out after 5 failures for 15 minutes, refuses even a right code meanwhile, then recovers", async () => {
    const { secret } = await enrolled(user);
    let now = Date.now() + 60_000;
    const deps = { now: () => now, lockout };
    const lockoutsBefore = metrics.value("mfa_lockouts_total");
    for (let i = 1; i <= 4; i++) {
      await expect(mfa.verifySecondFactor(user.uid, { code: "000000" }, deps)).rejects.toMatchObject({
        details: { reason: "mfa-code-invalid", remainingAttempts: 5 - i },
      });
    }
    await expect(mfa.verifySecondFactor(user.uid, { code: "000000" }, deps)).rejects.toMatchObject({
      code: "resource-exhausted",
      details: { reason: "mfa-locked-out", retryAfterSeconds: 900 },
    });
    expect(metrics.value("mfa_lockouts_total")).toBe(lockoutsBefore + 1);
    now += 600_000;
    await expect(mfa.verifySecondFactor(user.uid, { code: await codeAt(secret, now) }, deps)).rejects.toMatchObject({
      code: "resource-exhausted",
      details: { reason: "mfa-locked-out", retryAfterSeconds: 300 },
    });
    const status = await callAs<{ retryAfterSeconds: number | null }>(getMfaStatus, user, null);
    expect(status.retryAfterSeconds).toBeGreaterThan(0);
    now += 300_000;
    await expect(mfa.verifySecondFactor(user.uid, { code: await codeAt(secret, now) }, deps)).resolves.toEqual({
      method: "totp",
    });
    expect((await mfaDoc(user.uid))?.failures).toEqual([]);
  });
});

describe("recovery codes", () => {
  it("are single-use, and regenerating invalidates the whole old set", async () => {
    const { recoveryCodes } = await enrolled(user);
    await expect(mfa.verifySecondFactor(user.uid, { recoveryCode: recoveryCodes[0] })).resolves.toEqual({
      method: "recovery-code",
    });
    await expect(mfa.verifySecondFactor(user.uid, { recoveryCode: recoveryCodes[0] })).rejects.toMatchObject({
      details: { reason: "mfa-code-invalid" },
    });
    expect((await mfaDoc(user.uid))?.recoveryCodeHashes).toHaveLength(9);
    const fresh = await mfa.regenerateRecoveryCodes(user.uid);
    expect(fresh.recoveryCodes).toHaveLength(10);
    await expect(mfa.verifySecondFactor(user.uid, { recoveryCode: recoveryCodes[1] })).rejects.toMatchObject({
      details: { reason: "mfa-code-invalid" },
    });
    await expect(
      mfa.verifySecondFactor(user.uid, { recoveryCode: fresh.recoveryCodes[1].toUpperCase() }),
    ).resolves.toEqual({ method: "recovery-code" });
  });
});

describe("sessions with MFA", () => {
  it("requires a code to start a session once enrolled, and starts it MFA-verified", async () => {
    const { secret, recoveryCodes } = await enrolled(user);
    const err = await expectHttpsError(callAs(startSessionFn, user, {}), "failed-precondition");
    expect(err.details).toMatchObject({ reason: "mfa-code-required" });
    // The code used to confirm is spent; the next step's code is needed.
    const code = await codeAt(secret, Date.now() + 30_000);
    const s = await callAs<IssuedSession>(startSessionFn, user, { code });
    expect(s.mfa).toBe(true);
    const token = await decode((await signInWithCustomToken(s.customToken)).idToken);
    expect(token.mfa).toBe(true);
    const r = await callAs<IssuedSession>(refreshSessionFn, null, { refreshToken: s.refreshToken });
    expect((await decode((await signInWithCustomToken(r.customToken)).idToken)).mfa).toBe(true);
    const viaRecovery = await callAs<IssuedSession>(startSessionFn, user, { recoveryCode: recoveryCodes[0] });
    expect(viaRecovery.mfa).toBe(true);
  });

  it("upgrades a session with verifyMfa; MFA-required functions refuse until then", async () => {
    const s = await callAs<IssuedSession>(startSessionFn, user, {});
    const { idToken } = await signInWithCustomToken(s.customToken);
    const { secret } = await enrolled(user);
    const denied = await expectHttpsError(callAs(regenerateRecoveryCodes, { idToken }, null), "failed-precondition");
    expect(denied.details).toMatchObject({ reason: "mfa-required" });
    const noSession = await expectHttpsError(
      callAs(verifyMfa, user, { code: await codeAt(secret, Date.now() + 30_000) }),
      "failed-precondition",
    );
    expect(noSession.details).toMatchObject({ reason: "session-required" });
    const up = await callAs<{ customToken: string; mfa: boolean }>(
      verifyMfa,
      { idToken },
      {
        code: await codeAt(secret, Date.now() + 30_000),
      },
    );
    const upgraded = (await signInWithCustomToken(up.customToken)).idToken;
    expect((await decode(upgraded)).mfa).toBe(true);
    expect((await decode(upgraded)).sid).toBe(s.sessionId);
    const codes = await callAs<{ recoveryCodes: string[] }>(regenerateRecoveryCodes, { idToken: upgraded }, null);
    expect(codes.recoveryCodes).toHaveLength(10);
    // The session itself is now MFA-verified: a refresh keeps the level.
    const r = await callAs<IssuedSession>(refreshSessionFn, null, { refreshToken: s.refreshToken });
    expect(r.mfa).toBe(true);
    const doc = (await rootFirestore().doc(`sessions/${s.sessionId}`).get()).data();
    expect(doc).toMatchObject({ mfa: true, generation: 1 });
    expect(doc?.mfaAt).toBeDefined();
  });

  it("disables MFA only from an MFA session, with a current code or a recovery code", async () => {
    const { secret, recoveryCodes } = await enrolled(user);
    const password = await expectHttpsError(
      callAs(disableMfa, user, { recoveryCode: recoveryCodes[0] }),
      "failed-precondition",
    );
    expect(password.details).toMatchObject({ reason: "mfa-required" });
    const s = await callAs<IssuedSession>(startSessionFn, user, { code: await codeAt(secret, Date.now() + 30_000) });
    const mfaSession = { idToken: (await signInWithCustomToken(s.customToken)).idToken };
    await expectHttpsError(callAs(disableMfa, mfaSession, { code: "000000" }), "permission-denied");
    await expectHttpsError(callAs(disableMfa, mfaSession, {}), "invalid-argument");
    expect((await mfaDoc(user.uid))?.status).toBe("enabled");
    await callAs(disableMfa, mfaSession, { recoveryCode: recoveryCodes[3] });
    expect(await mfaDoc(user.uid)).toBeUndefined();
    expect((await adminAuth().getUser(user.uid)).customClaims?.mfaEnrolled).toBeUndefined();
    const second = await enrolled(user);
    expect(second.secret).not.toBe(secret);
    expect((await adminAuth().getUser(user.uid)).customClaims?.mfaEnrolled).toBe(true);
    await callAs(disableMfa, mfaSession, { code: await codeAt(second.secret, Date.now() + 30_000) });
    expect(await mfaDoc(user.uid)).toBeUndefined();
  });
});

describe("tenant MFA policy", () => {
  it("covers inherited roles: members of covered roles enrol, then verify, before using tenant functions", async () => {
    const [owner, member, viewer] = await Promise.all([createTestUser(), createTestUser(), createTestUser()]);
    const tid = await seedTenant({
      owner: { user: owner, roles: ["owner"] },
      member: { user: member, roles: ["ops"] },
      viewer: { user: viewer, roles: ["viewer"] },
    });
    // A custom role inheriting admin: a policy naming admin covers it (and owner, who inherits admin).
    await rootFirestore()
      .doc(`tenants/${tid}/roles/ops`)
      .set({ permissions: [], inherits: ["admin"] });

    // The owner may not lock themselves out: owner inherits admin.
    const self = await expectHttpsError(
      callAs(setTenantMfaPolicy, owner, { requiredRoles: ["admin"] }),
      "failed-precondition",
    );
    expect(self.details).toMatchObject({ reason: "mfa-enrollment-required" });
    await expectHttpsError(callAs(setTenantMfaPolicy, viewer, { requiredRoles: ["viewer"] }), "permission-denied");
    const ownerMfa = await enrolled(owner);
    const os = await callAs<IssuedSession>(startSessionFn, owner, {
      code: await codeAt(ownerMfa.secret, Date.now() + 30_000),
    });
    const ownerSession = { idToken: (await signInWithCustomToken(os.customToken)).idToken };
    expect(await callAs(setTenantMfaPolicy, ownerSession, { requiredRoles: ["admin", "admin"] })).toEqual({
      requiredRoles: ["admin"],
    });
    const stored = (await rootFirestore().doc(`tenants/${tid}`).get()).data();
    expect(stored).toMatchObject({ mfaRequiredRoles: ["admin"], mfaPolicyRoles: ["admin", "ops", "owner"] });

    const notEnrolled = await expectHttpsError(callAs(getTenant, member, null), "failed-precondition");
    expect(notEnrolled.details).toMatchObject({ reason: "mfa-enrollment-required" });
    const { secret } = await enrolled(member);
    const notVerified = await expectHttpsError(callAs(getTenant, member, null), "failed-precondition");
    expect(notVerified.details).toMatchObject({ reason: "mfa-required" });

    const s = await callAs<IssuedSession>(startSessionFn, member, { code: await codeAt(secret, Date.now() + 30_000) });
    const { idToken } = await signInWithCustomToken(s.customToken);
    const view = await callAs<{ id: string }>(getTenant, { idToken }, null);
    expect(view.id).toBe(tid);
    // Roles outside the policy are unaffected.
    await expect(callAs(getTenant, viewer, null)).resolves.toMatchObject({ id: tid });
  });
});

describe("logs", () => {
  it("never contain a TOTP secret, a code or a recovery code", () => {
    expect(logs.some((e) => e.securityEvent === "mfa-lockout")).toBe(true);
    expect(handled.length).toBeGreaterThan(20);
    const text = JSON.stringify(logs);
    for (const value of handled) {
      expect(text).not.toContain(value);
      expect(text).not.toContain(value.replace(/-/g, ""));
    }
  });
});
