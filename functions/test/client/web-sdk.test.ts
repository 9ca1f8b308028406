/**
 * The product as a web app meets it: the official `firebase` web SDK (auth, functions, firestore)
 * against the local stack, with firestore.rules enforced by the official Firestore emulator.
 * Callables, custom-token sessions, a live listener, and every client read or write that the
 * rules must refuse.
 */
import { randomUUID } from "node:crypto";
import { deleteApp, initializeApp, type FirebaseApp } from "firebase/app";
import {
  connectAuthEmulator,
  getAuth,
  signInWithCustomToken,
  signInWithEmailAndPassword,
  signOut,
  type Auth,
} from "firebase/auth";
import {
  collection,
  connectFirestoreEmulator,
  doc,
  getDoc,
  getDocs,
  initializeFirestore,
  onSnapshot,
  runTransaction,
  setDoc,
  setLogLevel,
  updateDoc,
  type Firestore,
} from "firebase/firestore";
import { connectFunctionsEmulator, getFunctions, httpsCallable, type Functions } from "firebase/functions";
import { rootFirestore } from "../../src/platform/admin";
import { createTestUser, seedTenant, type TestUser } from "../support/firebase";

jest.setTimeout(60_000);
// Denials are the point of half these tests; the SDK would log each as a warning.
setLogLevel("silent");

const hostPort = (value: string | undefined, fallback: string) => {
  const [host, port] = (value ?? fallback).split(":");
  return { host, port: Number(port) };
};

interface Client {
  app: FirebaseApp;
  auth: Auth;
  db: Firestore;
  fns: Functions;
}

const clients: Client[] = [];

/** A fresh web app instance, as one browser tab would create it, wired to the emulators. */
function webClient(): Client {
  const app = initializeApp({ projectId: process.env.GCLOUD_PROJECT, apiKey: "demo-key" }, `web-${randomUUID()}`);
  const auth = getAuth(app);
  connectAuthEmulator(auth, `http://${process.env.FIREBASE_AUTH_EMULATOR_HOST}`, { disableWarnings: true });
  const db = initializeFirestore(app, {});
  const firestore = hostPort(process.env.FIRESTORE_CLIENT_HOST, "127.0.0.1:8080");
  connectFirestoreEmulator(db, firestore.host, firestore.port);
  const fns = getFunctions(app, "us-central1");
  const functions = new URL(process.env.FUNCTIONS_EMULATOR_ORIGIN ?? "http://127.0.0.1:5001");
  connectFunctionsEmulator(fns, functions.hostname, Number(functions.port));
  const client = { app, auth, db, fns };
  clients.push(client);
  return client;
}

async function signedIn(user: TestUser): Promise<Client> {
  const client = webClient();
  await signInWithEmailAndPassword(client.auth, user.email, user.password);
  return client;
}

const call = <R = unknown>(client: Client, name: string, data?: unknown) =>
  httpsCallable<unknown, R>(client.fns, name)(data).then((r) => r.data);

/** Resolves to the Firestore error code of a client operation that must be refused. */
async function refusal(op: Promise<unknown>): Promise<string> {
  try {
    await op;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
  return "allowed";
}

afterAll(async () => {
  for (const c of clients) {
    await signOut(c.auth).catch(() => undefined);
    await deleteApp(c.app);
  }
});

describe("a web app on the local stack", () => {
  let owner: TestUser;
  let outsider: TestUser;
  let A: string;
  let B: string;
  let paymentB: string;

  beforeAll(async () => {
    owner = await createTestUser();
    outsider = await createTestUser();
    A = await seedTenant({ owner: { user: owner, roles: ["owner"] } });
    B = await seedTenant({ outsider: { user: outsider, roles: ["owner"] } });
    paymentB = `pay-${randomUUID().slice(0, 8)}`;
    const admin = rootFirestore();
    await admin.doc(`tenants/${B}/payments/${paymentB}`).set({ status: "created", amount: 100, currency: "eur" });
    await admin.doc(`tenants/${A}/webhookEndpoints/ep1`).set({ url: "https://example.test/hook", secret: "sealed" });
    await admin.doc(`sessions/${randomUUID().replace(/-/g, "")}`).set({ uid: owner.uid, status: "active" });
  });

  it("signs in and calls a callable with the user's ID token", async () => {
    const client = await signedIn(owner);
    const me = await call<{ uid: string; tenantId?: string }>(client, "whoami", {});
    expect(me.uid).toBe(owner.uid);
  });

  it("creates a payment through a callable and reads it back under the rules", async () => {
    const client = await signedIn(owner);
    const created = await call<{ payment: { id: string } }>(client, "createPayment", { amount: 1250, currency: "eur" });
    const snap = await getDoc(doc(client.db, `tenants/${A}/payments/${created.payment.id}`));
    expect(snap.exists()).toBe(true);
    expect(snap.get("amount")).toBe(1250);
  });

  it("calls the list functions without arguments, as httpsCallable(fns, name)() sends data: null", async () => {
    const client = await signedIn(owner);
    for (const name of ["listPayments", "listMembers", "listWebhookEndpoints", "listDeadLetters"]) {
      await expect(httpsCallable(client.fns, name)()).resolves.toMatchObject({ data: expect.any(Object) });
    }
  });

  it("starts a session, signs in with its custom token and acts with the session's ID token", async () => {
    const client = await signedIn(owner);
    const session = await call<{ customToken: string; sessionId: string }>(client, "startSession", {});
    const device = webClient();
    const cred = await signInWithCustomToken(device.auth, session.customToken);
    const claims = (await cred.user.getIdTokenResult()).claims;
    expect(claims.sid).toBe(session.sessionId);
    const me = await call<{ uid: string }>(device, "whoami", {});
    expect(me.uid).toBe(owner.uid);
    const tenant = await getDoc(doc(device.db, `tenants/${A}`));
    expect(tenant.exists()).toBe(true);
  });

  it("delivers the tenant document and then each later change to a listener", async () => {
    const client = await signedIn(owner);
    const names: string[] = [];
    const seen = (name: string) =>
      new Promise<void>((resolve) => {
        const check = () => (names.includes(name) ? resolve() : setTimeout(check, 20));
        check();
      });
    const original = (await rootFirestore().doc(`tenants/${A}`).get()).get("name") as string;
    const unsubscribe = onSnapshot(doc(client.db, `tenants/${A}`), (snap) => names.push(snap.get("name")));
    try {
      await seen(original);
      await call(client, "updateTenant", { name: "Renamed live" });
      await seen("Renamed live");
    } finally {
      unsubscribe();
    }
    expect(names[0]).toBe(original);
    expect(names.at(-1)).toBe("Renamed live");
  });

  it("writes from the web SDK complete (refused by the rules) instead of hanging", async () => {
    const client = await signedIn(owner);
    expect(await refusal(setDoc(doc(client.db, `tenants/${A}/payments/forged`), { status: "succeeded" }))).toBe(
      "permission-denied",
    );
  });

  describe("refused by firestore.rules", () => {
    let client: Client;
    beforeAll(async () => {
      client = await signedIn(owner);
    });

    it.each([
      ["another tenant's document", () => `tenants/${B}`],
      ["another tenant's payment", () => `tenants/${B}/payments/${paymentB}`],
      ["another tenant's member", () => `tenants/${B}/members/${outsider.uid}`],
      ["the own tenant's webhook endpoint (holds the signing secret)", () => `tenants/${A}/webhookEndpoints/ep1`],
      ["a user's private MFA document", () => `users/${owner.uid}/private/mfa`],
    ])("a member reading %s", async (_what, path) => {
      expect(await refusal(getDoc(doc(client.db, path())))).toBe("permission-denied");
    });

    it("a member listing another tenant's payments or members", async () => {
      expect(await refusal(getDocs(collection(client.db, `tenants/${B}/payments`)))).toBe("permission-denied");
      expect(await refusal(getDocs(collection(client.db, `tenants/${B}/members`)))).toBe("permission-denied");
    });

    it("a member listing the sessions collection", async () => {
      expect(await refusal(getDocs(collection(client.db, "sessions")))).toBe("permission-denied");
    });

    it("a signed-out client reading any tenant", async () => {
      const anonymous = webClient();
      expect(await refusal(getDoc(doc(anonymous.db, `tenants/${B}`)))).toBe("permission-denied");
      expect(await refusal(getDoc(doc(anonymous.db, `tenants/${A}`)))).toBe("permission-denied");
    });

    it("a member writing into another tenant, directly or in a transaction", async () => {
      expect(await refusal(setDoc(doc(client.db, `tenants/${B}/payments/planted`), { status: "succeeded" }))).toBe(
        "permission-denied",
      );
      const tx = runTransaction(client.db, async (t) => {
        t.set(doc(client.db, `tenants/${B}/payments/planted-tx`), { status: "succeeded" });
      });
      expect(await refusal(tx)).toBe("permission-denied");
    });

    it("a member forging a succeeded payment or a role change in the own tenant", async () => {
      const forged = runTransaction(client.db, async (t) => {
        t.set(doc(client.db, `tenants/${A}/payments/forged-tx`), { status: "succeeded", amount: 1 });
      });
      expect(await refusal(forged)).toBe("permission-denied");
      expect(
        await refusal(updateDoc(doc(client.db, `tenants/${A}/members/${owner.uid}`), { roles: ["owner", "x"] })),
      ).toBe("permission-denied");
    });

    it("leaves nothing written by the refused attempts", async () => {
      const admin = rootFirestore();
      for (const path of [
        `tenants/${B}/payments/planted`,
        `tenants/${B}/payments/planted-tx`,
        `tenants/${A}/payments/forged`,
        `tenants/${A}/payments/forged-tx`,
      ]) {
        expect((await admin.doc(path).get()).exists).toBe(false);
      }
    });
  });
});
