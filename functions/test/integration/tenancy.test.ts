/**
 * Tenants, memberships, claims and the tenant cache, over the real Firestore and Auth emulators.
 */
import type { DecodedIdToken } from "firebase-admin/auth";
import { adminAuth, rootFirestore } from "../../src/platform/admin";
import {
  createTenant,
  getTenant,
  acceptInvitation,
  declineInvitation,
  inviteMember,
  listInvitations,
  listMembers,
  listMyInvitations,
  reactivateTenant,
  removeMember,
  revokeInvitation,
  suspendTenant,
  switchTenant,
  updateTenant,
} from "../../src/tenancy";
import { TenantDb } from "../../src/tenancy/db";
import { loadTenantAndMember, resolveTenant, setTenantCache, TenantCache } from "../../src/tenancy/resolver";
import { CLAIMS_LIMIT_BYTES, claimsBytes, syncClaims } from "../../src/tenancy/service";
import {
  callAs,
  countOps,
  createTestUser,
  decode,
  expectHttpsError,
  newTenantId,
  refreshUser,
  seedTenant,
  type OperationLog,
  type TestUser,
} from "../support/firebase";

jest.setTimeout(60_000);

const db = () => rootFirestore();
const claimsOf = async (uid: string) => (await adminAuth().getUser(uid)).customClaims ?? {};
const configVersion = async (tid: string) => Number((await db().doc(`tenants/${tid}`).get()).get("configVersion"));

/** Invokes a callable with an already decoded token, as the callable protocol would after its own check. */
function callWithToken(fn: unknown, token: DecodedIdToken, rawToken: string, data: unknown = {}) {
  const request = {
    data,
    auth: { uid: token.uid, token, rawToken },
    rawRequest: { headers: { authorization: `Bearer ${rawToken}` }, method: "POST", body: { data } },
    acceptsStreaming: false,
  };
  return (fn as { run(request: unknown): Promise<unknown> }).run(request);
}

/** Operation-log entries that touched `tenants/{tid}` or below (the log is shared by parallel suites). */
const under = (ops: OperationLog, tid: string) =>
  ops.log.filter((e) => e.path === `tenants/${tid}` || e.path.startsWith(`tenants/${tid}/`));

describe("createTenant", () => {
  it("makes the caller the owner and the new tenant their active one, keeping their other claims", async () => {
    const user = await createTestUser({ claims: { platformAdmin: true, plan: "pro" } });
    const result = await callAs(createTenant, user, { name: "  Acme Ltd  " });
    expect(result).toMatchObject({ name: "Acme Ltd", roles: ["owner"], refreshToken: true });

    const tenant = await db().doc(`tenants/${result.tenantId}`).get();
    expect(tenant.data()).toMatchObject({ name: "Acme Ltd", status: "active", configVersion: 1, createdBy: user.uid });
    const member = await db().doc(`tenants/${result.tenantId}/members/${user.uid}`).get();
    expect(member.data()).toMatchObject({ roles: ["owner"], status: "active", email: user.email });

    const claims = await claimsOf(user.uid);
    expect(claims).toEqual({ platformAdmin: true, plan: "pro", tid: result.tenantId, roles: ["owner"] });
    expect(claimsBytes(claims)).toBeLessThan(CLAIMS_LIMIT_BYTES / 4);
    const token = await decode((await refreshUser(user)).idToken);
    expect({ tid: token.tid, roles: token.roles }).toEqual({ tid: result.tenantId, roles: ["owner"] });
  });

  it("refuses a blank name with the field error and creates nothing", async () => {
    const user = await createTestUser();
    const error = await expectHttpsError(callAs(createTenant, user, { name: "   " }), "invalid-argument");
    expect(Object.keys((error.details as { fields: object }).fields)).toEqual(["name"]);
    const created = await db().collection("tenants").where("createdBy", "==", user.uid).get();
    expect(created.size).toBe(0);
    expect(await claimsOf(user.uid)).toEqual({});
  });

  it("refuses signed-out callers", async () => {
    await expectHttpsError(callAs(createTenant, null, { name: "x" }), "unauthenticated");
  });
});

describe("getTenant and updateTenant", () => {
  let owner: TestUser, admin: TestUser, member: TestUser, tid: string;

  beforeAll(async () => {
    [owner, admin, member] = await Promise.all([createTestUser(), createTestUser(), createTestUser()]);
    tid = await seedTenant({
      owner: { user: owner, roles: ["owner"] },
      admin: { user: admin, roles: ["admin"] },
      member: { user: member, roles: ["member"] },
    });
  });

  it("returns the active tenant to a member", async () => {
    await expect(callAs(getTenant, member, {})).resolves.toMatchObject({ id: tid, status: "active" });
  });

  it("lets an admin rename the tenant and bumps configVersion", async () => {
    const before = await configVersion(tid);
    const view = await callAs(updateTenant, admin, { name: "Renamed" });
    expect(view).toMatchObject({ id: tid, name: "Renamed", configVersion: before + 1 });
    expect(await configVersion(tid)).toBe(before + 1);
    await expect(callAs(getTenant, owner, {})).resolves.toMatchObject({ name: "Renamed" });
  });

  it("refuses a member (permission-denied) and bad input (invalid-argument), changing nothing", async () => {
    const before = (await db().doc(`tenants/${tid}`).get()).data();
    await expectHttpsError(callAs(updateTenant, member, { name: "Mine now" }), "permission-denied");
    await expectHttpsError(callAs(updateTenant, owner, { name: "x".repeat(101) }), "invalid-argument");
    await expectHttpsError(callAs(updateTenant, owner, { name: "ok", status: "suspended" }), "invalid-argument");
    expect((await db().doc(`tenants/${tid}`).get()).data()).toEqual(before);
  });
});

describe("suspendTenant and reactivateTenant", () => {
  let owner: TestUser, operator: TestUser, tid: string;

  beforeAll(async () => {
    [owner, operator] = await Promise.all([createTestUser(), createTestUser({ claims: { platformAdmin: true } })]);
    tid = await seedTenant({ owner: { user: owner, roles: ["owner"] } });
  });

  it("is refused to a tenant owner who is not a platform admin", async () => {
    await expectHttpsError(callAs(suspendTenant, owner, { tenantId: tid }), "permission-denied");
    expect((await db().doc(`tenants/${tid}`).get()).get("status")).toBe("active");
  });

  it("suspends: every tenant function then answers permission-denied (tenant-suspended); reactivation restores", async () => {
    const before = await configVersion(tid);
    await callAs(getTenant, owner, {}); // warm this instance's cache with "active"
    await expect(callAs(suspendTenant, operator, { tenantId: tid, reason: "unpaid" })).resolves.toMatchObject({
      status: "suspended",
      configVersion: before + 1,
    });
    for (const [fn, data] of [
      [getTenant, {}],
      [listMembers, {}],
      [updateTenant, { name: "x" }],
      [inviteMember, { email: "someone@example.test" }],
    ] as const) {
      const error = await expectHttpsError(callAs(fn as never, owner, data), "permission-denied");
      expect((error.details as { reason?: string }).reason).toBe("tenant-suspended");
    }
    await callAs(reactivateTenant, operator, { tenantId: tid });
    await expect(callAs(getTenant, owner, {})).resolves.toMatchObject({ status: "active" });
    expect(await configVersion(tid)).toBe(before + 2);
  });

  it("answers not-found for a tenant that does not exist and invalid-argument for a malformed id", async () => {
    await expectHttpsError(callAs(suspendTenant, operator, { tenantId: newTenantId() }), "not-found");
    await expectHttpsError(callAs(suspendTenant, operator, { tenantId: "../x" }), "invalid-argument");
  });
});

describe("invitations", () => {
  let owner: TestUser, admin: TestUser, viewer: TestUser, tid: string;
  type Invitation = { invitationId: string; tenantId: string; email: string; roles: string[]; status: string };

  beforeAll(async () => {
    [owner, admin, viewer] = await Promise.all([createTestUser(), createTestUser(), createTestUser()]);
    tid = await seedTenant({
      owner: { user: owner, roles: ["owner"] },
      admin: { user: admin, roles: ["admin"] },
      viewer: { user: viewer, roles: ["viewer"] },
    });
  });

  /** Marks the user's email verified (what the email link does) and signs in again. */
  async function verify(user: TestUser): Promise<TestUser> {
    await adminAuth().updateUser(user.uid, { emailVerified: true });
    return refreshUser(user);
  }
  const invitationsOf = async (email: string) =>
    (await db().collection(`tenants/${tid}/invitations`).where("email", "==", email).get()).docs.map((d) => d.data());

  it("records a pending invitation for a new email: no Auth account, no membership, no claims", async () => {
    const email = `New.${newTenantId()}@Example.test`;
    const before = await configVersion(tid);
    const result = await callAs(inviteMember, admin, { email, roles: ["member"] });
    expect(result).toMatchObject({ email: email.toLowerCase(), roles: ["member"], status: "pending" });
    expect(new Date(result.expiresAt).getTime() - Date.now()).toBeGreaterThan(6 * 86_400_000);
    await expect(adminAuth().getUserByEmail(email.toLowerCase())).rejects.toMatchObject({
      code: "auth/user-not-found",
    });
    expect(await invitationsOf(email.toLowerCase())).toEqual([
      expect.objectContaining({ status: "pending", roles: ["member"], invitedBy: admin.uid, tenantId: tid }),
    ]);
    expect(await configVersion(tid)).toBe(before);

    // The new user signs up with that address; only once it is verified do they see and accept it.
    const invitee = await createTestUser({ email: email.toLowerCase() });
    const unverified = await expectHttpsError(callAs(listMyInvitations, invitee, null), "failed-precondition");
    expect(unverified.details).toMatchObject({ reason: "email-not-verified" });
    await expectHttpsError(
      callAs(acceptInvitation, invitee, { invitationId: result.invitationId }),
      "failed-precondition",
    );
    await verify(invitee);
    const mine = await callAs<{ invitations: (Invitation & { tenantName: string })[] }>(
      listMyInvitations,
      invitee,
      null,
    );
    expect(mine.invitations).toEqual([
      expect.objectContaining({ invitationId: result.invitationId, tenantId: tid, tenantName: `Tenant ${tid}` }),
    ]);
    const accepted = await callAs(acceptInvitation, invitee, { invitationId: result.invitationId });
    expect(accepted).toEqual({ tenantId: tid, roles: ["member"], active: true });
    expect((await db().doc(`tenants/${tid}/members/${invitee.uid}`).get()).data()).toMatchObject({
      roles: ["member"],
      status: "active",
      email: email.toLowerCase(),
      invitedBy: admin.uid,
    });
    expect(await claimsOf(invitee.uid)).toEqual({ tid, roles: ["member"] });
    expect(await configVersion(tid)).toBe(before + 1);
    const again = await expectHttpsError(
      callAs(acceptInvitation, invitee, { invitationId: result.invitationId }),
      "failed-precondition",
    );
    expect(again.details).toMatchObject({ reason: "invitation-not-pending" });
  });

  it("lets an existing user accept without changing their active tenant", async () => {
    const other = await verify(await createTestUser());
    const home = await seedTenant({ other: { user: other, roles: ["owner"] } });
    await verify(other);
    const invited = await callAs(inviteMember, owner, { email: other.email });
    expect(await claimsOf(other.uid)).toEqual({ tid: home, roles: ["owner"] });
    await expectHttpsError(callAs(inviteMember, owner, { email: other.email }), "already-exists");
    expect(await callAs(acceptInvitation, other, { invitationId: invited.invitationId })).toEqual({
      tenantId: tid,
      roles: ["member"],
      active: false,
    });
    expect(await claimsOf(other.uid)).toEqual({ tid: home, roles: ["owner"] });
    // Now a member: a second invitation is refused.
    await expectHttpsError(callAs(inviteMember, owner, { email: other.email }), "already-exists");
  });

  it("answers not-found to anyone but the invitee, and honours decline, revoke and expiry", async () => {
    const [a, b, stranger] = await Promise.all([createTestUser(), createTestUser(), createTestUser()]);
    await Promise.all([verify(a), verify(b), verify(stranger)]);
    const ia = await callAs(inviteMember, admin, { email: a.email });
    const ib = await callAs(inviteMember, admin, { email: b.email });
    await expectHttpsError(callAs(acceptInvitation, stranger, { invitationId: ia.invitationId }), "not-found");
    await expectHttpsError(callAs(declineInvitation, stranger, { invitationId: ia.invitationId }), "not-found");

    const listed = await callAs<{ invitations: Invitation[] }>(listInvitations, admin, null);
    expect(listed.invitations.map((i) => i.invitationId)).toEqual(
      expect.arrayContaining([ia.invitationId, ib.invitationId]),
    );
    await expectHttpsError(callAs(listInvitations, viewer, null), "permission-denied");

    expect(await callAs(declineInvitation, a, { invitationId: ia.invitationId })).toMatchObject({ status: "declined" });
    await expectHttpsError(callAs(acceptInvitation, a, { invitationId: ia.invitationId }), "failed-precondition");

    await expectHttpsError(callAs(revokeInvitation, viewer, { invitationId: ib.invitationId }), "permission-denied");
    expect(await callAs(revokeInvitation, admin, { invitationId: ib.invitationId })).toMatchObject({
      status: "revoked",
    });
    await expectHttpsError(callAs(acceptInvitation, b, { invitationId: ib.invitationId }), "failed-precondition");
    expect((await db().doc(`tenants/${tid}/members/${b.uid}`).get()).exists).toBe(false);

    // Expired (the TTL policy deletes it later; until then it cannot be accepted).
    const ic = await callAs(inviteMember, admin, { email: stranger.email });
    await db()
      .doc(`tenants/${tid}/invitations/${ic.invitationId}`)
      .update({ expireAt: new Date(Date.now() - 1000) });
    const expired = await expectHttpsError(
      callAs(acceptInvitation, stranger, { invitationId: ic.invitationId }),
      "failed-precondition",
    );
    expect(expired.details).toMatchObject({ reason: "invitation-expired" });
    expect((await callAs<{ invitations: Invitation[] }>(listMyInvitations, stranger, null)).invitations).toEqual([]);
  });

  it("refuses bad input, escalation and callers without members:invite, writing nothing", async () => {
    const email = `esc-${newTenantId()}@example.test`;
    const { ops } = await countOps(async () => {
      const escalation = await expectHttpsError(
        callAs(inviteMember, admin, { email, roles: ["owner"] }),
        "permission-denied",
      );
      expect((escalation.details as { reason?: string }).reason).toBe("escalation");
      await expectHttpsError(callAs(inviteMember, admin, { email, roles: ["no-such-role"] }), "invalid-argument");
      await expectHttpsError(callAs(inviteMember, viewer, { email }), "permission-denied");
      await expectHttpsError(callAs(inviteMember, admin, { email: "not-an-email" }), "invalid-argument");
      await expectHttpsError(callAs(inviteMember, admin, { email, roles: [] }), "invalid-argument");
      await expectHttpsError(callAs(acceptInvitation, admin, { invitationId: "../x" }), "invalid-argument");
      await expectHttpsError(callAs(revokeInvitation, admin, { invitationId: "0".repeat(32) }), "not-found");
    });
    expect(ops.log.filter((e) => e.kind !== "read" && e.path.startsWith(`tenants/${tid}`))).toEqual([]);
    await expect(adminAuth().getUserByEmail(email)).rejects.toMatchObject({ code: "auth/user-not-found" });
    expect(await invitationsOf(email)).toEqual([]);
  });
});

describe("removeMember", () => {
  let owner: TestUser, admin: TestUser, member: TestUser, tid: string;

  beforeEach(async () => {
    [owner, admin, member] = await Promise.all([
      createTestUser(),
      createTestUser(),
      createTestUser({ claims: { platformAdmin: true } }),
    ]);
    tid = await seedTenant({
      owner: { user: owner, roles: ["owner"] },
      admin: { user: admin, roles: ["admin"] },
      member: { user: member, roles: ["member"] },
    });
    // seedTenant replaced the claims; put the platform-admin claim back next to tid/roles.
    await adminAuth().setCustomUserClaims(member.uid, { platformAdmin: true, tid, roles: ["member"] });
    await refreshUser(member);
  });

  it("deletes the membership, clears tid/roles (keeping other claims) and revokes refresh tokens", async () => {
    const staleToken = member.idToken;
    const staleDecoded = await decode(staleToken); // the emulator refuses revoked tokens even without checkRevoked
    // Revocation has one-second granularity (auth_time vs tokensValidAfterTime): step past the
    // sign-in's second so the revocation below is observable at all.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const before = await configVersion(tid);
    await expect(callAs(removeMember, admin, { uid: member.uid })).resolves.toEqual({ uid: member.uid, removed: true });
    expect((await db().doc(`tenants/${tid}/members/${member.uid}`).get()).exists).toBe(false);
    expect(await configVersion(tid)).toBe(before + 1);
    expect(await claimsOf(member.uid)).toEqual({ platformAdmin: true });
    await expect(adminAuth().verifyIdToken(staleToken, true)).rejects.toMatchObject({ code: "auth/id-token-revoked" });
    // Every function checks the user's revocation time, so the stale token (still naming the
    // tenant) is refused before the tenant is even resolved.
    const refused = await expectHttpsError(callWithToken(getTenant, staleDecoded, staleToken), "unauthenticated");
    expect(refused.details).toMatchObject({ reason: "tokens-revoked" });
  });

  it("refuses to remove the last owner, and an admin removing an owner", async () => {
    const lastOwner = await expectHttpsError(callAs(removeMember, owner, { uid: owner.uid }), "failed-precondition");
    expect((lastOwner.details as { reason?: string }).reason).toBe("last-owner");
    const outranked = await expectHttpsError(callAs(removeMember, admin, { uid: owner.uid }), "permission-denied");
    expect((outranked.details as { reason?: string }).reason).toBe("outranked");
    expect((await db().doc(`tenants/${tid}/members/${owner.uid}`).get()).exists).toBe(true);
  });

  it("answers not-found for a uid that is not a member and invalid-argument for a path", async () => {
    await expectHttpsError(callAs(removeMember, admin, { uid: "nobody-here" }), "not-found");
    await expectHttpsError(
      callAs(removeMember, admin, { uid: `../../${tid}/members/${owner.uid}` }),
      "invalid-argument",
    );
    await expectHttpsError(callAs(removeMember, member, { uid: admin.uid }), "permission-denied");
  });
});

describe("listMembers", () => {
  it("pages through the members in uid order", async () => {
    const users = await Promise.all([createTestUser(), createTestUser(), createTestUser()]);
    await seedTenant({
      a: { user: users[0], roles: ["owner"] },
      b: { user: users[1], roles: ["viewer"] },
      c: { user: users[2], roles: ["member"] },
    });
    const first = await callAs(listMembers, users[1], { pageSize: 2 });
    expect(first.members).toHaveLength(2);
    expect(first.nextPageToken).toBe(first.members[1].uid);
    const second = await callAs(listMembers, users[1], { pageSize: 2, pageToken: first.nextPageToken });
    expect(second.members).toHaveLength(1);
    expect(second.nextPageToken).toBeNull();
    const all = [...first.members, ...second.members];
    expect(all.map((m) => m.uid)).toEqual(users.map((u) => u.uid).sort());
    expect(all.find((m) => m.uid === users[0].uid)).toMatchObject({ email: users[0].email, roles: ["owner"] });
  });
});

describe("switchTenant", () => {
  it("moves a member of two tenants to the other one and tells the client to refresh its token", async () => {
    const user = await createTestUser();
    const a = await seedTenant({ u: { user, roles: ["owner"] } });
    const b = await seedTenant({ u: { user, roles: ["viewer"] } });
    await adminAuth().setCustomUserClaims(user.uid, { platformAdmin: true, tid: a, roles: ["owner"] });
    await refreshUser(user);

    await expect(callAs(switchTenant, user, { tenantId: b })).resolves.toEqual({
      tenantId: b,
      roles: ["viewer"],
      refreshToken: true,
    });
    expect(await claimsOf(user.uid)).toEqual({ platformAdmin: true, tid: b, roles: ["viewer"] });
    await refreshUser(user);
    await expect(callAs(getTenant, user, {})).resolves.toMatchObject({ id: b });
  });

  it("refuses a tenant the caller is not a member of (not-found), a suspended one, and malformed ids", async () => {
    const user = await createTestUser();
    const other = await createTestUser();
    const home = await seedTenant({ u: { user, roles: ["owner"] } });
    const foreign = await seedTenant({ o: { user: other, roles: ["owner"] } });
    const suspended = await seedTenant({ u: { user, roles: ["owner"] } }, { status: "suspended" });
    await adminAuth().setCustomUserClaims(user.uid, { tid: home, roles: ["owner"] });

    await expectHttpsError(callAs(switchTenant, user, { tenantId: foreign }), "not-found");
    await expectHttpsError(callAs(switchTenant, user, { tenantId: newTenantId() }), "not-found");
    await expectHttpsError(callAs(switchTenant, user, { tenantId: suspended }), "permission-denied");
    for (const tenantId of ["../x", "%2e%2e", "__name__", `${foreign}/members/${user.uid}`]) {
      await expectHttpsError(callAs(switchTenant, user, { tenantId }), "invalid-argument");
    }
    expect(await claimsOf(user.uid)).toEqual({ tid: home, roles: ["owner"] });
  });
});

describe("syncClaims (service API for role changes)", () => {
  it("refreshes roles for the active tenant from the membership, and drops a tenant the user left", async () => {
    const user = await createTestUser();
    const tid = await seedTenant({ u: { user, roles: ["viewer"] } });
    await db()
      .doc(`tenants/${tid}/members/${user.uid}`)
      .update({ roles: ["admin"] });
    await expect(syncClaims(user.uid)).resolves.toEqual({ tid, roles: ["admin"] });
    await db().doc(`tenants/${tid}/members/${user.uid}`).delete();
    await expect(syncClaims(user.uid)).resolves.toEqual({});
    expect(await claimsOf(user.uid)).toEqual({});
  });
});

describe("tenant cache over the emulator", () => {
  afterEach(() => setTenantCache(undefined));

  async function seeded() {
    const user = await createTestUser();
    const tid = await seedTenant({ u: { user, roles: ["member"] } });
    return { user, tid };
  }

  it("costs one batched read cold and zero reads warm", async () => {
    const { user, tid } = await seeded();
    const cache = new TenantCache({ ttlMs: 30_000, max: 100 });
    const cold = await countOps(() => loadTenantAndMember(tid, user.uid, { cache }));
    expect(under(cold.ops, tid).map((e) => [e.kind, e.path])).toEqual([
      ["read", `tenants/${tid}`],
      ["read", `tenants/${tid}/members/${user.uid}`],
    ]);
    const warm = await countOps(() => loadTenantAndMember(tid, user.uid, { cache }));
    expect(under(warm.ops, tid)).toEqual([]);
    expect(warm.result.member?.roles).toEqual(["member"]);
  });

  it("reads again after the TTL (injected clock), and serves a suspension no later than that", async () => {
    const { user, tid } = await seeded();
    let now = 0;
    const otherInstance = new TenantCache({ ttlMs: 30_000, max: 100, now: () => now });
    await resolveTenant(tid, user.uid, { cache: otherInstance });
    await db().doc(`tenants/${tid}`).update({ status: "suspended" }); // done by "another instance"
    now = 30_000;
    const stale = await countOps(() => resolveTenant(tid, user.uid, { cache: otherInstance }));
    expect(under(stale.ops, tid)).toEqual([]); // still within the documented staleness bound
    now = 30_001;
    const fresh = await countOps(() =>
      expect(resolveTenant(tid, user.uid, { cache: otherInstance })).rejects.toMatchObject({
        code: "permission-denied",
      }),
    );
    expect(under(fresh.ops, tid).length).toBeGreaterThan(0);
  });

  it("re-reads a membership cached under an older configVersion once the tenant's newer version is seen", async () => {
    const { user, tid } = await seeded();
    const cache = new TenantCache({ ttlMs: 60_000, max: 100 });
    await loadTenantAndMember(tid, user.uid, { cache });
    await db().doc(`tenants/${tid}`).update({ configVersion: 2 });
    await db()
      .doc(`tenants/${tid}/members/${user.uid}`)
      .update({ roles: ["admin"] });
    // This instance learns of version 2 (its tenant entry was evicted or expired).
    cache.evictTenant(tid);
    const next = await countOps(() => loadTenantAndMember(tid, user.uid, { cache }));
    expect(next.result.member?.roles).toEqual(["admin"]);
    expect(under(next.ops, tid).map((e) => e.path)).toContain(`tenants/${tid}/members/${user.uid}`);
    // A second member's entry cached under version 1 is also treated as stale.
    const other = await createTestUser();
    await db()
      .doc(`tenants/${tid}/members/${other.uid}`)
      .set({ roles: ["viewer"], status: "active" });
    cache.setMember(tid, other.uid, null, 1);
    const second = await loadTenantAndMember(tid, other.uid, { cache });
    expect(second.member?.roles).toEqual(["viewer"]);
  });

  it("stays within its size bound while resolving many tenants", async () => {
    const user = await createTestUser();
    const tids = await Promise.all(Array.from({ length: 8 }, () => seedTenant({ u: { user, roles: ["viewer"] } })));
    const cache = new TenantCache({ ttlMs: 60_000, max: 10 });
    for (const tid of tids) await loadTenantAndMember(tid, user.uid, { cache });
    expect(cache.size).toBe(10);
    // The most recent tenant is still warm; the oldest had to go.
    const warm = await countOps(() => loadTenantAndMember(tids[7], user.uid, { cache }));
    expect(under(warm.ops, tids[7])).toEqual([]);
    const cold = await countOps(() => loadTenantAndMember(tids[0], user.uid, { cache }));
    expect(under(cold.ops, tids[0]).length).toBe(2);
  });
});

describe("concurrent membership changes", () => {
  it("records exactly one of two simultaneous invitations of the same new email", async () => {
    const owner = await createTestUser();
    const tid = await seedTenant({ owner: { user: owner, roles: ["owner"] } });
    const email = `race-${newTenantId()}@example.test`;
    const results = await Promise.allSettled([
      callAs(inviteMember, owner, { email }),
      callAs(inviteMember, owner, { email }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ code: "already-exists" });
    const invitations = await db().collection(`tenants/${tid}/invitations`).where("email", "==", email).get();
    expect(invitations.docs.map((d) => d.get("status"))).toEqual(["pending"]);
  });

  it("never leaves a tenant without an owner when two owners remove each other at once", async () => {
    const [a, b] = await Promise.all([createTestUser(), createTestUser()]);
    const tid = await seedTenant({ a: { user: a, roles: ["owner"] }, b: { user: b, roles: ["owner"] } });
    const results = await Promise.allSettled([
      callAs(removeMember, a, { uid: b.uid }),
      callAs(removeMember, b, { uid: a.uid }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    // The loser either saw the other removal (last owner left) or was itself removed first.
    const loser = (results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason;
    expect(["failed-precondition", "not-found"]).toContain(loser.code);
    const owners = await db().collection(`tenants/${tid}/members`).where("roles", "array-contains", "owner").get();
    expect(owners.size).toBe(1);
  });
});

describe("TenantDb collection-group bound over the emulator", () => {
  it("returns only the bound tenant's documents, even next to tenants whose ids extend its id", async () => {
    const base = newTenantId("cg");
    const neighbours = [`${base}-evil`, `${base}0`, `${base}_x`];
    const group = `cgItems${newTenantId("g").replace(/-/g, "")}`;
    await Promise.all(
      [base, ...neighbours].flatMap((tid) => [
        db().doc(`tenants/${tid}/${group}/doc`).set({ tid }),
        db().doc(`tenants/${tid}/payments/p/${group}/nested`).set({ tid }),
      ]),
    );
    await db().doc(`${group}/root`).set({ tid: "root" });
    const snap = await new TenantDb(base, db()).collectionGroup(group).get();
    expect(snap.docs.map((d) => d.ref.path).sort()).toEqual(
      [`tenants/${base}/${group}/doc`, `tenants/${base}/payments/p/${group}/nested`].sort(),
    );
  });
});
