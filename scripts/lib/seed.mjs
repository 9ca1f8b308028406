/**
 * Seeds the local stack with a demo tenant and three users (owner, admin, viewer) in the Auth
 * emulator, with memberships in Firestore and `{tid, roles}` claims, so the functions can be
 * called at once. Idempotent: running it again reuses what exists.
 */
import { createRequire } from "node:module";
import { join } from "node:path";
import { PROJECT_ID, ROOT } from "./stack.mjs";

const require = createRequire(join(ROOT, "functions/package.json"));

export const DEMO_TENANT = "demo";
export const DEMO_PASSWORD = "demo-password-123";
export const DEMO_USERS = [
  { email: "owner@demo.test", roles: ["owner"] },
  { email: "admin@demo.test", roles: ["admin"] },
  { email: "viewer@demo.test", roles: ["viewer"] },
];

/** Creates (or finds) the demo users and tenant. `env` holds the emulator hosts. */
export async function seed(env) {
  Object.assign(process.env, env);
  const { initializeApp, getApps } = require("firebase-admin/app");
  const { getAuth } = require("firebase-admin/auth");
  const { getFirestore, FieldValue } = require("firebase-admin/firestore");
  const app = getApps()[0] ?? initializeApp({ projectId: PROJECT_ID });
  const auth = getAuth(app);
  const db = getFirestore(app);
  const batch = db.batch();
  batch.set(
    db.doc(`tenants/${DEMO_TENANT}`),
    { name: "Demo Inc.", status: "active", configVersion: 1, createdAt: FieldValue.serverTimestamp(), updatedAt: FieldValue.serverTimestamp() },
    { merge: true },
  );
  const users = [];
  for (const { email, roles } of DEMO_USERS) {
    let user;
    try {
      user = await auth.getUserByEmail(email);
    } catch {
      user = await auth.createUser({ email, password: DEMO_PASSWORD, emailVerified: true });
    }
    await auth.setCustomUserClaims(user.uid, { ...(user.customClaims ?? {}), tid: DEMO_TENANT, roles });
    batch.set(db.doc(`tenants/${DEMO_TENANT}/members/${user.uid}`), { roles, status: "active", email, createdAt: FieldValue.serverTimestamp() }, { merge: true });
    users.push({ email, uid: user.uid, roles });
  }
  await batch.commit();
  return users;
}
