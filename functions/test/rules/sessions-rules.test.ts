/**
 * Sessions, MFA and membership in the security rules: firestore.rules against the official
 * Firestore emulator, and storage.rules against a Storage emulator whose cross-service
 * `firestore.get` reads that same Firestore emulator (`firebase emulators:start --only
 * firestore,storage`). Each allow has a matching deny.
 *
 * The Storage half is skipped where no Storage emulator runs (this repository's local stack has
 * none); test/unit/rules-equivalence.test.ts then at least proves storage.rules applies the very
 * same membership, session and MFA conditions as the firestore.rules exercised here.
 */
import {
  assertFails,
  assertSucceeds,
  type RulesTestEnvironment,
  type TokenOptions,
} from "@firebase/rules-unit-testing";
import { Timestamp } from "firebase/firestore";
import { rulesEmulators, rulesEnvironment } from "./env";

const PROJECT = "demo-saas-rules-sessions";
const emulators = rulesEmulators(PROJECT);

const T = "tenantT";
const SUSP = "tenantSusp";
const HOUR = 3_600_000;

const sid = (n: number) => n.toString(16).padStart(32, "0");
const LIVE = sid(1);
const REVOKED = sid(2);
const EXPIRED = sid(3);
const IDLE = sid(4);
const MFA_LIVE = sid(5);
const OTHERS = sid(6);
const MFA_REVOKED = sid(7);

/** Members of T (and of the suspended tenant), with the roles their membership documents hold. */
const members: Record<string, { tid: string; roles: string[] }> = {
  owner: { tid: T, roles: ["owner"] },
  admin: { tid: T, roles: ["admin"] },
  demoted: { tid: T, roles: ["member"] },
  viewer: { tid: T, roles: ["viewer"] },
  enrolled: { tid: T, roles: ["viewer"] },
  covered: { tid: T, roles: ["superadmin", "viewer"] },
  suspendedOwner: { tid: SUSP, roles: ["owner"] },
};

/** The tenant's MFA policy names `admin`; `superadmin` inherits it (server-expanded list). */
const MFA_POLICY = { mfaRequiredRoles: ["admin"], mfaPolicyRoles: ["admin", "owner", "superadmin"] };

function tok(claims: Record<string, unknown>): TokenOptions {
  return claims as TokenOptions;
}

async function seed(env: RulesTestEnvironment, opts: { policy?: boolean } = {}): Promise<void> {
  await env.withSecurityRulesDisabled(async (ctx) => {
    const db = ctx.firestore();
    await db
      .doc(`tenants/${T}`)
      .set({ name: T, status: "active", configVersion: 1, ...(opts.policy ? MFA_POLICY : {}) });
    await db.doc(`tenants/${SUSP}`).set({ name: SUSP, status: "suspended", configVersion: 2 });
    for (const [uid, m] of Object.entries(members)) {
      await db.doc(`tenants/${m.tid}/members/${uid}`).set({ roles: m.roles, status: "active" });
    }
    await db.doc(`tenants/${T}/roles/superadmin`).set({ permissions: [], inherits: ["admin"] });
    await db.doc(`tenants/${T}/payments/p1`).set({ amount: 1 });
    await db.doc("users/enrolled/private/mfa").set({ status: "enabled" });
    const now = Date.now();
    const session = (uid: string, extra: Record<string, unknown> = {}) => ({
      uid,
      status: "active",
      mfa: false,
      expiresAt: Timestamp.fromMillis(now + 24 * HOUR),
      idleExpiresAt: Timestamp.fromMillis(now + HOUR),
      ...extra,
    });
    await db.doc(`sessions/${LIVE}`).set(session("viewer"));
    await db.doc(`sessions/${REVOKED}`).set(session("viewer", { status: "revoked" }));
    await db.doc(`sessions/${EXPIRED}`).set(session("viewer", { expiresAt: Timestamp.fromMillis(now - 1000) }));
    await db.doc(`sessions/${IDLE}`).set(session("viewer", { idleExpiresAt: Timestamp.fromMillis(now - 1000) }));
    await db.doc(`sessions/${MFA_LIVE}`).set(session("enrolled", { mfa: true }));
    await db.doc(`sessions/${OTHERS}`).set(session("owner"));
    await db.doc(`sessions/${MFA_REVOKED}`).set(session("enrolled", { mfa: true, status: "revoked" }));
  });
}

const describeStorage = emulators.storage ? describe : describe.skip;

describe("firestore.rules: sessions, MFA and membership", () => {
  let env: RulesTestEnvironment;
  const read = (uid: string, claims: Record<string, unknown>, path = `tenants/${T}/payments/p1`) =>
    env
      .authenticatedContext(uid, tok({ tid: T, ...claims }))
      .firestore()
      .doc(path)
      .get();

  beforeAll(async () => {
    env = await rulesEnvironment(PROJECT, emulators);
  });
  beforeEach(async () => {
    await env.clearFirestore();
    await seed(env);
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  describe("a token naming a session", () => {
    it("reads while the session is active", async () => {
      await assertSucceeds(read("viewer", { sid: LIVE }));
    });
    it("is refused once the session is revoked, expired or idle-expired", async () => {
      await assertFails(read("viewer", { sid: REVOKED }));
      await assertFails(read("viewer", { sid: EXPIRED }));
      await assertFails(read("viewer", { sid: IDLE }));
    });
    it("is refused the moment revocation lands (no cache in rules)", async () => {
      await assertSucceeds(read("viewer", { sid: LIVE }));
      await env.withSecurityRulesDisabled((ctx) =>
        ctx.firestore().doc(`sessions/${LIVE}`).update({ status: "revoked" }),
      );
      await assertFails(read("viewer", { sid: LIVE }));
    });
    it("is refused for a session that is someone else's, unknown, or malformed", async () => {
      await assertFails(read("viewer", { sid: OTHERS }));
      await assertFails(read("viewer", { sid: sid(99) }));
      await assertFails(read("viewer", { sid: "../tenants/x" }));
      await assertFails(read("viewer", { sid: 42 }));
    });
  });

  describe("MFA", () => {
    it("refuses a user with MFA enrolled without an MFA-verified session, however the token looks", async () => {
      await assertFails(read("enrolled", {}));
      await assertFails(read("enrolled", { mfa: true }));
      await assertFails(read("enrolled", { sid: MFA_REVOKED, mfa: true }));
    });
    it("lets that user read through a live MFA-verified session", async () => {
      await assertSucceeds(read("enrolled", { sid: MFA_LIVE, mfa: true }));
    });
    it("applies the tenant policy to inherited roles (a custom role inheriting admin)", async () => {
      await assertSucceeds(read("covered", {}));
      await env.clearFirestore();
      await seed(env, { policy: true });
      await assertFails(read("covered", {}));
      await assertFails(read("admin", {}));
      await assertSucceeds(read("viewer", {}));
    });
  });

  describe("membership, not the token, decides", () => {
    it("a demoted admin whose token still says admin is refused admin-only reads", async () => {
      await env.withSecurityRulesDisabled((ctx) =>
        ctx.firestore().doc(`tenants/${T}/webhookDeliveries/d1`).set({ status: "delivered" }),
      );
      await assertSucceeds(read("admin", { roles: ["admin"] }, `tenants/${T}/webhookDeliveries/d1`));
      await assertFails(read("demoted", { roles: ["admin"] }, `tenants/${T}/webhookDeliveries/d1`));
    });
    it("a removed member holding a token with tid and roles reads nothing", async () => {
      await env.withSecurityRulesDisabled((ctx) => ctx.firestore().doc(`tenants/${T}/members/viewer`).delete());
      await assertFails(read("viewer", { roles: ["owner"] }));
      await assertFails(read("viewer", { roles: ["owner"] }, `tenants/${T}`));
    });
    it("members of a suspended tenant read nothing", async () => {
      await assertFails(
        env
          .authenticatedContext("suspendedOwner", tok({ tid: SUSP, roles: ["owner"] }))
          .firestore()
          .doc(`tenants/${SUSP}`)
          .get(),
      );
    });
  });
});

describeStorage("storage.rules: sessions, MFA and membership (cross-service)", () => {
  let env: RulesTestEnvironment;
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4]);
  const storage = (uid: string, claims: Record<string, unknown> = {}) =>
    env.authenticatedContext(uid, tok({ tid: members[uid]?.tid ?? T, ...claims })).storage();
  const file = (tid = T) => `tenants/${tid}/files/logo.png`;

  beforeAll(async () => {
    env = await rulesEnvironment(PROJECT, emulators, { storage: true });
  });
  beforeEach(async () => {
    await env.clearFirestore();
    await env.clearStorage();
    await seed(env);
    await env.withSecurityRulesDisabled(async (ctx) => {
      for (const tid of [T, SUSP]) await ctx.storage().ref(file(tid)).put(png, { contentType: "image/png" });
    });
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  it("lets a viewer read by the membership document's roles", async () => {
    await assertSucceeds(storage("viewer").ref(file()).getMetadata());
    await assertSucceeds(storage("demoted", { roles: [] }).ref(file()).getMetadata());
  });
  it("refuses every client upload, overwrite and delete, even an owner's (files go through the callables)", async () => {
    await assertFails(storage("demoted").ref(`tenants/${T}/files/n.png`).put(png, { contentType: "image/png" }).then());
    await assertFails(storage("owner").ref(file()).put(png, { contentType: "image/png" }).then());
    await assertFails(storage("admin").ref(file()).delete());
    await assertFails(storage("owner").ref(file()).delete());
  });
  it("refuses a removed member holding tid and roles claims", async () => {
    await env.withSecurityRulesDisabled((ctx) => ctx.firestore().doc(`tenants/${T}/members/viewer`).delete());
    await assertFails(
      storage("viewer", { roles: ["owner"] })
        .ref(file())
        .getMetadata(),
    );
  });
  it("refuses every member of a suspended tenant", async () => {
    await assertFails(
      storage("suspendedOwner", { roles: ["owner"] })
        .ref(file(SUSP))
        .getMetadata(),
    );
  });
  it("honours sessions and MFA like firestore.rules", async () => {
    await assertSucceeds(storage("viewer", { sid: LIVE }).ref(file()).getMetadata());
    await assertFails(storage("viewer", { sid: REVOKED }).ref(file()).getMetadata());
    await assertFails(storage("enrolled").ref(file()).getMetadata());
    await assertSucceeds(storage("enrolled", { sid: MFA_LIVE, mfa: true }).ref(file()).getMetadata());
  });
  it("refuses everything outside tenants/", async () => {
    await assertFails(storage("owner").ref("public/readme.txt").getMetadata());
    await assertFails(storage("owner").ref("public/new.png").put(png, { contentType: "image/png" }).then());
  });
});
