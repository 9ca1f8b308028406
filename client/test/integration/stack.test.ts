/**
 * The library against the local stack, with the real modular web SDK: each "tab" is its own
 * FirebaseApp, as in a browser. Needs the stack's env (run through `npm test -- client/`).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, test } from "node:test";
import { deleteApp, initializeApp, type FirebaseApp } from "firebase/app";
import {
  connectAuthEmulator,
  createUserWithEmailAndPassword,
  getAuth,
  signInWithEmailAndPassword,
} from "firebase/auth";
import { connectFunctionsEmulator, getFunctions } from "firebase/functions";
import {
  createPayment,
  createSessionManager,
  createTenant,
  fieldErrors,
  idempotent,
  inProcessLock,
  isAppError,
  listPayments,
  listSessions,
  memoryStorage,
  revokeSession,
  whoami,
  type SessionStorage,
} from "../../src/index.js";

const apps: FirebaseApp[] = [];
after(async () => {
  await Promise.all(apps.map((app) => deleteApp(app)));
});

/** A fresh app instance (one browser tab) wired to the emulators. */
function tab() {
  const app = initializeApp({ projectId: process.env.GCLOUD_PROJECT, apiKey: "demo-key" }, `tab-${randomUUID()}`);
  apps.push(app);
  const auth = getAuth(app);
  connectAuthEmulator(auth, `http://${process.env.FIREBASE_AUTH_EMULATOR_HOST}`, { disableWarnings: true });
  const functions = getFunctions(app, "us-central1");
  const origin = new URL(process.env.FUNCTIONS_EMULATOR_ORIGIN ?? "http://127.0.0.1:5001");
  connectFunctionsEmulator(functions, origin.hostname, Number(origin.port));
  return { auth, functions };
}

const password = "correct horse battery staple";

/** A new user signed in with a password in a new tab, owner of a fresh tenant. */
async function owner() {
  const t = tab();
  const email = `client-${randomUUID().slice(0, 8)}@example.test`;
  await createUserWithEmailAndPassword(t.auth, email, password);
  await createTenant(t.functions, { name: "Client test" });
  await t.auth.currentUser!.getIdToken(true);
  return { ...t, email };
}

/** A tab of the same user: signed in with the password, sharing `storage` and the lock. */
async function sameUser(email: string, storage: SessionStorage, signedOut: string[] = []) {
  const t = tab();
  await signInWithEmailAndPassword(t.auth, email, password);
  return createSessionManager({
    ...t,
    storage,
    lock: inProcessLock(`test-${email}`),
    onSignedOut: (reason) => signedOut.push(String(reason)),
  });
}

test("a session starts, rotates its token and calls typed functions in the tenant", async () => {
  const user = await owner();
  const storage = memoryStorage();
  const session = await sameUser(user.email, storage);
  const started = await session.start({ label: "client test" });
  const claims = (await session.auth.currentUser!.getIdTokenResult(true)).claims;
  assert.equal(claims.sid, started.sessionId);
  const me = await whoami(session);
  assert.equal(me.uid, session.auth.currentUser!.uid);
  assert.equal(typeof me.tenantId, "string");

  const rotated = await session.refresh();
  assert.equal(rotated.sessionId, started.sessionId);
  assert.notEqual(rotated.refreshToken, started.refreshToken);
  assert.equal((await storage.get())?.refreshToken, rotated.refreshToken);
  assert.deepEqual(await listPayments(session), { items: [], next: null });
  session.dispose();
});

test("two tabs refreshing at once end with one session and no reuse lock-out", async () => {
  const user = await owner();
  const storage = memoryStorage();
  const signedOut: string[] = [];
  const a = await sameUser(user.email, storage, signedOut);
  const b = await sameUser(user.email, storage, signedOut);
  const first = await a.start();
  const [ra, rb] = await Promise.all([a.refresh(), b.refresh()]);
  assert.equal(ra.refreshToken, rb.refreshToken);
  assert.notEqual(ra.refreshToken, first.refreshToken);
  // Both tabs keep working, and the next rotation is accepted: no reuse was detected.
  const next = await b.refresh();
  assert.notEqual(next.refreshToken, ra.refreshToken);
  const { sessions } = await listSessions(a);
  assert.deepEqual(
    sessions.map((s) => s.sessionId),
    [first.sessionId],
  );
  assert.deepEqual(signedOut, []);
  a.dispose();
  b.dispose();
});

test("a revoked session signs the device out on its next call", async () => {
  const user = await owner();
  const signedOut: string[] = [];
  const device = await sameUser(user.email, memoryStorage(), signedOut);
  const started = await device.start();
  // Another device of the same user ends this session.
  const other = tab();
  await signInWithEmailAndPassword(other.auth, user.email, password);
  await revokeSession(other.functions, { sessionId: started.sessionId });

  await assert.rejects(whoami(device), (error) => isAppError(error, "session-revoked"));
  assert.deepEqual(signedOut, ["session-revoked"]);
  assert.equal(await device.current(), null);
  assert.equal(device.auth.currentUser, null);
  device.dispose();
});

test("bad input answers field errors, and typed reasons tell preconditions apart", async () => {
  const t = tab();
  await createUserWithEmailAndPassword(t.auth, `client-${randomUUID().slice(0, 8)}@example.test`, password);
  await assert.rejects(createTenant(t.functions, { name: "" }), (error) => {
    assert.deepEqual(Object.keys(fieldErrors(error)), ["name"]);
    return true;
  });
  await assert.rejects(listPayments(t.functions), (error) => isAppError(error, "no-active-tenant"));
});

test("an idempotent call with one key per action creates one payment however often it is repeated", async () => {
  const user = await owner();
  const key = randomUUID();
  const input = { amount: 1999, currency: "eur" };
  const first = await idempotent(user.functions, createPayment, input, { key });
  const again = await idempotent(user.functions, createPayment, input, { key });
  assert.deepEqual(again, first);
  const { items: payments } = await listPayments(user.functions);
  assert.equal(payments.length, 1);
  // A different input under the same key is refused, and not retried.
  await assert.rejects(idempotent(user.functions, createPayment, { amount: 5, currency: "eur" }, { key }), (error) =>
    isAppError(error, "idempotency-key-reused"),
  );
});
