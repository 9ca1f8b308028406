/**
 * The invocation envelope through the real pipeline (Auth and Firestore emulators): every
 * callable, HTTPS and task invocation records its duration histogram and error counter and
 * writes one request log line (ids only, errors always, successes sampled), and idempotent
 * replays are flagged with `Idempotent-Replayed: true`.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { tenantCallable } from "../../src/platform/callable";
import { AppError, notFound } from "../../src/platform/errors";
import { httpsEndpoint } from "../../src/platform/https";
import { metrics, type MetricFamily } from "../../src/platform/metrics";
import { INVOCATION_ERRORS, INVOCATION_HISTOGRAM } from "../../src/platform/observe";
import type { FunctionSpec } from "../../src/platform/spec";
import { traceTask } from "../../src/platform/tracing-port";
import { callAs, callHttps, createTestUser, seedTenant, type TestUser } from "../support/firebase";
import { captureLogs } from "../support/observability-logs";

jest.setTimeout(30_000);

const lines = captureLogs();
const requestLines = (fn: string) => lines.filter((l) => l.message === "request" && l.fn === fn);
let user: TestUser;
let stranger: TestUser;
let tid: string;

const secretNote = `note-${randomUUID()}`;
const echo = tenantCallable(
  { name: "rlEcho", description: "test only", input: z.strictObject({ note: z.string() }), permission: "tenant:read" },
  async ({ data }) => ({ length: data.note.length }),
);

let failWith: Error | undefined;
const endpoint = httpsEndpoint(
  {
    name: "rlEndpoint",
    description: "test only",
    methods: ["POST"],
    input: z.strictObject({ n: z.number().int() }),
    tenant: true,
    permission: "payments:create",
    idempotent: true,
  },
  async ({ data }) => {
    if (failWith) throw failWith;
    return { status: 201, body: { n: data.n } };
  },
);

/** The count of the invocation histogram and the error counter for one function and code. */
async function counts(fn: string, code: string): Promise<{ invocations: number; errors: number }> {
  const families: MetricFamily[] = await metrics.snapshot();
  const histogram = families.find((f) => f.name === INVOCATION_HISTOGRAM);
  const invocations =
    histogram?.values.find(
      (v) => v.metricName === `${INVOCATION_HISTOGRAM}_count` && v.labels.fn === fn && v.labels.code === code,
    )?.value ?? 0;
  return { invocations, errors: await metrics.value(INVOCATION_ERRORS, { fn, code }) };
}

beforeAll(async () => {
  [user, stranger] = await Promise.all([createTestUser(), createTestUser()]);
  tid = await seedTenant({ owner: { user, roles: ["owner"] } }, { name: "Secret Corp Name" });
});

beforeEach(() => {
  lines.length = 0;
  failWith = undefined;
  process.env.REQUEST_LOG_SAMPLE_PERCENT = "100";
});

afterAll(() => {
  process.env.REQUEST_LOG_SAMPLE_PERCENT = "100";
});

describe("the invocation envelope of callables", () => {
  it("counts each invocation in the duration histogram by outcome code, and errors by code", async () => {
    const okBefore = await counts("rlEcho", "ok");
    const refusedBefore = await counts("rlEcho", "failed-precondition");
    await callAs(echo, user, { note: "a" });
    await callAs(echo, user, { note: "b" });
    await expect(callAs(echo, stranger, { note: "c" })).rejects.toThrow(); // no active tenant
    expect(await counts("rlEcho", "ok")).toEqual({ invocations: okBefore.invocations + 2, errors: 0 });
    expect(await counts("rlEcho", "failed-precondition")).toEqual({
      invocations: refusedBefore.invocations + 1,
      errors: refusedBefore.errors + 1,
    });
    const histogram = (await metrics.snapshot()).find((f) => f.name === INVOCATION_HISTOGRAM)!;
    const labels = histogram.values.filter((v) => v.labels.fn === "rlEcho").map((v) => Object.keys(v.labels).sort());
    // Bounded labels only: never a tenant id or uid.
    for (const keys of labels) expect(keys.filter((k) => k !== "le")).toEqual(["code", "fn", "kind"]);
    expect(JSON.stringify(histogram.values)).not.toMatch(new RegExp(`${tid}|${user.uid}`));
  });

  it("writes exactly one request line per invocation with ids, outcome and latency, and no input", async () => {
    await callAs(echo, user, { note: secretNote });
    const [line, ...more] = requestLines("rlEcho");
    expect(more).toEqual([]);
    expect(line).toMatchObject({
      severity: "INFO",
      fn: "rlEcho",
      kind: "callable",
      outcome: "ok",
      tenantId: tid,
      uid: user.uid,
    });
    expect(line.latencyMs).toEqual(expect.any(Number));
    const text = JSON.stringify(line);
    for (const leak of [secretNote, "Secret Corp Name", user.idToken, user.email]) expect(text).not.toContain(leak);
  });

  it("samples successes by REQUEST_LOG_SAMPLE_PERCENT but always logs errors, and always counts both", async () => {
    process.env.REQUEST_LOG_SAMPLE_PERCENT = "0";
    const before = await counts("rlEcho", "ok");
    for (let i = 0; i < 5; i++) await callAs(echo, user, { note: "x" });
    await expect(callAs(echo, stranger, { note: "x" })).rejects.toThrow();
    expect((await counts("rlEcho", "ok")).invocations).toBe(before.invocations + 5);
    expect(requestLines("rlEcho").map((l) => [l.severity, l.outcome])).toEqual([["WARNING", "failed-precondition"]]);

    process.env.REQUEST_LOG_SAMPLE_PERCENT = "100";
    await callAs(echo, user, { note: "x" });
    expect(requestLines("rlEcho")).toHaveLength(2);
  });
});

describe("the invocation envelope of HTTPS endpoints", () => {
  const post = (key: string, n: number) =>
    callHttps(endpoint, { headers: { Authorization: `Bearer ${user.idToken}`, "Idempotency-Key": key }, body: { n } });

  it("flags replayed answers with Idempotent-Replayed: true, and only those", async () => {
    const key = randomUUID();
    const first = await post(key, 1);
    const second = await post(key, 1);
    expect(first.status).toBe(201);
    expect(first.headers?.["Idempotent-Replayed"]).toBeUndefined();
    expect(second).toMatchObject({ status: 201, body: { n: 1 }, headers: { "Idempotent-Replayed": "true" } });
    expect(requestLines("rlEndpoint").map((l) => [l.outcome, l.status, l.replayed])).toEqual([
      ["ok", 201, undefined],
      ["ok", 201, true],
    ]);
  });

  it("flags a replayed stored error too, and answers a fresh key without the flag", async () => {
    failWith = notFound("No such thing.");
    const key = randomUUID();
    const first = await post(key, 2);
    const second = await post(key, 2);
    expect(first).toMatchObject({ status: 404, body: { code: "not-found" } });
    expect(first.headers?.["Idempotent-Replayed"]).toBeUndefined();
    expect(second).toMatchObject({ status: 404, headers: { "Idempotent-Replayed": "true" } });
    failWith = undefined;
    expect((await post(randomUUID(), 3)).headers?.["Idempotent-Replayed"]).toBeUndefined();
  });

  it("records an HTTPS answer's problem code as its outcome and a 5xx as an error-level line", async () => {
    const before = await counts("rlEndpoint", "unavailable");
    failWith = new AppError("unavailable", "Try later.");
    const res = await post(randomUUID(), 4);
    expect(res.status).toBe(503);
    expect(await counts("rlEndpoint", "unavailable")).toEqual({
      invocations: before.invocations + 1,
      errors: before.errors + 1,
    });
    expect(requestLines("rlEndpoint").at(-1)).toMatchObject({ severity: "ERROR", outcome: "unavailable", status: 503 });
  });
});

describe("the invocation envelope of task handlers", () => {
  const spec: FunctionSpec = { kind: "task", name: "rlTask", description: "test only", auth: "none", tenant: false };

  it("records a thrown (retried) task as internal, and a returned one as ok", async () => {
    const before = await counts("rlTask", "internal");
    await expect(
      traceTask(spec, { data: {} }, async () => {
        throw new Error("provider down");
      }),
    ).rejects.toThrow("provider down");
    await traceTask(spec, { data: {} }, async () => "done");
    expect(await counts("rlTask", "internal")).toEqual({
      invocations: before.invocations + 1,
      errors: before.errors + 1,
    });
    expect(requestLines("rlTask").map((l) => [l.severity, l.kind, l.outcome])).toEqual([
      ["ERROR", "task", "internal"],
      ["INFO", "task", "ok"],
    ]);
  });
});
