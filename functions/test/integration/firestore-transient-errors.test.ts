/**
 * A real Firestore failure thrown by the Admin SDK inside a handler reaches the client as a
 * retryable code, never `internal`: a private official emulator holds a document lock in one
 * transaction while the handler's transaction waits on it past its deadline, so the SDK throws
 * DEADLINE_EXCEEDED exactly as it does against a contended production database.
 */
import type { ChildProcess } from "node:child_process";
import { Firestore } from "firebase-admin/firestore";
import { z } from "zod";
import { callable } from "../../src/platform/callable";
import { httpsEndpoint } from "../../src/platform/https";
import { callAs, callHttps, expectHttpsError, projectId } from "../support/firebase";
import { startPrivateFirestore } from "../support/private-firestore";

jest.setTimeout(60_000);

// Short per-call deadlines and no client-side retries, so the lock wait ends in seconds.
const METHODS = ["BeginTransaction", "BatchGetDocuments", "Commit", "Rollback"];
const clientConfig = {
  interfaces: {
    "google.firestore.v1.Firestore": {
      methods: Object.fromEntries(
        METHODS.map((m) => [m, { timeout_millis: 1500, retry_codes_name: "non_idempotent" }]),
      ),
    },
  },
};

let emulator: { child: ChildProcess; host: string };
let db: Firestore;
let releaseLock: () => void = () => undefined;
let lockHeld: Promise<unknown> = Promise.resolve();

beforeAll(async () => {
  emulator = await startPrivateFirestore();
  // The SDK prefers FIRESTORE_EMULATOR_HOST and reads it when it first connects.
  const shared = process.env.FIRESTORE_EMULATOR_HOST;
  process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  try {
    db = new Firestore({ projectId: projectId(), clientConfig } as ConstructorParameters<typeof Firestore>[0]);
    await db.doc("counters/hot").set({ n: 0 });
  } finally {
    process.env.FIRESTORE_EMULATOR_HOST = shared;
  }
}, 90_000);

afterAll(async () => {
  releaseLock();
  await lockHeld.catch(() => undefined);
  await db?.terminate();
  if (emulator?.child.exitCode === null) emulator.child.kill("SIGKILL");
});

/** Holds the document's lock in a transaction until `releaseLock` is called. */
async function holdLock(): Promise<void> {
  let locked: () => void = () => undefined;
  const ready = new Promise<void>((r) => (locked = r));
  lockHeld = db.runTransaction(
    async (tx) => {
      await tx.get(db.doc("counters/hot"));
      locked();
      await new Promise<void>((r) => (releaseLock = r));
      tx.update(db.doc("counters/hot"), { n: 1 });
    },
    { maxAttempts: 1 },
  );
  await ready;
}

const increment = () =>
  db.runTransaction(
    async (tx) => {
      const snap = await tx.get(db.doc("counters/hot"));
      tx.update(db.doc("counters/hot"), { n: (snap.get("n") as number) + 1 });
    },
    { maxAttempts: 1 },
  );

const probeCallable = callable(
  { name: "transientProbe", description: "test", input: z.object({}), auth: "none" },
  async () => {
    await increment();
    return { ok: true };
  },
);

const probeHttps = httpsEndpoint(
  { name: "transientProbeHttps", description: "test", methods: ["POST"], input: z.object({}), auth: "none" },
  async () => {
    await increment();
    return { status: 200, body: { ok: true } };
  },
);

describe("a contended document past the SDK's deadline", () => {
  beforeEach(holdLock);
  afterEach(async () => {
    releaseLock();
    await lockHeld;
  });

  it("answers a callable with unavailable and retryAfterSeconds, not internal", async () => {
    const error = await expectHttpsError(callAs(probeCallable, null, {}), "unavailable");
    expect(error.details).toMatchObject({ reason: "datastore-timeout", retryAfterSeconds: 5 });
  });

  it("answers an HTTPS endpoint with 503 and Retry-After", async () => {
    const result = await callHttps(probeHttps, { body: {} });
    expect(result.status).toBe(503);
    expect(result.headers).toMatchObject({ "Retry-After": "5" });
    expect(result.body).toMatchObject({ code: "unavailable", reason: "datastore-timeout" });
  });
});

describe("once the lock is released", () => {
  it("the same calls succeed, so the retry the code asked for works", async () => {
    await expect(callAs(probeCallable, null, {})).resolves.toEqual({ ok: true });
    expect((await callHttps(probeHttps, { body: {} })).status).toBe(200);
  });
});
