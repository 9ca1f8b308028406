/**
 * Sessions against the real Firestore and Auth emulators: rotation, the grace interval, reuse
 * detection revoking every session and the user's Firebase tokens, concurrency, expiry,
 * revocation (by the user, a password change, revokeRefreshTokens, disable, delete), the session
 * check on every function, fork attempts and the custom-token claims.
 */
import { createHash } from "node:crypto";
import { adminAuth, rootFirestore } from "../../src/platform/admin";
import { metrics } from "../../src/platform/metrics";
import { configureSessionGuard, isSessionActive } from "../../src/platform/session-guard";
import {
  listSessions as listSessionsFn,
  refreshSession as refreshSessionFn,
  revokeAllSessions as revokeAllSessionsFn,
  revokeSession as revokeSessionFn,
  startSession as startSessionFn,
} from "../../src/sessions";
import { refreshSession, startSession, type IssuedSession } from "../../src/sessions/service";
import { enrollMfa } from "../../src/mfa";
import { whoami } from "../../src/auth";
import {
  callAs,
  countOps,
  createTestUser,
  decode,
  expectHttpsError,
  signInWithCustomToken,
  type TestUser,
} from "../support/firebase";
import { captureLogs } from "../support/observability-logs";

jest.setTimeout(60_000);

const logs = captureLogs();

const DAY = 86_400_000;
const policy = { absoluteTtlMs: 30 * DAY, idleTtlMs: 7 * DAY, graceMs: 10_000 };
const sha256 = (s: string) => createHash("sha256").update(s).digest("base64url");
const sessionDoc = async (sid: string) => (await rootFirestore().doc(`sessions/${sid}`).get()).data() ?? {};

/** A controllable clock. */
function clock(start = Date.now()) {
  let t = start;
  const now = () => t;
  return { now, advance: (ms: number) => (t += ms) };
}

let user: TestUser;
beforeEach(async () => {
  user = await createTestUser({ claims: { tid: "t-sessions", roles: ["member"] } });
  configureSessionGuard({ ttlMs: 0 });
});
afterAll(() => configureSessionGuard());

describe("starting a session", () => {
  it("mints a custom token carrying only sid and mfa; tid and roles in the ID token come from the stored claims", async () => {
    const issued = await callAs<IssuedSession>(startSessionFn, user, { label: "laptop" });
    expect(issued.refreshToken.startsWith(`${issued.sessionId}.0.`)).toBe(true);
    const minted = JSON.parse(Buffer.from(issued.customToken.split(".")[1], "base64url").toString("utf8"));
    expect(minted.claims).toEqual({ sid: issued.sessionId, mfa: false });
    const { idToken } = await signInWithCustomToken(issued.customToken);
    const token = await decode(idToken);
    expect(token.uid).toBe(user.uid);
    expect(token).toMatchObject({ tid: "t-sessions", roles: ["member"], sid: issued.sessionId, mfa: false });
    const developerClaims = { tid: token.tid, roles: token.roles, sid: token.sid, mfa: token.mfa };
    expect(Buffer.byteLength(JSON.stringify(developerClaims))).toBeLessThan(300);
    const reserved = ["acr", "amr", "at_hash", "aud", "auth_time", "azp", "cnf", "c_hash", "exp", "firebase"];
    reserved.push("iat", "iss", "jti", "nbf", "nonce", "sub");
    for (const name of Object.keys(developerClaims)) expect(reserved).not.toContain(name);
  });

  it("stores only the hash of the refresh token", async () => {
    const issued = await callAs<IssuedSession>(startSessionFn, user, {});
    const doc = await sessionDoc(issued.sessionId);
    expect(doc).toMatchObject({ uid: user.uid, tid: "t-sessions", mfa: false, generation: 0, status: "active" });
    expect(doc.tokenHash).toBe(sha256(issued.refreshToken));
    expect(JSON.stringify(doc)).not.toContain(issued.refreshToken.split(".")[2]);
    expect(doc.expiresAt.toMillis() - doc.createdAt.toMillis()).toBe(30 * DAY);
    expect(doc.idleExpiresAt.toMillis() - doc.createdAt.toMillis()).toBe(7 * DAY);
  });

  it("refuses bad input with invalid-argument and writes nothing", async () => {
    const { ops } = await countOps(() =>
      expectHttpsError(callAs(startSessionFn, user, { code: "12ab56", label: 7 }), "invalid-argument"),
    );
    // Other suites may share the emulator: look at what this user's calls could have written.
    expect(ops.log.filter((e) => e.kind !== "read" && /^sessions\/|^users\//.test(e.path))).toEqual([]);
    const err = await expectHttpsError(callAs(refreshSessionFn, null, { refreshToken: 42 }), "invalid-argument");
    expect(Object.keys((err.details as { fields: object }).fields)).toEqual(["refreshToken"]);
  });

  it("requires a signed-in caller", async () => {
    await expectHttpsError(callAs(startSessionFn, null, {}), "unauthenticated");
  });

  it("refuses a sign-in made with a session's own custom token: no forked family", async () => {
    const s = await callAs<IssuedSession>(startSessionFn, user, {});
    const r = await callAs<IssuedSession>(refreshSessionFn, null, { refreshToken: s.refreshToken });
    const { idToken } = await signInWithCustomToken(r.customToken);
    const { ops } = await countOps(async () => {
      const err = await expectHttpsError(callAs(startSessionFn, { idToken }, {}), "failed-precondition");
      expect(err.details).toMatchObject({ reason: "session-token" });
    });
    expect(ops.log.filter((e) => e.kind !== "read" && e.path.startsWith("sessions/"))).toEqual([]);
  });

  it("refuses a sign-in older than RECENT_SIGN_IN_SECONDS", async () => {
    configureSessionGuard({ ttlMs: 0, policy: { sessionRequired: false, recentSignInMs: 0 } });
    const err = await expectHttpsError(callAs(startSessionFn, user, {}), "failed-precondition");
    expect(err.details).toMatchObject({ reason: "recent-sign-in-required" });
  });
});

describe("refresh token rotation", () => {
  it("rotates: the successor works, and costs one read and one write of the session", async () => {
    const first = await callAs<IssuedSession>(startSessionFn, user, {});
    const { result: second, ops } = await countOps(() =>
      callAs<IssuedSession>(refreshSessionFn, null, { refreshToken: first.refreshToken }),
    );
    expect(second.sessionId).toBe(first.sessionId);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.refreshToken.startsWith(`${first.sessionId}.1.`)).toBe(true);
    const sessionOps = ops.log.filter((e) => e.path.endsWith(`sessions/${first.sessionId}`));
    // Exactly one read and one write of the session document, both inside one transaction.
    expect(sessionOps.map((e) => e.kind).sort()).toEqual(["read", "write"]);
    expect(sessionOps.every((e) => e.transaction)).toBe(true);
    const doc = await sessionDoc(first.sessionId);
    expect(doc).toMatchObject({ generation: 1, tokenHash: sha256(second.refreshToken) });
    expect(doc.prevTokenHash).toBe(sha256(first.refreshToken));
    const third = await callAs<IssuedSession>(refreshSessionFn, null, { refreshToken: second.refreshToken });
    expect(third.refreshToken.startsWith(`${first.sessionId}.2.`)).toBe(true);
    const { idToken } = await signInWithCustomToken(third.customToken);
    expect((await decode(idToken)).sid).toBe(first.sessionId);
  });

  it("answers the previous token inside the grace interval with the same successor, without a write", async () => {
    const c = clock();
    const deps = { now: c.now, policy };
    const s0 = await startSession({ uid: user.uid, tid: null, mfa: false, label: "t", authTime: Date.now() }, deps);
    const s1 = await refreshSession(s0.refreshToken, deps);
    c.advance(10_000);
    const { result: again, ops } = await countOps(() => refreshSession(s0.refreshToken, deps));
    expect(again.refreshToken).toBe(s1.refreshToken);
    expect(ops.log.filter((e) => e.path === `sessions/${s0.sessionId}`).map((e) => e.kind)).toEqual(["read"]);
    expect((await sessionDoc(s0.sessionId)).generation).toBe(1);
    // The successor handed out twice is still the live one.
    const s2 = await refreshSession(s1.refreshToken, deps);
    expect(s2.refreshToken.startsWith(`${s0.sessionId}.2.`)).toBe(true);
  });

  it("yields exactly one successor to 20 concurrent refreshes of one token", async () => {
    const s0 = await callAs<IssuedSession>(startSessionFn, user, {});
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => refreshSession(s0.refreshToken, { policy: { ...policy, graceMs: 60_000 } })),
    );
    const tokens = results.map((r) => (r.status === "fulfilled" ? r.value.refreshToken : `error: ${String(r.reason)}`));
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0].startsWith(`${s0.sessionId}.1.`)).toBe(true);
    const doc = await sessionDoc(s0.sessionId);
    expect(doc.generation).toBe(1);
    expect(doc.tokenHash).toBe(sha256(tokens[0]));
  });
});

describe("reuse detection", () => {
  it("revokes every session and the user's Firebase tokens when the previous token comes back after the grace interval", async () => {
    const c = clock();
    const deps = { now: c.now, policy };
    const s0 = await startSession({ uid: user.uid, tid: null, mfa: false, label: "t", authTime: Date.now() }, deps);
    const elsewhere = await startSession({
      uid: user.uid,
      tid: null,
      mfa: false,
      label: "t2",
      authTime: Date.now(),
    });
    const s1 = await refreshSession(s0.refreshToken, deps);
    const { idToken } = await signInWithCustomToken(s1.customToken);
    await adminAuth().verifyIdToken(idToken, true);
    // Firebase compares revocation time with auth_time in whole seconds: let a second pass.
    await new Promise((r) => setTimeout(r, 1100));
    c.advance(10_001);
    const before = metrics.value("session_reuse_detected_total", { reason: "previous-after-grace" });
    const err = await refreshSession(s0.refreshToken, deps).then(
      () => null,
      (e: unknown) => e as { code: string; details: { reason: string } },
    );
    expect(err).toMatchObject({ code: "unauthenticated", details: { reason: "refresh-token-reused" } });
    // The message says every session on every device: so it is.
    expect(String((err as unknown as Error).message)).toMatch(/every session/);
    expect(await sessionDoc(elsewhere.sessionId)).toMatchObject({
      status: "revoked",
      revokedReason: "refresh-token-reused",
    });
    expect(metrics.value("session_reuse_detected_total", { reason: "previous-after-grace" })).toBe(before + 1);
    expect(await sessionDoc(s0.sessionId)).toMatchObject({ status: "revoked", revokedReason: "refresh-token-reused" });
    // The thief's (or victim's) newer token is dead too …
    await expect(refreshSession(s1.refreshToken, deps)).rejects.toMatchObject({
      details: { reason: "session-revoked" },
    });
    // … and so is every Firebase ID token of the user, checked with revocation by the Auth emulator.
    await expect(adminAuth().verifyIdToken(idToken, true)).rejects.toMatchObject({
      code: "auth/id-token-revoked",
    });
  });

  it("treats an older token as reuse even inside the grace interval", async () => {
    const c = clock();
    const deps = { now: c.now, policy };
    const s0 = await startSession({ uid: user.uid, tid: null, mfa: false, label: "t", authTime: Date.now() }, deps);
    const s1 = await refreshSession(s0.refreshToken, deps);
    await refreshSession(s1.refreshToken, deps);
    await expect(refreshSession(s0.refreshToken, deps)).rejects.toMatchObject({
      details: { reason: "refresh-token-reused" },
    });
    expect((await sessionDoc(s0.sessionId)).status).toBe("revoked");
  });

  it("ends the session of a user who was disabled", async () => {
    const s0 = await callAs<IssuedSession>(startSessionFn, user, {});
    await adminAuth().updateUser(user.uid, { disabled: true });
    await expect(refreshSession(s0.refreshToken)).rejects.toMatchObject({
      code: "unauthenticated",
      details: { reason: "user-disabled" },
    });
    expect(await sessionDoc(s0.sessionId)).toMatchObject({ status: "revoked", revokedReason: "user-disabled" });
  });

  it("ends the session once the user changes their password or their tokens are revoked", async () => {
    for (const revokeTokens of [
      (uid: string) => adminAuth().updateUser(uid, { password: "another-horse-battery" }),
      (uid: string) => adminAuth().revokeRefreshTokens(uid),
    ]) {
      const u = await createTestUser();
      const s0 = await startSession({ uid: u.uid, tid: null, mfa: false, label: "t", authTime: Date.now() });
      await refreshSession(s0.refreshToken);
      // Revocation has one-second granularity (auth_time vs tokensValidAfterTime).
      await new Promise((r) => setTimeout(r, 1100));
      await revokeTokens(u.uid);
      await expect(refreshSession(s0.refreshToken)).rejects.toMatchObject({
        code: "unauthenticated",
        details: { reason: "tokens-revoked" },
      });
      expect(await sessionDoc(s0.sessionId)).toMatchObject({ status: "revoked", revokedReason: "tokens-revoked" });
    }
  });

  it("ends the session of a deleted user", async () => {
    const u = await createTestUser();
    const s0 = await startSession({ uid: u.uid, tid: null, mfa: false, label: "t", authTime: Date.now() });
    await adminAuth().deleteUser(u.uid);
    await expect(refreshSession(s0.refreshToken)).rejects.toMatchObject({ details: { reason: "user-deleted" } });
    expect((await sessionDoc(s0.sessionId)).status).toBe("revoked");
  });

  it("rejects a forged token for a real family without revoking it", async () => {
    const s0 = await callAs<IssuedSession>(startSessionFn, user, {});
    const forged = `${s0.sessionId}.0.${"A".repeat(43)}`;
    const err = await expectHttpsError(callAs(refreshSessionFn, null, { refreshToken: forged }), "unauthenticated");
    expect(err.details).toMatchObject({ reason: "invalid-refresh-token" });
    expect((await sessionDoc(s0.sessionId)).status).toBe("active");
    for (const junk of ["nope", `${"0".repeat(32)}.0.${"A".repeat(43)}`]) {
      await expectHttpsError(callAs(refreshSessionFn, null, { refreshToken: junk }), "unauthenticated");
    }
  });
});

describe("expiry", () => {
  it("ends a session at its absolute expiry even when refreshed every day", async () => {
    const c = clock();
    const deps = { now: c.now, policy };
    let s = await startSession({ uid: user.uid, tid: null, mfa: false, label: "t", authTime: Date.now() }, deps);
    for (let day = 0; day < 29; day++) {
      c.advance(DAY);
      s = await refreshSession(s.refreshToken, deps);
    }
    expect(new Date(s.idleExpiresAt).getTime()).toBe(new Date(s.expiresAt).getTime());
    c.advance(DAY);
    await expect(refreshSession(s.refreshToken, deps)).rejects.toMatchObject({
      code: "unauthenticated",
      details: { reason: "session-expired" },
    });
  });

  it("ends a session unused for the idle interval", async () => {
    const c = clock();
    const deps = { now: c.now, policy };
    const s0 = await startSession({ uid: user.uid, tid: null, mfa: false, label: "t", authTime: Date.now() }, deps);
    c.advance(6 * DAY);
    const s1 = await refreshSession(s0.refreshToken, deps);
    c.advance(7 * DAY - 1);
    const s2 = await refreshSession(s1.refreshToken, deps);
    c.advance(7 * DAY);
    await expect(refreshSession(s2.refreshToken, deps)).rejects.toMatchObject({
      details: { reason: "session-idle-expired" },
    });
  });
});

describe("listing and revoking sessions", () => {
  it("lists the caller's sessions, revokes one, and hides other users' sessions", async () => {
    const a = await callAs<IssuedSession>(startSessionFn, user, { label: "phone" });
    const b = await callAs<IssuedSession>(startSessionFn, user, { label: "laptop" });
    const { idToken } = await signInWithCustomToken(b.customToken);
    const listed = await callAs<{ sessions: { sessionId: string; label: string; current: boolean }[] }>(
      listSessionsFn,
      { idToken },
      null,
    );
    expect(listed.sessions.map((s) => s.sessionId).sort()).toEqual([a.sessionId, b.sessionId].sort());
    expect(listed.sessions.find((s) => s.current)?.sessionId).toBe(b.sessionId);
    expect(JSON.stringify(listed)).not.toMatch(/tokenHash|seed/);

    const other = await createTestUser();
    await expectHttpsError(callAs(revokeSessionFn, other, { sessionId: a.sessionId }), "not-found");
    expect((await sessionDoc(a.sessionId)).status).toBe("active");

    expect(await callAs(revokeSessionFn, user, { sessionId: a.sessionId })).toEqual({ revoked: true });
    await expect(refreshSession(a.refreshToken)).rejects.toMatchObject({ details: { reason: "session-revoked" } });
    const after = await callAs<{ sessions: { sessionId: string }[] }>(listSessionsFn, user, {});
    expect(after.sessions.map((s) => s.sessionId)).toEqual([b.sessionId]);
  });

  it("revokes all sessions and the user's Firebase tokens", async () => {
    const a = await callAs<IssuedSession>(startSessionFn, user, {});
    const b = await callAs<IssuedSession>(startSessionFn, user, {});
    await new Promise((r) => setTimeout(r, 1100));
    expect(await callAs(revokeAllSessionsFn, user, null)).toEqual({ revoked: 2 });
    for (const s of [a, b]) {
      await expect(refreshSession(s.refreshToken)).rejects.toMatchObject({ details: { reason: "session-revoked" } });
    }
    await expect(adminAuth().verifyIdToken(user.idToken, true)).rejects.toMatchObject({
      code: "auth/id-token-revoked",
    });
  });
});

describe("every function checks the session", () => {
  it("refuses a token whose session was revoked, even though the ID token itself is valid", async () => {
    const s = await callAs<IssuedSession>(startSessionFn, user, {});
    const { idToken } = await signInWithCustomToken(s.customToken);
    await callAs(enrollMfa, { idToken }, null);
    await callAs(whoami, { idToken }, null);
    await callAs(revokeSessionFn, user, { sessionId: s.sessionId });
    for (const fn of [enrollMfa, whoami, listSessionsFn] as never[]) {
      const err = await expectHttpsError(callAs(fn, { idToken }, null), "unauthenticated");
      expect(err.details).toMatchObject({ reason: "session-revoked" });
    }
  });

  it("caches an active answer for the configured seconds, no longer", async () => {
    const c = clock();
    configureSessionGuard({ ttlMs: 5000, now: c.now });
    const s = await startSession(
      { uid: user.uid, tid: null, mfa: false, label: "t", authTime: Date.now() },
      { now: c.now },
    );
    expect(await isSessionActive(s.sessionId, user.uid)).toBe(true);
    // Revoked by "another instance": straight in the database, this instance's cache untouched.
    await rootFirestore().doc(`sessions/${s.sessionId}`).update({ status: "revoked" });
    c.advance(4999);
    expect(await isSessionActive(s.sessionId, user.uid)).toBe(true);
    c.advance(2);
    expect(await isSessionActive(s.sessionId, user.uid)).toBe(false);
    expect(await isSessionActive(s.sessionId, "someone-else")).toBe(false);
  });
});

describe("logs", () => {
  it("never contain a refresh token, a custom or ID token", () => {
    const text = JSON.stringify(logs);
    // The reuse test above logged a security event: the capture works, so the check can fail.
    expect(logs.some((e) => e.securityEvent === "refresh-token-reused")).toBe(true);
    expect(text).not.toMatch(/[0-9a-f]{32}\.\d+\.[A-Za-z0-9_-]{43}/);
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/);
  });
});
