/**
 * RBAC over HTTP against the functions emulator: real ID tokens from the Auth emulator, the
 * callable protocol, and the payments module's createPayment (permission payments:create).
 */
import { countOps, createTestUser, decode, refreshUser, seedTenant, type TestUser } from "../support/firebase";
import { callCallable } from "../support/http";

jest.setTimeout(30_000);

describe("the permission guard over HTTP", () => {
  let admin: TestUser;
  let viewer: TestUser;
  let owner: TestUser;
  let newcomer: TestUser;
  let tid: string;

  beforeAll(async () => {
    [owner, admin, viewer, newcomer] = await Promise.all([
      createTestUser(),
      createTestUser(),
      createTestUser(),
      createTestUser(),
    ]);
    tid = await seedTenant({
      owner: { user: owner, roles: ["owner"] },
      admin: { user: admin, roles: ["admin"] },
      viewer: { user: viewer, roles: ["viewer"] },
      newcomer: { user: newcomer, roles: ["viewer"] },
    });
  });

  it("denies a viewer calling createPayment, without naming the permission", async () => {
    const { result: res, ops } = await countOps(() =>
      callCallable("createPayment", { amount: 1200, currency: "eur" }, viewer.idToken),
    );
    expect(ops.log.filter((e) => e.path.includes(`tenants/${tid}/`) && e.kind !== "read")).toEqual([]);
    expect(res.status).toBe(403);
    expect(res.error?.status).toBe("PERMISSION_DENIED");
    expect(JSON.stringify(res.error)).not.toMatch(/payments/);
  });

  it("lets an admin create a payment", async () => {
    const res = await callCallable<{ payment: { id: string; amount: number } }>(
      "createPayment",
      { amount: 1200, currency: "eur" },
      admin.idToken,
    );
    expect(res.status).toBe(200);
    expect(res.result?.payment).toMatchObject({ amount: 1200 });
  });

  it("answers unauthenticated before any permission detail", async () => {
    const res = await callCallable("createPayment", { amount: 1200, currency: "eur" });
    expect(res.status).toBe(401);
    expect(res.error?.status).toBe("UNAUTHENTICATED");
    expect(JSON.stringify(res.error)).not.toMatch(/payments|permission/i);
  });

  it("refuses an admin making themselves owner over HTTP, with a reason", async () => {
    const res = await callCallable("assignRoles", { uid: admin.uid, roles: ["owner"] }, admin.idToken);
    expect(res.status).toBe(403);
    expect(res.error?.details).toMatchObject({ reason: "escalation" });
  });

  it("lets a member promoted through assignRoles create a payment, with claims to match", async () => {
    // `newcomer` has not called createPayment yet, so no worker holds their membership in cache;
    // a worker that did would see the change within TENANT_CACHE_TTL_SECONDS (the documented bound).
    const assigned = await callCallable<{ claimsUpdated: boolean }>(
      "assignRoles",
      { uid: newcomer.uid, roles: ["member"] },
      admin.idToken,
    );
    expect(assigned.status).toBe(200);
    expect(assigned.result?.claimsUpdated).toBe(true);
    await refreshUser(newcomer);
    expect(await decode(newcomer.idToken)).toMatchObject({ tid, roles: ["member"] });

    const res = await callCallable("createPayment", { amount: 500, currency: "eur" }, newcomer.idToken);
    expect(res.status).toBe(200);
  });
});
