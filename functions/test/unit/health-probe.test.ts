/**
 * Health probe logic without emulators: caching and coalescing under an injected clock, the
 * operator-token gate, overall status rules, and the Google-API checks against a local HTTP
 * server standing in for Cloud Tasks, Pub/Sub and Cloud Storage.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  pubsubTopic,
  runCheck,
  secretsPresent,
  SkipCheck,
  storageBucket,
  tasksQueue,
  type NamedCheck,
} from "../../src/health/checks";
import { SECRET_TARGETS } from "../../src/health/defaults";
import { answerHealth } from "../../src/health/index";
import { bearerMatches } from "../../src/observability/metrics-auth";
import { createHealthProbe, overall } from "../../src/health/probe";

const TOKEN = "operator-token-for-tests-0123456789";

function counting(name: string, behaviour: () => Promise<void> = async () => undefined) {
  const state = { calls: 0 };
  const check: NamedCheck = {
    name,
    check: async () => {
      state.calls++;
      await behaviour();
    },
  };
  return { state, check };
}

describe("readiness cache", () => {
  it("runs the checks at most once per cache period, whatever the request rate", async () => {
    let now = 1_000_000;
    const fs = counting("firestore");
    const probe = createHealthProbe({ checks: () => [fs.check], cacheMs: 5000, now: () => now });
    for (let i = 0; i < 50; i++) await probe.ready();
    expect(fs.state.calls).toBe(1);
    now += 4999;
    await probe.ready();
    expect(fs.state.calls).toBe(1);
    now += 1;
    await probe.ready();
    expect(fs.state.calls).toBe(2);
  });

  it("shares one in-flight run between concurrent requests", async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const slow = counting("slow", () => gate);
    const probe = createHealthProbe({ checks: () => [slow.check], now: () => 0 });
    const pending = Promise.all(Array.from({ length: 20 }, () => probe.ready()));
    release();
    const reports = await pending;
    expect(slow.state.calls).toBe(1);
    expect(new Set(reports).size).toBe(1);
  });

  it("caches a failing report too, so a failing dependency is not hammered", async () => {
    const broken = counting("firestore", async () => {
      throw new Error("UNAVAILABLE");
    });
    const probe = createHealthProbe({ checks: () => [broken.check], now: () => 0 });
    expect((await probe.ready()).status).toBe("fail");
    expect((await probe.ready()).status).toBe("fail");
    expect(broken.state.calls).toBe(1);
  });

  it("liveness touches no dependency", async () => {
    const fs = counting("firestore");
    const probe = createHealthProbe({ checks: () => [fs.check] });
    const res = await answerHealth(probe, "live", undefined, () => TOKEN);
    expect(res).toMatchObject({ status: 200, body: { status: "ok" } });
    expect(fs.state.calls).toBe(0);
  });
});

describe("overall status", () => {
  it("fails on any failed check; skipped checks (no emulator) do not fail readiness", () => {
    expect(overall([{ name: "a", status: "ok", latencyMs: 1 }])).toBe("ok");
    expect(
      overall([
        { name: "a", status: "ok", latencyMs: 1 },
        { name: "pubsub", status: "skipped", latencyMs: 0, reason: "no Pub/Sub emulator" },
      ]),
    ).toBe("ok");
    expect(
      overall([
        { name: "a", status: "skipped", latencyMs: 0 },
        { name: "b", status: "fail", latencyMs: 1 },
      ]),
    ).toBe("fail");
  });

  it("reports a check that hangs as failed when its timeout passes", async () => {
    const result = await runCheck("hang", () => new Promise(() => undefined), 20);
    expect(result).toMatchObject({ name: "hang", status: "fail", reason: "timed out after 20 ms" });
  });

  it("reports SkipCheck as skipped with its reason", async () => {
    const result = await runCheck("pubsub", async () => {
      throw new SkipCheck("no Pub/Sub emulator");
    });
    expect(result).toMatchObject({ status: "skipped", reason: "no Pub/Sub emulator" });
  });
});

describe("detail is for operators only", () => {
  const failing = () =>
    createHealthProbe({
      checks: () => [
        { name: "firestore", check: async () => undefined },
        {
          name: "secrets",
          check: async () => {
            throw new Error("OPERATOR_TOKEN missing");
          },
        },
      ],
    });

  it("shows only the overall status without the token", async () => {
    const res = await answerHealth(failing(), "ready", undefined, () => TOKEN);
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ status: "fail" });
    expect(res.headers?.["Cache-Control"]).toBe("no-store");
  });

  it.each([
    ["a wrong token", "Bearer not-the-token"],
    ["a prefix of the token", `Bearer ${TOKEN.slice(0, -1)}`],
    ["the token without Bearer", TOKEN],
    ["an empty bearer", "Bearer "],
  ])("shows only the status for %s", async (_name, header) => {
    const res = await answerHealth(failing(), "ready", header, () => TOKEN);
    expect(res.body).toEqual({ status: "fail" });
  });

  it("shows each dependency with status, latency and reason to the operator", async () => {
    const res = await answerHealth(failing(), "ready", `Bearer ${TOKEN}`, () => TOKEN);
    expect(res.status).toBe(503);
    const body = res.body as { status: string; checks: { name: string; status: string; latencyMs: number }[] };
    expect(body.status).toBe("fail");
    expect(body.checks).toEqual([
      { name: "firestore", status: "ok", latencyMs: expect.any(Number) },
      { name: "secrets", status: "fail", latencyMs: expect.any(Number), reason: "OPERATOR_TOKEN missing" },
    ]);
  });

  it("shows nobody the detail when no operator token is configured", async () => {
    for (const header of ["Bearer ", "Bearer x", ["Bearer x"]]) {
      const res = await answerHealth(failing(), "ready", header, () => "");
      expect(res.body).toEqual({ status: "fail" });
    }
  });

  it.each([
    `Bearer ${TOKEN}`,
    `bearer ${TOKEN}`,
    ` Bearer ${TOKEN} `,
    `Bearer  ${TOKEN}`,
    `Bearer ${TOKEN} x`,
    `Basic ${TOKEN}`,
    "Bearer",
    "",
  ])("answers %j exactly as the metrics endpoint's check does", async (header) => {
    const res = await answerHealth(failing(), "ready", header, () => TOKEN);
    expect("checks" in (res.body as object)).toBe(bearerMatches(header, TOKEN));
  });
});

describe("secrets check", () => {
  const key = Buffer.alloc(32, 1).toString("base64");

  describe("of the deployment's DATA_ENCRYPTION_KEY", () => {
    const target = SECRET_TARGETS.find((t) => t.name === "DATA_ENCRYPTION_KEY")!;
    const other = Buffer.alloc(32, 2).toString("base64");

    it.each([
      ["one bare key", key],
      ["a keyring after a rotation", `2:${other},1:${key}`],
    ])("accepts %s", (_name, value) => {
      expect(target.validate!(value)).toBeUndefined();
    });

    it.each([
      ["a short key", Buffer.alloc(16).toString("base64")],
      ["a keyring with a short key", `2:${Buffer.alloc(16).toString("base64")},1:${key}`],
      ["a keyring entry without an id", `${other},1:${key}`],
    ])("refuses %s without echoing it", (_name, value) => {
      const reason = target.validate!(value);
      expect(reason).toEqual(expect.any(String));
      expect(reason).not.toContain(value.split(",")[0].split(":").at(-1));
    });
  });

  it("passes when every secret is present and well-formed", async () => {
    const check = secretsPresent([
      { name: "A", value: () => key, validate: (v) => (Buffer.from(v, "base64").length === 32 ? undefined : "bad") },
    ]);
    await expect(check()).resolves.toBeUndefined();
  });

  it("names missing and malformed secrets without their values", async () => {
    const check = secretsPresent([
      { name: "DATA_ENCRYPTION_KEY", value: () => "c2hvcnQ=", validate: () => "is not 32 bytes of base64" },
      {
        name: "PAYMENT_WEBHOOK_SECRET",
        value: () => {
          throw new Error('No value found for secret parameter "PAYMENT_WEBHOOK_SECRET"');
        },
      },
      { name: "OPERATOR_TOKEN", value: () => "" },
    ]);
    const result = await runCheck("secrets", check);
    expect(result.status).toBe("fail");
    expect(result.reason).toBe(
      "DATA_ENCRYPTION_KEY is not 32 bytes of base64; PAYMENT_WEBHOOK_SECRET missing; OPERATOR_TOKEN missing",
    );
    expect(result.reason).not.toContain("c2hvcnQ=");
  });
});

describe("Google API checks (against a local stand-in server)", () => {
  let server: Server;
  let host: string;
  const routes = new Map<string, { status: number; body: unknown }>();
  const seen: IncomingMessage[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req);
      const route = routes.get(req.url ?? "") ?? { status: 404, body: { error: "not found" } };
      res.writeHead(route.status, { "content-type": "application/json" }).end(JSON.stringify(route.body));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    routes.clear();
    seen.length = 0;
  });

  /** Sends production URLs to the stand-in, keeping their paths. */
  const viaStandIn: typeof fetch = (input, init) => {
    const url = new URL(String(input));
    return fetch(`http://${host}${url.pathname}${url.search}`, init);
  };
  const token = async () => "access-token";

  it("queue under the emulator: ok when registered, fail when not, skipped without an emulator", async () => {
    routes.set("/queueStats", { status: 200, body: { "queue:p-us-central1-processInbound": { numberOfTasks: 0 } } });
    const target = { project: "p", location: "us-central1", emulator: true, emulatorHost: host };
    expect((await runCheck("q", tasksQueue({ ...target, queue: "processInbound" }))).status).toBe("ok");
    expect(await runCheck("q", tasksQueue({ ...target, queue: "deliverWebhook" }))).toMatchObject({
      status: "fail",
      reason: "queue not registered with the emulator",
    });
    expect(await runCheck("q", tasksQueue({ ...target, emulatorHost: undefined, queue: "x" }))).toMatchObject({
      status: "skipped",
      reason: "no Cloud Tasks emulator",
    });
  });

  it("queue in production: RUNNING is ok, PAUSED and missing fail, with the runtime account's token", async () => {
    const base = "/v2/projects/p/locations/us-central1/queues";
    routes.set(`${base}/running`, { status: 200, body: { state: "RUNNING" } });
    routes.set(`${base}/paused`, { status: 200, body: { state: "PAUSED" } });
    const target = { project: "p", location: "us-central1", emulator: false };
    const deps = { fetch: viaStandIn, token };
    expect((await runCheck("q", tasksQueue({ ...target, queue: "running" }, deps))).status).toBe("ok");
    expect(seen[0].headers.authorization).toBe("Bearer access-token");
    expect(await runCheck("q", tasksQueue({ ...target, queue: "paused" }, deps))).toMatchObject({
      status: "fail",
      reason: "queue is PAUSED",
    });
    expect(await runCheck("q", tasksQueue({ ...target, queue: "gone" }, deps))).toMatchObject({
      status: "fail",
      reason: "not found",
    });
  });

  it("dead-letter topic: ok when it exists, fail when missing or forbidden, skipped without an emulator", async () => {
    routes.set("/v1/projects/p/topics/dead-letters", { status: 200, body: { name: "projects/p/topics/dead-letters" } });
    routes.set("/v1/projects/p/topics/forbidden", { status: 403, body: {} });
    const deps = { fetch: viaStandIn, token };
    expect(
      (await runCheck("t", pubsubTopic({ project: "p", topic: "dead-letters", emulator: false }, deps))).status,
    ).toBe("ok");
    expect(
      (await runCheck("t", pubsubTopic({ project: "p", topic: "dead-letters", emulator: true, emulatorHost: host })))
        .status,
    ).toBe("ok");
    expect(await runCheck("t", pubsubTopic({ project: "p", topic: "missing", emulator: false }, deps))).toMatchObject({
      status: "fail",
      reason: "not found",
    });
    expect(await runCheck("t", pubsubTopic({ project: "p", topic: "forbidden", emulator: false }, deps))).toMatchObject(
      {
        status: "fail",
        reason: "permission denied to the runtime service account",
      },
    );
    expect(await runCheck("t", pubsubTopic({ project: "p", topic: "x", emulator: true }))).toMatchObject({
      status: "skipped",
      reason: "no Pub/Sub emulator",
    });
  });

  it("bucket: ok when visible, fail when missing, skipped without an emulator", async () => {
    routes.set("/storage/v1/b/b1?fields=name", { status: 200, body: { name: "b1" } });
    const deps = { fetch: viaStandIn, token };
    expect((await runCheck("s", storageBucket({ bucket: async () => "b1", emulator: false }, deps))).status).toBe("ok");
    expect(await runCheck("s", storageBucket({ bucket: async () => "nope", emulator: false }, deps))).toMatchObject({
      status: "fail",
      reason: "not found",
    });
    expect(await runCheck("s", storageBucket({ bucket: async () => "b1", emulator: true }))).toMatchObject({
      status: "skipped",
      reason: "no Storage emulator",
    });
  });

  it("fails when the service cannot be reached at all", async () => {
    const result = await runCheck(
      "q",
      tasksQueue({ project: "p", location: "l", queue: "q", emulator: true, emulatorHost: "127.0.0.1:1" }),
    );
    expect(result.status).toBe("fail");
  });
});
