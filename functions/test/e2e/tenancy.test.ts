/**
 * Tenancy end to end: real ID tokens from the Auth emulator, callables served by the functions
 * emulator over HTTP, claims that follow tenant creation, switching and removal.
 */
import { adminAuth } from "../../src/platform/admin";
import { createTestUser, decode, refreshUser, type TestUser } from "../support/firebase";
import { callCallable } from "../support/http";

jest.setTimeout(60_000);

describe("tenancy over HTTP", () => {
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    [alice, bob] = await Promise.all([createTestUser(), createTestUser()]);
  });

  it("creates a tenant, switches between tenants, and ends a removed member's access", async () => {
    const first = await callCallable<{ tenantId: string; refreshToken: boolean }>(
      "createTenant",
      { name: "First" },
      alice.idToken,
    );
    expect(first.status).toBe(200);
    expect(first.result?.refreshToken).toBe(true);
    const a = first.result?.tenantId as string;

    // Before the refresh the old token names no tenant; after it, the new one does.
    expect((await callCallable("getTenant", {}, alice.idToken)).error?.status).toBe("FAILED_PRECONDITION");
    await refreshUser(alice);
    expect((await decode(alice.idToken)).tid).toBe(a);
    const got = await callCallable<{ id: string; name: string }>("getTenant", {}, alice.idToken);
    expect(got.result).toMatchObject({ id: a, name: "First" });

    const second = await callCallable<{ tenantId: string }>("createTenant", { name: "Second" }, alice.idToken);
    const b = second.result?.tenantId as string;
    await refreshUser(alice);
    expect((await callCallable<{ id: string }>("getTenant", {}, alice.idToken)).result?.id).toBe(b);

    const back = await callCallable<{ tenantId: string; refreshToken: boolean }>(
      "switchTenant",
      { tenantId: a },
      alice.idToken,
    );
    expect(back.result).toMatchObject({ tenantId: a, refreshToken: true });
    await refreshUser(alice);
    expect((await callCallable<{ id: string }>("getTenant", {}, alice.idToken)).result?.id).toBe(a);

    // Bob is invited to A; nothing changes for him until he accepts with his verified email.
    const invite = await callCallable<{ invitationId: string; status: string }>(
      "inviteMember",
      { email: bob.email, roles: ["viewer"] },
      alice.idToken,
    );
    expect(invite.result).toMatchObject({ status: "pending" });
    await adminAuth().updateUser(bob.uid, { emailVerified: true });
    await refreshUser(bob);
    expect((await decode(bob.idToken)).tid).toBeUndefined();
    const mine = await callCallable<{ invitations: { invitationId: string }[] }>(
      "listMyInvitations",
      null,
      bob.idToken,
    );
    expect(mine.result?.invitations.map((i) => i.invitationId)).toEqual([invite.result?.invitationId]);
    const accepted = await callCallable<{ tenantId: string; active: boolean }>(
      "acceptInvitation",
      { invitationId: invite.result?.invitationId },
      bob.idToken,
    );
    expect(accepted.result).toEqual({ tenantId: a, roles: ["viewer"], active: true });
    // He becomes active there, reads it, is removed, and is refused after.
    await refreshUser(bob);
    expect((await callCallable<{ id: string }>("getTenant", {}, bob.idToken)).result?.id).toBe(a);
    expect((await callCallable("switchTenant", { tenantId: b }, bob.idToken)).error?.status).toBe("NOT_FOUND");

    const removed = await callCallable("removeMember", { uid: bob.uid }, alice.idToken);
    expect(removed.status).toBe(200);
    // Bob signs in again: his claims no longer name the tenant, and asking for it is refused.
    await refreshUser(bob);
    const claims = await decode(bob.idToken);
    expect(claims.tid).toBeUndefined();
    expect((await callCallable("getTenant", {}, bob.idToken)).error?.status).toBe("FAILED_PRECONDITION");
    expect((await callCallable("switchTenant", { tenantId: a }, bob.idToken)).error?.status).toBe("NOT_FOUND");
  });

  it("keeps suspension and reactivation to platform admins", async () => {
    const res = await callCallable("suspendTenant", { tenantId: "anything" }, bob.idToken);
    expect(res.status).toBe(403);
    expect(res.error?.status).toBe("PERMISSION_DENIED");
  });
});
