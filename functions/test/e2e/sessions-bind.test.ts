/**
 * Sessions and MFA that bind, black-box: HTTP against the functions emulator with real ID tokens
 * from the Auth emulator, Firebase's own token refresh through the emulator's `securetoken`
 * endpoint (what the web SDK does by itself, without ever calling refreshSession), and the
 * Firestore rules decisions of the official emulator over its REST API with those same tokens.
 *
 * The Auth emulator does not refuse revoked refresh tokens and accepts unsigned tokens, so
 * nothing here relies on it refusing anything: every assertion is on what our functions or our
 * rules decide. The session-status bound is the deployed default (SESSION_STATUS_CACHE_SECONDS,
 * 30 s): the revocation test waits for it.
 */
import { adminAuth } from "../../src/platform/admin";
import { totpAt } from "../../src/mfa/totp";
import { createTestUser, decode, refreshUser, signInWithCustomToken, type TestUser } from "../support/firebase";
import { callCallable, type CallableHttpResponse } from "../support/http";

const BOUND_MS = 30_000;
jest.setTimeout(120_000);

interface Issued {
  sessionId: string;
  refreshToken: string;
  customToken: string;
  mfa: boolean;
}

function ok<T>(res: CallableHttpResponse<T>): T {
  if (res.status !== 200 || res.result === undefined) {
    throw new Error(`expected 200, got ${res.status}: ${JSON.stringify(res.error)}`);
  }
  return res.result;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Firebase's own ID-token refresh, as the web SDK does it every hour. */
async function securetokenRefresh(refreshToken: string): Promise<{ idToken: string; refreshToken: string }> {
  const res = await fetch(
    `http://${process.env.FIREBASE_AUTH_EMULATOR_HOST}/securetoken.googleapis.com/v1/token?key=fake`,
    {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken }).toString(),
    },
  );
  const json = (await res.json()) as { id_token: string; refresh_token: string };
  if (!res.ok) throw new Error(`securetoken refresh failed: ${res.status}`);
  return { idToken: json.id_token, refreshToken: json.refresh_token };
}

/** What firestore.rules decide for a client read of `path` with `idToken` (official emulator, REST). */
async function rulesRead(path: string, idToken: string): Promise<number> {
  const host = process.env.FIRESTORE_CLIENT_HOST ?? "127.0.0.1:8080";
  const res = await fetch(
    `http://${host}/v1/projects/${process.env.GCLOUD_PROJECT}/databases/(default)/documents/${path}`,
    { headers: { authorization: `Bearer ${idToken}` } },
  );
  await res.text();
  return res.status;
}

/** A user who created their own tenant and holds a token naming it. */
async function owner(): Promise<{ user: TestUser; tid: string }> {
  const user = await createTestUser();
  const created = ok(await callCallable<{ tenantId: string }>("createTenant", { name: "Bind" }, user.idToken));
  await refreshUser(user);
  return { user, tid: created.tenantId };
}

async function session(user: TestUser, data: Record<string, unknown> = {}) {
  const issued = ok(await callCallable<Issued>("startSession", data, user.idToken));
  const signIn = await signInWithCustomToken(issued.customToken);
  return { issued, ...signIn };
}

describe("sessions bind every function and rule", () => {
  it("refuses getTenant within the bound after revokeSession, although Firebase keeps refreshing the ID token", async () => {
    const { user, tid } = await owner();
    const s = await session(user);
    expect(ok(await callCallable<{ id: string }>("getTenant", {}, s.idToken)).id).toBe(tid);
    expect(await rulesRead(`tenants/${tid}`, s.idToken)).toBe(200);

    ok(await callCallable("revokeSession", { sessionId: s.issued.sessionId }, user.idToken));
    const revokedAt = Date.now();
    // The app's own refresh ends at once; the rules read the session document, so they refuse at once.
    expect((await callCallable("refreshSession", { refreshToken: s.issued.refreshToken })).status).toBe(401);
    expect(await rulesRead(`tenants/${tid}`, s.idToken)).toBe(403);

    // Firebase's refresh token still mints ID tokens naming the session (the emulator never refuses):
    let firebaseRefresh = s.refreshToken;
    let refusedAfter: number | undefined;
    let last: CallableHttpResponse | undefined;
    while (Date.now() - revokedAt < BOUND_MS + 10_000) {
      const fresh = await securetokenRefresh(firebaseRefresh);
      firebaseRefresh = fresh.refreshToken;
      expect((await decode(fresh.idToken)).sid).toBe(s.issued.sessionId);
      last = await callCallable("getTenant", {}, fresh.idToken);
      if (last.status !== 200) {
        refusedAfter = Date.now() - revokedAt;
        break;
      }
      await sleep(1000);
    }
    expect(last?.error).toMatchObject({ status: "UNAUTHENTICATED", details: { reason: "session-revoked" } });
    expect(refusedAfter).toBeLessThanOrEqual(BOUND_MS + 2_000);
  });

  it("ends refreshSession and every function once the password changes", async () => {
    const { user, tid } = await owner();
    const s = await session(user);
    // Revocation has one-second granularity (auth_time vs tokensValidAfterTime).
    await sleep(1_100);
    await adminAuth().updateUser(user.uid, { password: "a-brand-new-password" });
    const refreshed = await callCallable("refreshSession", { refreshToken: s.issued.refreshToken });
    expect(refreshed.status).toBe(401);
    expect(refreshed.error).toMatchObject({ details: { reason: "tokens-revoked" } });
    // Never called before on this user, so no cached state: refused at once.
    const listed = await callCallable("listMembers", {}, (await securetokenRefresh(s.refreshToken)).idToken);
    expect(listed.error).toMatchObject({ status: "UNAUTHENTICATED" });
    expect(tid).toBeTruthy();
  });

  it("refuses to fork a family from a stolen refresh token (the session's own sign-in carries sid)", async () => {
    const { user } = await owner();
    const s = await session(user);
    // The attacker exchanges the stolen app refresh token and signs in with the custom token …
    const stolen = ok(await callCallable<Issued>("refreshSession", { refreshToken: s.issued.refreshToken }));
    const attacker = await signInWithCustomToken(stolen.customToken);
    const forked = await callCallable("startSession", {}, attacker.idToken);
    expect(forked.status).toBe(400);
    expect(forked.error).toMatchObject({ status: "FAILED_PRECONDITION", details: { reason: "session-token" } });
    // … or with Firebase's refresh token of that sign-in: still the session's, still refused.
    const viaFirebase = await securetokenRefresh(attacker.refreshToken);
    expect((await callCallable("startSession", {}, viaFirebase.idToken)).error).toMatchObject({
      details: { reason: "session-token" },
    });
    // Reuse detection then ends the one family there is, on every device, as its message says.
    await callCallable("refreshSession", { refreshToken: stolen.refreshToken });
    const reused = await callCallable("refreshSession", { refreshToken: s.issued.refreshToken });
    expect(reused.error).toMatchObject({ details: { reason: "refresh-token-reused" } });
    expect(reused.error?.message).toMatch(/every session/);
  });

  it("gives an MFA-enrolled user nothing in the tenant with a password-only token", async () => {
    const { user, tid } = await owner();
    const enrolment = ok(await callCallable<{ secret: string }>("enrollMfa", null, user.idToken));
    ok(await callCallable("confirmMfa", { code: await totpAt(enrolment.secret, Date.now()) }, user.idToken));
    await refreshUser(user);

    const email = `invitee-${Date.now()}@example.test`;
    const refused = await callCallable("inviteMember", { email }, user.idToken);
    expect(refused.status).toBe(400);
    expect(refused.error).toMatchObject({ status: "FAILED_PRECONDITION", details: { reason: "mfa-required" } });
    expect(await rulesRead(`tenants/${tid}`, user.idToken)).toBe(403);
    // whoami-like and MFA functions still answer, so the client can finish signing in.
    expect((await callCallable("whoami", null, user.idToken)).status).toBe(200);

    const s = await session(user, { code: await totpAt(enrolment.secret, Date.now() + 30_000) });
    expect(s.issued.mfa).toBe(true);
    expect(ok(await callCallable<{ status: string }>("inviteMember", { email }, s.idToken)).status).toBe("pending");
    expect(await rulesRead(`tenants/${tid}`, s.idToken)).toBe(200);
  });

  it("applies a demotion to the rules at once, whatever the token's roles claim says", async () => {
    const { user: ownerUser, tid } = await owner();
    const admin = await createTestUser();
    ok(await callCallable("inviteMember", { email: admin.email, roles: ["admin"] }, ownerUser.idToken));
    await adminAuth().updateUser(admin.uid, { emailVerified: true });
    await refreshUser(admin);
    const [inv] = ok(
      await callCallable<{ invitations: { invitationId: string }[] }>("listMyInvitations", null, admin.idToken),
    ).invitations;
    ok(await callCallable("acceptInvitation", { invitationId: inv.invitationId }, admin.idToken));
    await refreshUser(admin);
    const adminToken = admin.idToken;
    expect((await decode(adminToken)).roles).toEqual(["admin"]);
    // An admin-only collection (webhook delivery logs): a list read answers 200 for an admin.
    expect(await rulesRead(`tenants/${tid}/webhookDeliveries`, adminToken)).toBe(200);

    ok(await callCallable("assignRoles", { uid: admin.uid, roles: ["member"] }, ownerUser.idToken));
    // The held token still says admin; the membership document decides.
    expect((await decode(adminToken)).roles).toEqual(["admin"]);
    expect(await rulesRead(`tenants/${tid}/webhookDeliveries`, adminToken)).toBe(403);
    expect(await rulesRead(`tenants/${tid}`, adminToken)).toBe(200);
  });

  it("gives a removed member who signs in again with a held custom token nothing", async () => {
    const { user: ownerUser, tid } = await owner();
    const member = await createTestUser();
    ok(await callCallable("inviteMember", { email: member.email, roles: ["member"] }, ownerUser.idToken));
    await adminAuth().updateUser(member.uid, { emailVerified: true });
    await refreshUser(member);
    const [inv] = ok(
      await callCallable<{ invitations: { invitationId: string }[] }>("listMyInvitations", null, member.idToken),
    ).invitations;
    ok(await callCallable("acceptInvitation", { invitationId: inv.invitationId }, member.idToken));
    await refreshUser(member);
    const held = await session(member);
    await sleep(1_100);
    ok(await callCallable("removeMember", { uid: member.uid }, ownerUser.idToken));

    // Signing in again with the custom token kept from before the removal:
    const again = await signInWithCustomToken(held.issued.customToken);
    const claims = await decode(again.idToken);
    expect(claims.roles).toBeUndefined(); // the custom token never carried tid/roles
    expect((await callCallable("getTenant", {}, again.idToken)).status).not.toBe(200);
    expect(await rulesRead(`tenants/${tid}`, again.idToken)).toBe(403);
    // Even forging the tenant into the token opens nothing: the membership is gone.
    expect(await rulesRead(`tenants/${tid}`, member.idToken)).toBe(403);
  });

  it("refuses reads of a suspended tenant in the rules, and its functions", async () => {
    const { user, tid } = await owner();
    expect(await rulesRead(`tenants/${tid}`, user.idToken)).toBe(200);
    const operator = await createTestUser({ claims: { platformAdmin: true } });
    ok(await callCallable("suspendTenant", { tenantId: tid }, operator.idToken));
    expect(await rulesRead(`tenants/${tid}`, user.idToken)).toBe(403);
    expect(await rulesRead(`tenants/${tid}/members/${user.uid}`, user.idToken)).toBe(403);
    expect((await callCallable("getTenant", {}, user.idToken)).error).toMatchObject({ status: "PERMISSION_DENIED" });
  });
});
