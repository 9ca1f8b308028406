/**
 * firestore.rules against the official emulator, through @firebase/rules-unit-testing: every
 * match block, each allow with a matching deny. They always run (on the stack's official
 * emulator, FIRESTORE_CLIENT_HOST). Sessions, MFA and storage.rules are in sessions-rules.test.ts.
 */
import {
  assertFails,
  assertSucceeds,
  type RulesTestEnvironment,
  type TokenOptions,
} from "@firebase/rules-unit-testing";
import { A, B, type Members, rulesEmulators, rulesEnvironment, S, seedTenants } from "./env";

const PROJECT = "demo-saas-rules";
const emulators = rulesEmulators(PROJECT);

/** Members of tenant A by role, a member of B, a member of the suspended tenant S, and edge cases. */
const members: Members = {
  ownerA: { tid: A, roles: ["owner"] },
  adminA: { tid: A, roles: ["admin"] },
  memberA: { tid: A, roles: ["member"] },
  viewerA: { tid: A, roles: ["viewer"] },
  customA: { tid: A, roles: ["billing"] },
  invitedA: { tid: A, roles: ["owner"], status: "invited" },
  viewerB: { tid: B, roles: ["viewer"] },
  ownerS: { tid: S, roles: ["owner"] },
};

/** The token a member would carry: their active tenant and roles (claims), unless overridden. */
function token(uid: string, override: Partial<{ tid: string; roles: string[] }> = {}): TokenOptions {
  const m = members[uid];
  return { tid: override.tid ?? m?.tid, roles: override.roles ?? m?.roles } as TokenOptions;
}

describe("firestore.rules", () => {
  let env: RulesTestEnvironment;

  const db = (uid: string, override?: Partial<{ tid: string; roles: string[] }>) =>
    env.authenticatedContext(uid, token(uid, override)).firestore();
  const anon = () => env.unauthenticatedContext().firestore();

  beforeAll(async () => {
    env = await rulesEnvironment(PROJECT, emulators);
  });

  beforeEach(async () => {
    await seedTenants(env, members);
    await env.withSecurityRulesDisabled(async (ctx) => {
      const admin = ctx.firestore();
      for (const tid of [A, B, S]) {
        await admin.doc(`tenants/${tid}/roles/billing`).set({ permissions: ["payments:read"], inherits: [] });
        await admin.doc(`tenants/${tid}/payments/p1`).set({ amount: 100 });
        await admin.doc(`tenants/${tid}/webhookDeliveries/d1`).set({ status: "delivered" });
        await admin.doc(`tenants/${tid}/notifications/n1`).set({ type: "webhook.endpoint.disabled", read: false });
        await admin.doc(`tenants/${tid}/webhookEndpoints/e1`).set({ url: "https://x.test", secret: "enc1.x" });
        await admin.doc(`tenants/${tid}/webhookEvents/ev1`).set({ type: "payment.succeeded", payload: {} });
        await admin.doc(`tenants/${tid}/idempotency/k1`).set({ state: "succeeded" });
        await admin.doc(`tenants/${tid}/deadLetters/x1`).set({ source: "webhook" });
        await admin.doc(`tenants/${tid}/notYetRuled/o1`).set({ any: true });
      }
      await admin.doc("users/ownerA").set({ email: "o@a.test" });
      await admin.doc("users/ownerA/private/mfa").set({ secret: "enc1.x" });
      await admin.doc("sessions/f1").set({ uid: "ownerA", tid: A });
      await admin.doc("inboundEvents/stripe:evt_1").set({ tenantId: A });
      await admin.doc("deadLetters/root1").set({ source: "webhook" });
    });
  });

  afterAll(async () => {
    await env?.cleanup();
  });

  describe("tenants/{tid}", () => {
    it("lets an active member whose token names the tenant read it", async () => {
      await assertSucceeds(db("viewerA").doc(`tenants/${A}`).get());
    });
    it("refuses a member of another tenant, even one whose token claims this tenant", async () => {
      await assertFails(db("viewerB").doc(`tenants/${A}`).get());
      await assertFails(
        db("viewerB", { tid: A, roles: ["owner"] })
          .doc(`tenants/${A}`)
          .get(),
      );
    });
    it("refuses a member whose token names another tenant (the active tenant decides)", async () => {
      await assertFails(db("ownerA", { tid: B }).doc(`tenants/${A}`).get());
    });
    it("refuses stale claims once the membership is gone", async () => {
      await env.withSecurityRulesDisabled((ctx) => ctx.firestore().doc(`tenants/${A}/members/viewerA`).delete());
      await assertFails(db("viewerA").doc(`tenants/${A}`).get());
    });
    it("refuses a membership that is not active", async () => {
      await assertFails(db("invitedA").doc(`tenants/${A}`).get());
    });
    it("refuses every member of a suspended tenant", async () => {
      await assertFails(db("ownerS").doc(`tenants/${S}`).get());
      await assertFails(db("ownerS").doc(`tenants/${S}/payments/p1`).get());
    });
    it("refuses a member with custom roles only (rules know built-in roles)", async () => {
      await assertFails(db("customA").doc(`tenants/${A}`).get());
    });
    it("refuses signed-out callers", async () => {
      await assertFails(anon().doc(`tenants/${A}`).get());
    });
    it("refuses every client write, even by the owner", async () => {
      await assertFails(db("ownerA").doc(`tenants/${A}`).update({ name: "x" }));
      await assertFails(db("ownerA").doc("tenants/new").set({ name: "x", status: "active" }));
      await assertFails(db("ownerA").doc(`tenants/${A}`).delete());
    });
  });

  describe("tenants/{tid}/members/{uid}", () => {
    it("lets a viewer read and list members", async () => {
      await assertSucceeds(db("viewerA").doc(`tenants/${A}/members/ownerA`).get());
      await assertSucceeds(db("viewerA").collection(`tenants/${A}/members`).get());
    });
    it("lets a custom-role member read only their own membership", async () => {
      await assertSucceeds(db("customA").doc(`tenants/${A}/members/customA`).get());
      await assertFails(db("customA").doc(`tenants/${A}/members/ownerA`).get());
      await assertFails(db("customA").collection(`tenants/${A}/members`).get());
    });
    it("refuses another tenant's member and a forged own-doc read across tenants", async () => {
      await assertFails(db("viewerB").collection(`tenants/${A}/members`).get());
      await assertFails(db("viewerB", { tid: A }).doc(`tenants/${A}/members/viewerB`).get());
    });
    it("refuses writes: membership changes go through callables", async () => {
      await assertFails(
        db("ownerA")
          .doc(`tenants/${A}/members/viewerA`)
          .update({ roles: ["owner"] }),
      );
      await assertFails(
        db("viewerA")
          .doc(`tenants/${A}/members/viewerA`)
          .update({ roles: ["owner"] }),
      );
      await assertFails(
        db("viewerB")
          .doc(`tenants/${A}/members/viewerB`)
          .set({ roles: ["owner"], status: "active" }),
      );
    });
  });

  describe("tenants/{tid}/roles/{roleId}", () => {
    it("lets a viewer read role definitions", async () => {
      await assertSucceeds(db("viewerA").doc(`tenants/${A}/roles/billing`).get());
    });
    it("refuses other tenants and writes", async () => {
      await assertFails(db("viewerB").doc(`tenants/${A}/roles/billing`).get());
      await assertFails(
        db("ownerA")
          .doc(`tenants/${A}/roles/billing`)
          .set({ permissions: ["tenant:manage"] }),
      );
    });
  });

  describe("tenants/{tid}/payments/{paymentId}", () => {
    it("lets a viewer read and list payments", async () => {
      await assertSucceeds(db("viewerA").doc(`tenants/${A}/payments/p1`).get());
      await assertSucceeds(db("viewerA").collection(`tenants/${A}/payments`).get());
    });
    it("refuses another tenant, a collection-group query across tenants, and writes", async () => {
      await assertFails(db("viewerB").doc(`tenants/${A}/payments/p1`).get());
      await assertFails(db("ownerA").collectionGroup("payments").get());
      await assertFails(db("memberA").doc(`tenants/${A}/payments/p2`).set({ amount: 1 }));
    });
  });

  describe("tenants/{tid}/webhookDeliveries/{deliveryId}", () => {
    it("lets an admin read delivery logs", async () => {
      await assertSucceeds(db("adminA").doc(`tenants/${A}/webhookDeliveries/d1`).get());
      await assertSucceeds(db("ownerA").collection(`tenants/${A}/webhookDeliveries`).get());
    });
    it("refuses members below admin, other tenants and writes", async () => {
      await assertFails(db("memberA").doc(`tenants/${A}/webhookDeliveries/d1`).get());
      await assertFails(
        db("viewerB", { tid: A, roles: ["admin"] })
          .doc(`tenants/${A}/webhookDeliveries/d1`)
          .get(),
      );
      await assertFails(db("ownerA").doc(`tenants/${A}/webhookDeliveries/d1`).update({ status: "x" }));
    });
  });

  describe("tenants/{tid}/notifications/{notificationId}", () => {
    it("lets an admin read notifications", async () => {
      await assertSucceeds(db("adminA").doc(`tenants/${A}/notifications/n1`).get());
      await assertSucceeds(db("ownerA").collection(`tenants/${A}/notifications`).get());
    });
    it("refuses members below admin, other tenants and writes (marking read goes through a callable)", async () => {
      await assertFails(db("memberA").collection(`tenants/${A}/notifications`).get());
      await assertFails(db("viewerB", { tid: A }).doc(`tenants/${A}/notifications/n1`).get());
      await assertFails(db("adminA").doc(`tenants/${A}/notifications/n1`).update({ read: true }));
    });
  });

  describe("never readable by clients", () => {
    it.each([
      ["webhook endpoints (signing secrets)", `tenants/${A}/webhookEndpoints/e1`],
      ["outbound webhook events", `tenants/${A}/webhookEvents/ev1`],
      ["idempotency records", `tenants/${A}/idempotency/k1`],
      ["tenant dead letters", `tenants/${A}/deadLetters/x1`],
      ["an unruled tenant subcollection", `tenants/${A}/notYetRuled/o1`],
      ["users/{uid}/private", "users/ownerA/private/mfa"],
      ["users/{uid}", "users/ownerA"],
      ["sessions", "sessions/f1"],
      ["inboundEvents", "inboundEvents/stripe:evt_1"],
      ["root dead letters", "deadLetters/root1"],
    ])("%s: refused to the owner (and its own user), allowed nowhere", async (_label, path) => {
      await assertFails(db("ownerA").doc(path).get());
      await assertFails(db("ownerA").doc(path).set({ x: 1 }));
      await assertFails(anon().doc(path).get());
    });
    it("still holds the data (the denials above are the rules, not missing documents)", async () => {
      await env.withSecurityRulesDisabled(async (ctx) => {
        const snap = await ctx.firestore().doc(`tenants/${A}/webhookEndpoints/e1`).get();
        expect(snap.exists).toBe(true);
      });
    });
  });
});
