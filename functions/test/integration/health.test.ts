/**
 * The health endpoint against the real emulators: Firestore round trip (and its failure when a
 * private Firestore emulator is stopped mid-test), Auth, the dead-letter topic on the Pub/Sub
 * emulator, a missing secret, honest "skipped" for Storage (no local emulator), detail only with the operator token, and the cache bounding
 * the Firestore work however often the endpoint is called.
 */
import type { ChildProcess } from "node:child_process";
import { deleteApp, initializeApp, type App } from "firebase-admin/app";
import { getAuth } from "firebase-admin/auth";
import { getFirestore, type Firestore } from "firebase-admin/firestore";
import { authReachable, firestoreRoundTrip, runCheck } from "../../src/health/checks";
import { defaultChecks, taskQueueNames } from "../../src/health/defaults";
import { health, setHealthProbe } from "../../src/health/index";
import { createHealthProbe } from "../../src/health/probe";
import { applyParamDefaults } from "../../src/platform/config";
import { callHttps, countOps, projectId } from "../support/firebase";
import { startPrivateFirestore } from "../support/private-firestore";

// Readiness probes every dependency; on a loaded machine the emulators' first answers are slow.
jest.setTimeout(30_000);

const OPERATOR = { authorization: `Bearer ${process.env.OPERATOR_TOKEN}` };

interface Check {
  name: string;
  status: string;
  latencyMs: number;
  reason?: string;
}

beforeAll(() => applyParamDefaults());
afterEach(() => setHealthProbe(undefined));

describe("Firestore check", () => {
  it("writes and reads back a health document with a TTL field", async () => {
    const { result, ops } = await countOps(() => runCheck("firestore", firestoreRoundTrip()));
    expect(result.status).toBe("ok");
    expect(ops.writes).toBe(1);
    expect(ops.reads).toBe(1);
    expect(ops.log.some((e) => e.path.includes("_health/") && e.kind === "write")).toBe(true);
  });

  describe("against a private emulator that is stopped mid-test", () => {
    let emulator: { child: ChildProcess; host: string };
    let app: App;
    let db: Firestore;

    beforeAll(async () => {
      emulator = await startPrivateFirestore();
      app = initializeApp({ projectId: projectId() }, `health-private-${Date.now()}`);
    }, 60_000);
    afterAll(async () => {
      if (emulator.child.exitCode === null) emulator.child.kill();
      await deleteApp(app);
    });

    it("is ok while the emulator runs and fails once it has stopped", async () => {
      // The SDK prefers FIRESTORE_EMULATOR_HOST over `settings.host`, and reads it when the
      // client first connects; point it at the private emulator for that moment only.
      const shared = process.env.FIRESTORE_EMULATOR_HOST;
      process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
      try {
        db = getFirestore(app);
        expect(
          await runCheck(
            "firestore",
            firestoreRoundTrip(() => db),
            10_000,
          ),
        ).toMatchObject({ status: "ok" });
      } finally {
        process.env.FIRESTORE_EMULATOR_HOST = shared;
      }
      const check = firestoreRoundTrip(() => db);
      expect(await runCheck("firestore", check, 10_000)).toMatchObject({ status: "ok" });

      const exited = new Promise((r) => emulator.child.once("exit", r));
      emulator.child.kill("SIGKILL");
      await exited;

      const result = await runCheck("firestore", check, 1500);
      expect(result.status).toBe("fail");
      expect(result.reason).toBeTruthy();
      // A fresh JVM answers its first requests slowly.
    }, 60_000);
  });
});

describe("Auth check", () => {
  it("is ok against the Auth emulator", async () => {
    expect(await runCheck("auth", authReachable())).toMatchObject({ status: "ok" });
  });

  it("fails when Auth cannot be reached", async () => {
    // An app whose Auth client was created while the emulator host pointed at a closed port.
    const saved = process.env.FIREBASE_AUTH_EMULATOR_HOST;
    process.env.FIREBASE_AUTH_EMULATOR_HOST = "127.0.0.1:1";
    const app = initializeApp({ projectId: projectId() }, `health-auth-down-${Date.now()}`);
    try {
      const auth = getAuth(app);
      const result = await runCheck(
        "auth",
        authReachable(() => auth),
        5000,
      );
      expect(result.status).toBe("fail");
    } finally {
      process.env.FIREBASE_AUTH_EMULATOR_HOST = saved;
      await deleteApp(app);
    }
  });
});

describe("health endpoint", () => {
  it("answers liveness without touching Firestore", async () => {
    const { result, ops } = await countOps(() => callHttps(health, { method: "GET", query: { probe: "live" } }));
    expect(result).toMatchObject({ status: 200, body: { status: "ok" } });
    expect(ops.reads + ops.writes).toBe(0);
  });

  it("shows the operator every dependency of the deployment with status, latency and reason", async () => {
    const res = await callHttps(health, { method: "GET", headers: OPERATOR });
    const body = res.body as { status: string; checks: Check[] };
    const byName = new Map(body.checks.map((c) => [c.name, c]));
    const queues = await taskQueueNames();
    expect([...byName.keys()].sort()).toEqual(
      ["firestore", "auth", "pubsub:dead-letters", "storage", "secrets", ...queues.map((q) => `tasks:${q}`)].sort(),
    );
    expect(byName.get("firestore")!.status).toBe("ok");
    expect(byName.get("auth")!.status).toBe("ok");
    expect(byName.get("secrets")!.status).toBe("ok");
    // The stack's Pub/Sub emulator has the dead-letter topic; there is no Storage emulator here,
    // which is reported honestly, not as healthy or failed.
    expect(byName.get("pubsub:dead-letters")).toMatchObject({ status: "ok" });
    expect(byName.get("storage")).toMatchObject({ status: "skipped", reason: "no Storage emulator" });
    for (const check of body.checks) expect(typeof check.latencyMs).toBe("number");
    const failed = body.checks.filter((c) => c.status === "fail");
    expect(res.status).toBe(failed.length === 0 ? 200 : 503);
    expect(body.status).toBe(failed.length === 0 ? "ok" : "fail");
  });

  it("shows anyone else only the overall status", async () => {
    for (const headers of [{}, { authorization: "Bearer wrong" }] as Record<string, string>[]) {
      const res = await callHttps(health, { method: "GET", headers });
      expect(Object.keys(res.body as object)).toEqual(["status"]);
    }
  });

  it("reports a missing secret as a failure (503) naming the secret, never a value", async () => {
    const saved = process.env.PAYMENT_WEBHOOK_SECRET;
    delete process.env.PAYMENT_WEBHOOK_SECRET;
    try {
      const res = await callHttps(health, { method: "GET", headers: OPERATOR });
      const body = res.body as { status: string; checks: Check[] };
      expect(res.status).toBe(503);
      expect(body.status).toBe("fail");
      expect(body.checks.find((c) => c.name === "secrets")).toMatchObject({
        status: "fail",
        reason: "PAYMENT_WEBHOOK_SECRET missing",
      });
      expect(JSON.stringify(body)).not.toContain(process.env.DATA_ENCRYPTION_KEY);
      expect(JSON.stringify(body)).not.toContain(process.env.OPERATOR_TOKEN);
    } finally {
      process.env.PAYMENT_WEBHOOK_SECRET = saved;
    }
  });

  it("caches readiness: many requests within the period cost one Firestore round trip", async () => {
    let now = 0;
    setHealthProbe(createHealthProbe({ checks: defaultChecks, cacheMs: 5000, now: () => now }));
    const first = await countOps(async () => {
      for (let i = 0; i < 20; i++) await callHttps(health, { method: "GET" });
    });
    expect(first.ops.writes).toBe(1);
    expect(first.ops.reads).toBe(1);
    now += 5000;
    const second = await countOps(() => callHttps(health, { method: "GET" }));
    expect(second.ops.writes).toBe(1);
  });

  it("refuses other methods", async () => {
    const res = await callHttps(health, { method: "POST", body: {} });
    expect(res.status).toBe(405);
  });
});
