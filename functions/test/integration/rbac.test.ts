/**
 * RBAC over the real Firestore and Auth emulators: the role callables, their rejections (with
 * nothing written), last-owner protection under concurrency, claims, and cache invalidation.
 */
import { HttpsError } from "firebase-functions/v2/https";
import { z } from "zod";
import { tenantCallable } from "../../src/platform/callable";
import { httpsEndpoint } from "../../src/platform/https";
import { rootFirestore } from "../../src/platform/admin";
import { NoInput } from "../../src/platform/validation";
import { clearPermissionCaches } from "../../src/rbac/effective";
import { assignRoles, createRole, deleteRole, listRoles, updateRole } from "../../src/rbac";
import { guard } from "../../src/rbac/guard";
import { closure } from "../../src/rbac/resolve";
import { setTenantCache, TenantCache } from "../../src/tenancy/resolver";
import {
  callAs,
  callHttps,
  countOps,
  createTestUser,
  decode,
  expectHttpsError,
  refreshUser,
  seedTenant,
  type OperationLog,
  type TestUser,
} from "../support/firebase";

jest.setTimeout(30_000);

/** A payments:create callable standing in for the payments module's createPayment. */
const paymentsProbe = tenantCallable(
  { name: "paymentsProbe", description: "test only", input: NoInput, permission: "payments:create" },
  async ({ uid }) => ({ created: true, by: uid }),
);

/** The same guard on the HTTPS wrapper, with a finer in-handler check through guard(). */
const paymentsEndpoint = httpsEndpoint(
  {
    name: "paymentsEndpoint",
    description: "test only",
    methods: ["POST"],
    input: z.strictObject({ amount: z.number() }),
    tenant: true,
    permission: "payments:create",
  },
  async (ctx) => {
    if (ctx.data.amount > 1000) guard(ctx, "tenant:manage");
    return { status: 201, body: { created: true } };
  },
);

interface Team {
  tid: string;
  owner: TestUser;
  admin: TestUser;
  member: TestUser;
  viewer: TestUser;
}

async function team(): Promise<Team> {
  const [owner, admin, member, viewer] = await Promise.all([
    createTestUser(),
    createTestUser(),
    createTestUser(),
    createTestUser(),
  ]);
  const tid = await seedTenant({
    owner: { user: owner, roles: ["owner"] },
    admin: { user: admin, roles: ["admin"] },
    member: { user: member, roles: ["member"] },
    viewer: { user: viewer, roles: ["viewer"] },
  });
  return { tid, owner, admin, member, viewer };
}

const tenantDoc = (tid: string) => rootFirestore().doc(`tenants/${tid}`);
const configVersion = async (tid: string): Promise<number> => (await tenantDoc(tid).get()).get("configVersion");
const memberRoles = async (tid: string, uid: string): Promise<string[]> =>
  (await rootFirestore().doc(`tenants/${tid}/members/${uid}`).get()).get("roles");

/** Operations of this tenant only (other suites share the emulator and its operation log). */
function tenantOps(ops: OperationLog, tid: string): OperationLog["log"] {
  return ops.log.filter((e) => e.path.includes(`tenants/${tid}`));
}

/** Asserts that the call is rejected with `code`/`reason` and writes nothing in the tenant. */
async function rejectedWithoutWrites(tid: string, call: () => Promise<unknown>, code: string, reason?: string) {
  let error: HttpsError | undefined;
  const { ops } = await countOps(async () => {
    error = await expectHttpsError(call(), code);
  });
  if (reason !== undefined) expect(error?.details).toMatchObject({ reason });
  expect(tenantOps(ops, tid).filter((e) => e.kind !== "read")).toEqual([]);
  return error as HttpsError;
}

beforeEach(() => {
  // Each test starts from a cold instance.
  setTenantCache(undefined);
  clearPermissionCaches();
});

describe("listRoles", () => {
  it("lists built-in roles, highest first, with their effective permissions, to a viewer", async () => {
    const t = await team();
    const out = await callAs(listRoles, t.viewer, {});
    expect(out.roles.map((r) => r.id)).toEqual(["owner", "admin", "member", "viewer"]);
    const owner = out.roles[0];
    expect(owner).toMatchObject({ builtIn: true, inherits: ["admin"], permissions: ["tenant:manage"] });
    expect(new Set(owner.effectivePermissions)).toEqual(closure(["owner"]));
    expect(out.configVersion).toBe(1);
  });

  it("includes custom roles with their inherited permissions", async () => {
    const t = await team();
    await callAs(createRole, t.admin, {
      roleId: "billing",
      permissions: ["webhooks:read"],
      inherits: ["member"],
      description: "Sees payments and webhook logs",
    });
    const out = await callAs(listRoles, t.member, null);
    const billing = out.roles.find((r) => r.id === "billing");
    expect(billing).toMatchObject({
      id: "billing",
      builtIn: false,
      description: "Sees payments and webhook logs",
      permissions: ["webhooks:read"],
      inherits: ["member"],
    });
    expect(new Set(billing?.effectivePermissions)).toEqual(new Set([...closure(["member"]), "webhooks:read"]));
  });
});

describe("custom roles", () => {
  it("creates a role, stores it under tenants/{tid}/roles and bumps configVersion", async () => {
    const t = await team();
    const out = await callAs(createRole, t.admin, {
      roleId: "auditor",
      permissions: ["webhooks:manage"],
      inherits: ["viewer"],
    });
    expect(out.configVersion).toBe(2);
    expect(await configVersion(t.tid)).toBe(2);
    const doc = await rootFirestore().doc(`tenants/${t.tid}/roles/auditor`).get();
    expect(doc.data()).toMatchObject({
      permissions: ["webhooks:manage"],
      inherits: ["viewer"],
      createdBy: t.admin.uid,
    });
  });

  it("refuses a member or viewer managing roles, before looking at the input", async () => {
    const t = await team();
    for (const user of [t.member, t.viewer]) {
      const error = await rejectedWithoutWrites(
        t.tid,
        () => callAs(createRole, user, { roleId: "x", permissions: ["tenant:manage"] }),
        "permission-denied",
      );
      expect(error.message).not.toMatch(/roles:manage|tenant:manage/);
    }
  });

  it("refuses escalation: an admin cannot create a role granting tenant:manage, directly or by inheriting owner", async () => {
    const t = await team();
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(createRole, t.admin, { roleId: "boss", permissions: ["tenant:manage"] }),
      "permission-denied",
      "escalation",
    );
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(createRole, t.admin, { roleId: "boss", permissions: [], inherits: ["owner"] }),
      "permission-denied",
      "escalation",
    );
    expect(await configVersion(t.tid)).toBe(1);
  });

  it("refuses an update that would escalate, and an admin editing a role that outranks them", async () => {
    const t = await team();
    await callAs(createRole, t.admin, { roleId: "ops", permissions: ["webhooks:read"] });
    await callAs(createRole, t.owner, { roleId: "crown", permissions: ["tenant:manage"] });
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(updateRole, t.admin, { roleId: "ops", permissions: ["webhooks:read", "tenant:manage"] }),
      "permission-denied",
      "escalation",
    );
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(updateRole, t.admin, { roleId: "crown", permissions: [] }),
      "permission-denied",
      "outranked",
    );
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(deleteRole, t.admin, { roleId: "crown" }),
      "permission-denied",
      "outranked",
    );
  });

  it("refuses cycles, unknown parents, unknown permissions and built-in names, writing nothing", async () => {
    const t = await team();
    await callAs(createRole, t.admin, { roleId: "a", permissions: ["webhooks:manage"] });
    await callAs(createRole, t.admin, { roleId: "b", permissions: [], inherits: ["a"] });
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(updateRole, t.admin, { roleId: "a", inherits: ["b"] }),
      "invalid-argument",
      "cycle",
    );
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(createRole, t.admin, { roleId: "c", permissions: [], inherits: ["ghost"] }),
      "invalid-argument",
      "unknown-parent",
    );
    for (const parent of ["constructor", "toString"]) {
      await rejectedWithoutWrites(
        t.tid,
        () => callAs(createRole, t.admin, { roleId: "c", permissions: [], inherits: [parent] }),
        "invalid-argument",
        "unknown-parent",
      );
      await rejectedWithoutWrites(
        t.tid,
        () => callAs(updateRole, t.admin, { roleId: "b", inherits: [parent] }),
        "invalid-argument",
        "unknown-parent",
      );
    }
    const unknown = await rejectedWithoutWrites(
      t.tid,
      () => callAs(createRole, t.admin, { roleId: "c", permissions: ["payments:delete"] }),
      "invalid-argument",
      "unknown-permission",
    );
    expect(unknown.details).toMatchObject({
      fields: { "permissions.0": [expect.stringContaining("payments:delete")] },
    });
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(createRole, t.admin, { roleId: "Admin", permissions: [] }),
      "invalid-argument",
      "reserved-role-id",
    );
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(createRole, t.admin, { roleId: "../owner", permissions: [] }),
      "invalid-argument",
    );
    expect(await configVersion(t.tid)).toBe(3);
  });

  it("refuses to delete a role that is assigned or inherited, then deletes it once free", async () => {
    const t = await team();
    await callAs(createRole, t.admin, { roleId: "base", permissions: ["webhooks:manage"] });
    await callAs(createRole, t.admin, { roleId: "child", permissions: [], inherits: ["base"] });
    await callAs(assignRoles, t.admin, { uid: t.viewer.uid, roles: ["viewer", "child"] });

    const inherited = await rejectedWithoutWrites(
      t.tid,
      () => callAs(deleteRole, t.admin, { roleId: "base" }),
      "failed-precondition",
      "role-in-use",
    );
    expect(inherited.details).toMatchObject({ inheritedBy: ["child"] });
    const assigned = await rejectedWithoutWrites(
      t.tid,
      () => callAs(deleteRole, t.admin, { roleId: "child" }),
      "failed-precondition",
      "role-in-use",
    );
    expect(assigned.details).toMatchObject({ members: 1 });

    await callAs(assignRoles, t.admin, { uid: t.viewer.uid, roles: ["viewer"] });
    await callAs(deleteRole, t.admin, { roleId: "child" });
    await callAs(deleteRole, t.admin, { roleId: "base" });
    expect((await rootFirestore().collection(`tenants/${t.tid}/roles`).get()).size).toBe(0);
  });
  it("also refuses while only a suspended member holds the role", async () => {
    const t = await team();
    await callAs(createRole, t.admin, { roleId: "temp", permissions: ["webhooks:manage"] });
    await rootFirestore()
      .doc(`tenants/${t.tid}/members/suspended-user`)
      .set({ roles: ["viewer", "temp"], status: "suspended" });
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(deleteRole, t.admin, { roleId: "temp" }),
      "failed-precondition",
      "role-in-use",
    );
  });
});

describe("assigning roles", () => {
  it("sets a member's roles, bumps configVersion and updates their claims", async () => {
    const t = await team();
    const out = await callAs(assignRoles, t.admin, { uid: t.viewer.uid, roles: ["member"] });
    expect(out).toEqual({ uid: t.viewer.uid, roles: ["member"], configVersion: 2, claimsUpdated: true });
    expect(await memberRoles(t.tid, t.viewer.uid)).toEqual(["member"]);
    const token = await decode((await refreshUser(t.viewer)).idToken);
    expect(token).toMatchObject({ tid: t.tid, roles: ["member"] });
  });

  it("leaves claims alone when the tenant is not the member's active one", async () => {
    const t = await team();
    const other = await seedTenant({ viewer: { user: t.viewer, roles: ["viewer"] } }); // now active in `other`
    const out = await callAs(assignRoles, t.admin, { uid: t.viewer.uid, roles: ["member"] });
    expect(out.claimsUpdated).toBe(false);
    const token = await decode((await refreshUser(t.viewer)).idToken);
    expect(token).toMatchObject({ tid: other, roles: ["viewer"] });
  });

  it("refuses escalation: an admin cannot make anyone an owner, nor demote an owner", async () => {
    const t = await team();
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(assignRoles, t.admin, { uid: t.viewer.uid, roles: ["owner"] }),
      "permission-denied",
      "escalation",
    );
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(assignRoles, t.admin, { uid: t.admin.uid, roles: ["owner"] }),
      "permission-denied",
      "escalation",
    );
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(assignRoles, t.admin, { uid: t.owner.uid, roles: ["viewer"] }),
      "permission-denied",
      "outranked",
    );
  });

  it("refuses unknown roles and members of other tenants", async () => {
    const t = await team();
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(assignRoles, t.admin, { uid: t.viewer.uid, roles: ["ghost"] }),
      "invalid-argument",
      "unknown-role",
    );
    const outsider = await createTestUser();
    await seedTenant({ outsider: { user: outsider, roles: ["viewer"] } });
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(assignRoles, t.admin, { uid: outsider.uid, roles: ["member"] }),
      "not-found",
    );
  });

  it("checks the caller's current roles, not the ones cached at admission", async () => {
    const t = await team();
    // Warm the admin's admission, then demote them behind the cache's back.
    await callAs(listRoles, t.admin, {});
    await rootFirestore()
      .doc(`tenants/${t.tid}/members/${t.admin.uid}`)
      .update({ roles: ["viewer"] });
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(createRole, t.admin, { roleId: "ops", permissions: ["webhooks:read"] }),
      "permission-denied",
      "escalation",
    );
  });
  it("refuses a role change in a tenant suspended since the caller's admission was cached", async () => {
    const t = await team();
    await callAs(listRoles, t.admin, {}); // warms this instance's tenant cache as active
    await tenantDoc(t.tid).update({ status: "suspended" });
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(assignRoles, t.admin, { uid: t.viewer.uid, roles: ["member"] }),
      "permission-denied",
      "tenant-suspended",
    );
  });
});

describe("last-owner protection", () => {
  it("refuses the only owner demoting themselves", async () => {
    const t = await team();
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(assignRoles, t.owner, { uid: t.owner.uid, roles: ["admin"] }),
      "failed-precondition",
      "last-owner",
    );
    expect(await memberRoles(t.tid, t.owner.uid)).toEqual(["owner"]);
  });

  it("allows it once there is a second owner", async () => {
    const t = await team();
    await callAs(assignRoles, t.owner, { uid: t.admin.uid, roles: ["owner"] });
    await callAs(assignRoles, t.owner, { uid: t.owner.uid, roles: ["admin"] });
    expect(await memberRoles(t.tid, t.owner.uid)).toEqual(["admin"]);
  });

  it("refuses a role update that strips owner from the only owner's custom role", async () => {
    const t = await team();
    await callAs(createRole, t.owner, { roleId: "founder", permissions: [], inherits: ["owner"] });
    await callAs(assignRoles, t.owner, { uid: t.owner.uid, roles: ["founder"] }); // still an owner, via founder
    await rejectedWithoutWrites(
      t.tid,
      () => callAs(updateRole, t.owner, { roleId: "founder", inherits: ["admin"] }),
      "failed-precondition",
      "last-owner",
    );
  });

  it("keeps an owner when two owners demote each other at the same moment", async () => {
    const t = await team();
    await callAs(assignRoles, t.owner, { uid: t.admin.uid, roles: ["owner"] });
    const results = await Promise.allSettled([
      callAs(assignRoles, t.owner, { uid: t.admin.uid, roles: ["admin"] }),
      callAs(assignRoles, t.admin, { uid: t.owner.uid, roles: ["admin"] }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(HttpsError);
    // Serialised behind the winner, the loser is either no longer an owner or the last one.
    expect(["last-owner", "outranked"]).toContain(rejected.reason.details.reason);
    const roles = await Promise.all([memberRoles(t.tid, t.owner.uid), memberRoles(t.tid, t.admin.uid)]);
    expect(roles.filter((r) => r.includes("owner"))).toHaveLength(1);
  });

  it("never accepts both halves of a cycle created concurrently", async () => {
    const t = await team();
    await callAs(createRole, t.admin, { roleId: "a", permissions: [] });
    await callAs(createRole, t.admin, { roleId: "b", permissions: [] });
    const results = await Promise.allSettled([
      callAs(updateRole, t.admin, { roleId: "a", inherits: ["b"] }),
      callAs(updateRole, t.owner, { roleId: "b", inherits: ["a"] }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect((results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason.details.reason).toBe("cycle");
  });
});

describe("the guard end to end (in-process)", () => {
  it("denies a viewer a payments:create callable and lets an admin through", async () => {
    const t = await team();
    const denied = await rejectedWithoutWrites(t.tid, () => callAs(paymentsProbe, t.viewer, {}), "permission-denied");
    expect(denied.message).not.toMatch(/payments/);
    await expect(callAs(paymentsProbe, t.admin, {})).resolves.toEqual({ created: true, by: t.admin.uid });
  });

  it("answers a caller without a token with unauthenticated", async () => {
    await expectHttpsError(callAs(paymentsProbe, null, {}), "unauthenticated");
  });

  it("guards HTTPS endpoints the same way, answering problem+json that names no permission", async () => {
    const t = await team();
    const bearer = (u: TestUser) => ({ authorization: `Bearer ${u.idToken}` });
    const denied = await callHttps(paymentsEndpoint, { headers: bearer(t.viewer), body: { amount: 5 } });
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({ code: "permission-denied" });
    expect(JSON.stringify(denied.body)).not.toMatch(/payments/);
    expect((await callHttps(paymentsEndpoint, { headers: bearer(t.member), body: { amount: 5 } })).status).toBe(201);
    // guard() in the handler: a large amount needs tenant:manage, which only the owner has.
    expect((await callHttps(paymentsEndpoint, { headers: bearer(t.admin), body: { amount: 5000 } })).status).toBe(403);
    expect((await callHttps(paymentsEndpoint, { headers: bearer(t.owner), body: { amount: 5000 } })).status).toBe(201);
    const anonymous = await callHttps(paymentsEndpoint, { body: { amount: 5 } });
    expect(anonymous.status).toBe(401);
    expect(JSON.stringify(anonymous.body)).not.toMatch(/payments|permission/i);
  });
});

describe("permission cache", () => {
  it("a warm permission check reads nothing from Firestore", async () => {
    const t = await team();
    await callAs(createRole, t.admin, { roleId: "cashier", permissions: ["payments:create"], inherits: ["viewer"] });
    await callAs(assignRoles, t.admin, { uid: t.viewer.uid, roles: ["cashier"] });
    const cold = await countOps(() => callAs(paymentsProbe, t.viewer, {}));
    expect(tenantOps(cold.ops, t.tid).filter((e) => e.kind === "read").length).toBeGreaterThan(0);
    const warm = await countOps(async () => {
      for (let i = 0; i < 5; i++) await callAs(paymentsProbe, t.viewer, {});
    });
    expect(tenantOps(warm.ops, t.tid)).toEqual([]);
  });

  it("a role change is seen by the very next check on the instance that made it", async () => {
    const t = await team();
    await callAs(createRole, t.admin, { roleId: "ops", permissions: ["webhooks:read"], inherits: ["viewer"] });
    await callAs(assignRoles, t.admin, { uid: t.viewer.uid, roles: ["ops"] });
    await expectHttpsError(callAs(paymentsProbe, t.viewer, {}), "permission-denied"); // warms the caches

    await callAs(updateRole, t.admin, { roleId: "ops", permissions: ["webhooks:read", "payments:create"] });
    await expect(callAs(paymentsProbe, t.viewer, {})).resolves.toMatchObject({ created: true });

    await callAs(updateRole, t.admin, { roleId: "ops", permissions: ["webhooks:read"] });
    await expectHttpsError(callAs(paymentsProbe, t.viewer, {}), "permission-denied");
  });

  it("another instance sees a role change once its tenant entry expires (the documented bound)", async () => {
    const t = await team();
    // lru-cache treats a start time of 0 as "no TTL", so the fake clock starts later.
    let clock = 1_000_000;
    const other = new TenantCache({ ttlMs: 30_000, max: 100, now: () => clock });
    await callAs(createRole, t.admin, { roleId: "ops", permissions: ["webhooks:read"], inherits: ["viewer"] });
    await callAs(assignRoles, t.admin, { uid: t.viewer.uid, roles: ["ops"] });

    setTenantCache(other); // "instance B" warms up
    await expectHttpsError(callAs(paymentsProbe, t.viewer, {}), "permission-denied");

    setTenantCache(undefined); // "instance A" makes the change
    await callAs(updateRole, t.admin, { roleId: "ops", permissions: ["webhooks:read", "payments:create"] });

    // B may serve its cached tenant (and so the old configVersion) until the entry's TTL ends.
    setTenantCache(other);
    clock += 31_000;
    await expect(callAs(paymentsProbe, t.viewer, {})).resolves.toMatchObject({ created: true });
  });
});
