/**
 * firestore.rules for file records: members read their tenant's records (files:read, viewer and
 * up), nobody writes them from a client, and the tenant's usage counter stays closed. Each allow
 * has its matching deny. Runs on the official Cloud Firestore emulator (see emulators.ts);
 * skipped with one printed line where it is absent.
 */
import {
  assertFails,
  assertSucceeds,
  type RulesTestEnvironment,
  type TokenOptions,
} from "@firebase/rules-unit-testing";
import { A, B, type Members, rulesEmulators, rulesEnvironment, S, seedTenants } from "./env";

const PROJECT = "demo-saas-files-rules";
const emulators = rulesEmulators(PROJECT);

const members: Members = {
  ownerA: { tid: A, roles: ["owner"] },
  viewerA: { tid: A, roles: ["viewer"] },
  customA: { tid: A, roles: ["billing"] },
  invitedA: { tid: A, roles: ["owner"], status: "invited" },
  viewerB: { tid: B, roles: ["viewer"] },
  ownerS: { tid: S, roles: ["owner"] },
};

function token(uid: string, override: Partial<{ tid: string }> = {}): TokenOptions {
  const m = members[uid];
  return { tid: override.tid ?? m?.tid, roles: m?.roles } as TokenOptions;
}

emulators.describeFirestore("firestore.rules: tenants/{tid}/files", () => {
  let env: RulesTestEnvironment;
  const db = (uid: string, override?: Partial<{ tid: string }>) =>
    env.authenticatedContext(uid, token(uid, override)).firestore();

  beforeAll(async () => {
    env = await rulesEnvironment(PROJECT, emulators);
  });

  beforeEach(async () => {
    await seedTenants(env, members);
    await env.withSecurityRulesDisabled(async (ctx) => {
      const admin = ctx.firestore();
      for (const tid of [A, B, S]) {
        await admin.doc(`tenants/${tid}/files/f1`).set({ name: "q1.pdf", status: "ready", size: 10, tags: ["x"] });
        await admin.doc(`tenants/${tid}/usage/files`).set({ bytes: 10, files: 1 });
      }
    });
  });

  afterAll(async () => {
    await env?.cleanup();
  });

  it("lets a viewer and up read and list their tenant's file records, filtered by tag", async () => {
    await assertSucceeds(db("viewerA").doc(`tenants/${A}/files/f1`).get());
    await assertSucceeds(db("ownerA").collection(`tenants/${A}/files`).get());
    await assertSucceeds(db("viewerA").collection(`tenants/${A}/files`).where("tags", "array-contains", "x").get());
  });

  it("refuses other tenants, stale or foreign claims, custom-role-only members, invitees and suspended tenants", async () => {
    await assertFails(db("viewerB").doc(`tenants/${A}/files/f1`).get());
    await assertFails(db("viewerB", { tid: A }).doc(`tenants/${A}/files/f1`).get());
    await assertFails(db("ownerA", { tid: B }).doc(`tenants/${A}/files/f1`).get());
    await assertFails(db("customA").doc(`tenants/${A}/files/f1`).get());
    await assertFails(db("invitedA").doc(`tenants/${A}/files/f1`).get());
    await assertFails(db("ownerS").doc(`tenants/${S}/files/f1`).get());
    await assertFails(env.unauthenticatedContext().firestore().doc(`tenants/${A}/files/f1`).get());
    await assertFails(db("ownerA").collectionGroup("files").get());
  });

  it("refuses every client write to file records, even the owner's", async () => {
    await assertFails(db("ownerA").doc(`tenants/${A}/files/f2`).set({ name: "x", status: "ready", size: 1 }));
    await assertFails(db("ownerA").doc(`tenants/${A}/files/f1`).update({ status: "ready", size: 1 }));
    await assertFails(db("ownerA").doc(`tenants/${A}/files/f1`).delete());
  });

  it("keeps the usage counter closed to reads and writes", async () => {
    await assertFails(db("ownerA").doc(`tenants/${A}/usage/files`).get());
    await assertFails(db("ownerA").doc(`tenants/${A}/usage/files`).set({ bytes: 0, files: 0 }));
  });
});
