/**
 * Idempotent writes over the real Firestore and Auth emulators: replay, mismatch, missing key,
 * 50 concurrent callers, lease takeover, TTL expiry, server-error release, scoping, metrics.
 *
 * The functions under test are test-only wrappers around a handler that counts its runs and
 * writes one business document per run in its transaction, so "ran once" is proven twice: by
 * the counter and by the documents (and the operation log). Clocks are injected.
 */
import { randomUUID } from "node:crypto";
import { HttpsError } from "firebase-functions/v2/https";
import { z } from "zod";
import { scopeHash } from "../../src/idempotency/fingerprint";
import { resetSettingsCache } from "../../src/idempotency/settings";
import { createPayment } from "../../src/payments";
import { rootFirestore } from "../../src/platform/admin";
import { callable, tenantCallable, type TenantContext } from "../../src/platform/callable";
import { AppError, notFound } from "../../src/platform/errors";
import { httpsEndpoint } from "../../src/platform/https";
import { metrics } from "../../src/platform/metrics";
import type { IdempotencyMode, IdempotencyOptions } from "../../src/platform/spec";
import {
  callAs,
  callHttps,
  countOps,
  createTestUser,
  expectHttpsError,
  seedTenant,
  type OperationLog,
  type TestUser,
} from "../support/firebase";

jest.setTimeout(60_000);

const Input = z.strictObject({ label: z.string(), amount: z.number().int() });
type In = z.output<typeof Input>;

interface Deferred {
  promise: Promise<void>;
  release: () => void;
}
function deferred(): Deferred {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release };
}

/** A test clock: starts at the real time, moves only when a test says so. */
const clock = { ms: Date.now() };
const now = () => clock.ms;

interface Probe {
  runs: number;
  /** Gates the next runs wait on, in order (a run with no gate left goes straight through). */
  gates: Deferred[];
  /** Errors the next runs throw before touching Firestore, in order. */
  failures: unknown[];
}

let seq = 0;
const uniqueName = (base: string) => `${base}${++seq}x${randomUUID().slice(0, 6)}`;

/** The business effect: one `things` document per run, written in the handler's transaction. */
async function effect(probe: Probe, ctx: Pick<TenantContext<In>, "data" | "db" | "runTransaction">) {
  probe.runs++;
  const gate = probe.gates.shift();
  if (gate) await gate.promise;
  const failure = probe.failures.shift();
  if (failure) throw failure;
  const ref = ctx.db.collection("things").doc();
  return ctx.runTransaction(async (tx) => {
    tx.create(ref, { label: ctx.data.label, amount: ctx.data.amount });
    return { id: ref.id, label: ctx.data.label, amount: ctx.data.amount };
  });
}

function probeCallable(opts: { idempotent?: IdempotencyMode; options?: IdempotencyOptions } = {}) {
  const probe: Probe = { runs: 0, gates: [], failures: [] };
  const name = uniqueName("idemProbe");
  const fn = tenantCallable(
    {
      name,
      description: "test only",
      input: Input,
      permission: "payments:create",
      idempotent: opts.idempotent ?? true,
      idempotencyOptions: { now, ...opts.options },
    },
    (ctx) => effect(probe, ctx),
  );
  return { fn, probe, name };
}

function probeEndpoint(opts: { idempotent?: IdempotencyMode } = {}) {
  const probe: Probe = { runs: 0, gates: [], failures: [] };
  const name = uniqueName("idemHttp");
  const fn = httpsEndpoint(
    {
      name,
      description: "test only",
      methods: ["POST"],
      input: Input,
      tenant: true,
      permission: "payments:create",
      idempotent: opts.idempotent ?? true,
      idempotencyOptions: { now },
    },
    async ({ data, db, runTransaction }) => {
      probe.runs++;
      const gate = probe.gates.shift();
      if (gate) await gate.promise;
      const failure = probe.failures.shift();
      if (failure) throw failure;
      const ref = db!.collection("things").doc();
      return runTransaction(async (tx) => {
        tx.create(ref, { label: data.label, amount: data.amount });
        return {
          status: 201,
          headers: { Location: `/things/${ref.id}`, "X-Request-Label": data.label },
          body: { id: ref.id, label: data.label, amount: data.amount, nested: { z: 1, a: [1, 2.5, "é"] } },
        };
      });
    },
  );
  return { fn, probe, name };
}

let owner: TestUser;
let member: TestUser;
let tid: string;

beforeAll(async () => {
  [owner, member] = await Promise.all([createTestUser(), createTestUser()]);
  tid = await seedTenant({ owner: { user: owner, roles: ["owner"] }, member: { user: member, roles: ["member"] } });
});

const things = async (label: string) =>
  (await rootFirestore().collection(`tenants/${tid}/things`).where("label", "==", label).get()).docs;
/** The record of a key; `tenantId: null` for functions outside a tenant. */
const recordPath = (fn: string, key: string, principal = owner.uid, tenantId: string | null = tid) =>
  `${tenantId ? `tenants/${tenantId}/` : ""}idempotency/${scopeHash({ tenantId: tenantId ?? undefined, principal, fn, key })}`;
const idemOps = (ops: OperationLog, path: string) => ops.log.filter((e) => e.path === path);
const opsUnder = (ops: OperationLog, prefix: string) => ops.log.filter((e) => e.path.startsWith(prefix));

describe("replay", () => {
  it("returns the identical result without running the handler, for 1 read and no write", async () => {
    const { fn, probe, name } = probeCallable();
    const key = randomUUID();
    const label = randomUUID();
    const first = await countOps(() => callAs(fn, owner, { idempotencyKey: key, label, amount: 100 }));
    const second = await countOps(() => callAs(fn, owner, { amount: 100, label, idempotencyKey: key }));
    expect(probe.runs).toBe(1);
    expect(JSON.stringify(second.result)).toBe(JSON.stringify(first.result));
    expect(await things(label)).toHaveLength(1);

    const path = recordPath(name, key);
    // First call: the claim (1 read + 1 write), completion riding in the handler's transaction.
    const firstRecordOps = idemOps(first.ops, path);
    expect(firstRecordOps.map((e) => [e.kind, e.method])).toEqual([
      ["read", "BatchGetDocuments"],
      ["write", "Commit"],
      ["write", "Commit"],
    ]);
    // The completion is applied in the same commit as the business write (adjacent in the log).
    const [business] = opsUnder(first.ops, `tenants/${tid}/things/`);
    expect(Math.abs(business.seq - firstRecordOps[2].seq)).toBe(1);
    expect(idemOps(second.ops, path).map((e) => e.kind)).toEqual(["read"]);
    expect(opsUnder(second.ops, `tenants/${tid}/things/`)).toEqual([]);
  });

  it("replays an HTTPS response byte for byte (status, headers, body) without running the handler", async () => {
    const { fn, probe } = probeEndpoint();
    const key = randomUUID();
    const label = randomUUID();
    const call = () =>
      callHttps(fn, {
        headers: { Authorization: `Bearer ${owner.idToken}`, "Idempotency-Key": key },
        body: { label, amount: 7 },
      });
    const first = await call();
    const second = await call();
    expect(first.status).toBe(201);
    expect(JSON.stringify(second)).toBe(JSON.stringify(first));
    expect(probe.runs).toBe(1);
    expect(await things(label)).toHaveLength(1);
  });

  it("stores a client error and replays it, code, message and details", async () => {
    const { fn, probe } = probeCallable();
    probe.failures.push(new AppError("not-found", "No such account.", { reason: "no-account" }));
    const key = randomUUID();
    const first = await expectHttpsError(
      callAs(fn, owner, { idempotencyKey: key, label: "x", amount: 1 }),
      "not-found",
    );
    const second = await expectHttpsError(
      callAs(fn, owner, { idempotencyKey: key, label: "x", amount: 1 }),
      "not-found",
    );
    expect(probe.runs).toBe(1);
    expect([second.message, second.details]).toEqual([first.message, first.details]);
    expect(second.details).toEqual({ reason: "no-account" });
  });

  it("replays an HTTPS client error as the same problem+json", async () => {
    const { fn, probe } = probeEndpoint();
    probe.failures.push(notFound("No such account."));
    const key = randomUUID();
    const call = () =>
      callHttps(fn, {
        headers: { Authorization: `Bearer ${owner.idToken}`, "Idempotency-Key": key },
        body: { label: "x", amount: 1 },
      });
    const first = await call();
    const second = await call();
    expect(first.status).toBe(404);
    expect(first.contentType).toBe("application/problem+json");
    expect(JSON.stringify(second)).toBe(JSON.stringify(first));
    expect(probe.runs).toBe(1);
  });

  it("works with the real createPayment: one payment, identical replay", async () => {
    const key = randomUUID();
    const description = `idem-${randomUUID()}`;
    const data = { idempotencyKey: key, amount: 1234, currency: "eur", description };
    const first = await callAs(createPayment, owner, data);
    const second = await callAs(createPayment, owner, data);
    expect(JSON.stringify(second)).toBe(JSON.stringify(first));
    const payments = await rootFirestore()
      .collection(`tenants/${tid}/payments`)
      .where("description", "==", description)
      .get();
    expect(payments.size).toBe(1);
    await expectHttpsError(callAs(createPayment, owner, { ...data, amount: 1 }), "failed-precondition");
  });
});

describe("key reuse and missing keys", () => {
  it("refuses the same key with a different request (failed-precondition), running nothing", async () => {
    const { fn, probe } = probeCallable();
    const key = randomUUID();
    await callAs(fn, owner, { idempotencyKey: key, label: "a", amount: 1 });
    const error = await expectHttpsError(
      callAs(fn, owner, { idempotencyKey: key, label: "a", amount: 2 }),
      "failed-precondition",
    );
    expect(error.details).toMatchObject({ reason: "idempotency-key-reused" });
    expect(probe.runs).toBe(1);
  });

  it("answers HTTP 422 problem+json for a reused key", async () => {
    const { fn, probe } = probeEndpoint();
    const key = randomUUID();
    const headers = { Authorization: `Bearer ${owner.idToken}`, "Idempotency-Key": key };
    await callHttps(fn, { headers, body: { label: "a", amount: 1 } });
    const res = await callHttps(fn, { headers, body: { label: "a", amount: 2 } });
    expect(res.status).toBe(422);
    expect(res.contentType).toBe("application/problem+json");
    expect(res.body).toMatchObject({ status: 422, code: "failed-precondition", reason: "idempotency-key-reused" });
    expect(probe.runs).toBe(1);
  });

  it("refuses a call without a key when the function requires one (invalid-argument / 400)", async () => {
    const { fn, probe } = probeCallable({ idempotent: "required" });
    const error = await expectHttpsError(callAs(fn, owner, { label: "a", amount: 1 }), "invalid-argument");
    expect(error.details).toMatchObject({ fields: { idempotencyKey: ["required"] } });
    const endpoint = probeEndpoint({ idempotent: "required" });
    const res = await callHttps(endpoint.fn, {
      headers: { Authorization: `Bearer ${owner.idToken}` },
      body: { label: "a", amount: 1 },
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "invalid-argument", fields: { idempotencyKey: ["required"] } });
    expect(probe.runs + endpoint.probe.runs).toBe(0);
  });

  it("runs an optional-key function without a key every time", async () => {
    const { fn, probe } = probeCallable({ idempotent: "optional" });
    await callAs(fn, owner, { label: "a", amount: 1 });
    await callAs(fn, owner, { label: "a", amount: 1 });
    expect(probe.runs).toBe(2);
  });

  it("refuses malformed keys", async () => {
    const { fn, probe } = probeCallable();
    for (const bad of ["", "x".repeat(256), "tab\tkey", "é", 42]) {
      await expectHttpsError(callAs(fn, owner, { idempotencyKey: bad, label: "a", amount: 1 }), "invalid-argument");
    }
    expect(probe.runs).toBe(0);
  });
});

describe("scope", () => {
  it("never replays one caller's response to another caller using the same key", async () => {
    const { fn, probe } = probeCallable();
    const key = randomUUID();
    const a = await callAs<{ id: string }>(fn, owner, { idempotencyKey: key, label: "s", amount: 1 });
    const b = await callAs<{ id: string }>(fn, member, { idempotencyKey: key, label: "s", amount: 1 });
    expect(probe.runs).toBe(2);
    expect(a.id).not.toBe(b.id);
  });

  it("scopes keys per function", async () => {
    const one = probeCallable();
    const two = probeCallable();
    const key = randomUUID();
    await callAs(one.fn, owner, { idempotencyKey: key, label: "f", amount: 1 });
    await callAs(two.fn, owner, { idempotencyKey: key, label: "f", amount: 1 });
    expect([one.probe.runs, two.probe.runs]).toEqual([1, 1]);
  });

  it("keeps records of functions outside a tenant under the platform path, and refuses anonymous keys", async () => {
    let runs = 0;
    const name = uniqueName("idemPlatform");
    const fn = callable(
      { name, description: "test only", input: z.strictObject({ n: z.number() }), auth: "optional", idempotent: true },
      async ({ data }) => ({ n: data.n, run: ++runs }),
    );
    const key = randomUUID();
    const first = await callAs(fn, owner, { idempotencyKey: key, n: 1 });
    expect(await callAs(fn, owner, { idempotencyKey: key, n: 1 })).toEqual(first);
    expect(runs).toBe(1);
    const record = await rootFirestore()
      .doc(recordPath(name, key, owner.uid, null))
      .get();
    expect(record.get("state")).toBe("COMPLETED");
    await expectHttpsError(callAs(fn, null, { idempotencyKey: key, n: 1 }), "unauthenticated");
    expect(await callAs(fn, null, { n: 1 })).toEqual({ n: 1, run: 2 });
  });
});

describe("concurrency", () => {
  it("runs the handler exactly once for 50 concurrent requests with one key", async () => {
    const { fn, probe, name } = probeCallable();
    const key = randomUUID();
    const label = randomUUID();
    const { result: settled, ops } = await countOps(() =>
      Promise.allSettled(
        Array.from({ length: 50 }, () => callAs<{ id: string }>(fn, owner, { idempotencyKey: key, label, amount: 5 })),
      ),
    );
    expect(probe.runs).toBe(1);
    const docs = await things(label);
    expect(docs).toHaveLength(1);
    const fulfilled = settled.filter((s) => s.status === "fulfilled").map((s) => s.value);
    const rejected = settled.filter((s) => s.status === "rejected").map((s) => s.reason);
    expect(fulfilled.length).toBeGreaterThanOrEqual(1);
    for (const value of fulfilled) expect(value).toEqual({ id: docs[0].id, label, amount: 5 });
    for (const reason of rejected) {
      expect(reason).toBeInstanceOf(HttpsError);
      expect(reason).toMatchObject({ code: "aborted", details: { reason: "idempotency-request-in-flight" } });
    }
    // The operation log agrees: one business write, and the record written by one claim + one completion.
    expect(opsUnder(ops, `tenants/${tid}/things/`).filter((e) => e.kind === "write")).toHaveLength(1);
    expect(idemOps(ops, recordPath(name, key)).filter((e) => e.kind === "write")).toHaveLength(2);
    // And a later retry gets the stored result.
    expect(await callAs(fn, owner, { idempotencyKey: key, label, amount: 5 })).toEqual(fulfilled[0]);
  });

  it("answers in-flight retries with aborted and Retry-After, then replays once done", async () => {
    const { fn, probe } = probeCallable();
    const gate = deferred();
    probe.gates.push(gate);
    const key = randomUUID();
    const data = { idempotencyKey: key, label: "g", amount: 1 };
    const first = callAs(fn, owner, data);
    while (probe.runs === 0) await new Promise((r) => setImmediate(r));
    const error = await expectHttpsError(callAs(fn, owner, data), "aborted");
    expect(error.details).toMatchObject({ reason: "idempotency-request-in-flight", retryAfterSeconds: 1 });
    gate.release();
    const result = await first;
    expect(await callAs(fn, owner, data)).toEqual(result);
    expect(probe.runs).toBe(1);
  });

  it("answers HTTP 409 with Retry-After while the original is in flight", async () => {
    const { fn, probe } = probeEndpoint();
    const gate = deferred();
    probe.gates.push(gate);
    const call = () =>
      callHttps(fn, {
        headers: { Authorization: `Bearer ${owner.idToken}`, "Idempotency-Key": "in-flight-key" },
        body: { label: "h", amount: 1 },
      });
    const first = call();
    while (probe.runs === 0) await new Promise((r) => setImmediate(r));
    const res = await call();
    gate.release();
    expect((await first).status).toBe(201);
    expect(res.status).toBe(409);
    expect(res.headers).toMatchObject({ "Retry-After": "1" });
    expect(res.body).toMatchObject({ status: 409, code: "aborted", reason: "idempotency-request-in-flight" });
  });
});

describe("transactional mode", () => {
  const transactional = (opts: { idempotent?: IdempotencyMode } = {}) =>
    probeCallable({ ...opts, options: { mode: "transactional" } });

  it("costs 1 write in the handler's commit and no read; a replay costs 1 read and no write", async () => {
    const { fn, name } = transactional();
    const key = randomUUID();
    const label = randomUUID();
    const first = await countOps(() => callAs(fn, owner, { idempotencyKey: key, label, amount: 100 }));
    const second = await countOps(() => callAs(fn, owner, { amount: 100, label, idempotencyKey: key }));
    expect(JSON.stringify(second.result)).toBe(JSON.stringify(first.result));
    expect(await things(label)).toHaveLength(1);
    const path = recordPath(name, key);
    const firstRecordOps = idemOps(first.ops, path);
    expect(firstRecordOps.map((e) => [e.kind, e.method])).toEqual([["write", "Commit"]]);
    // The record is written in the same commit as the business document (adjacent in the log).
    const [business] = opsUnder(first.ops, `tenants/${tid}/things/`);
    expect(Math.abs(business.seq - firstRecordOps[0].seq)).toBe(1);
    expect([first.ops.reads, first.ops.writes]).toEqual([0, 2]);
    // The duplicate's commit fails on the record, its business write with it; then it reads and replays.
    expect(idemOps(second.ops, path).map((e) => e.kind)).toEqual(["read"]);
    expect([second.ops.reads, second.ops.writes]).toEqual([1, 0]);
    expect(opsUnder(second.ops, `tenants/${tid}/things/`)).toEqual([]);
    const record = (await rootFirestore().doc(path).get()).data()!;
    expect(record).toMatchObject({ state: "COMPLETED", responseKind: "value", fn: name });
  });

  it("runs the effect exactly once for 50 concurrent requests with one key", async () => {
    const { fn, name } = transactional();
    const key = randomUUID();
    const label = randomUUID();
    const { result: settled, ops } = await countOps(() =>
      Promise.allSettled(
        Array.from({ length: 50 }, () => callAs<{ id: string }>(fn, owner, { idempotencyKey: key, label, amount: 5 })),
      ),
    );
    const docs = await things(label);
    expect(docs).toHaveLength(1);
    const fulfilled = settled.filter((s) => s.status === "fulfilled").map((s) => s.value);
    const rejected = settled.filter((s) => s.status === "rejected").map((s) => s.reason);
    expect(fulfilled.length).toBeGreaterThanOrEqual(1);
    for (const value of fulfilled) expect(value).toEqual({ id: docs[0].id, label, amount: 5 });
    // Duplicates wait on the record and replay; one that runs out of transaction attempts under
    // this contention is told to retry (aborted, as for an in-flight key), never a second effect.
    for (const reason of rejected) {
      expect(reason).toBeInstanceOf(HttpsError);
      expect(reason).toMatchObject({ code: "aborted", details: { reason: "idempotency-request-in-flight" } });
    }
    expect(opsUnder(ops, `tenants/${tid}/things/`).filter((e) => e.kind === "write")).toHaveLength(1);
    expect(idemOps(ops, recordPath(name, key)).filter((e) => e.kind === "write")).toHaveLength(1);
    expect(await callAs(fn, owner, { idempotencyKey: key, label, amount: 5 })).toEqual({
      id: docs[0].id,
      label,
      amount: 5,
    });
  });

  it("makes a duplicate that overtakes a running original the one effect; the original replays it", async () => {
    const { fn, probe } = transactional();
    const gate = deferred();
    probe.gates.push(gate);
    const key = randomUUID();
    const label = randomUUID();
    const data = { idempotencyKey: key, label, amount: 1 };
    const original = callAs(fn, owner, data);
    while (probe.runs === 0) await new Promise((r) => setImmediate(r));
    const duplicate = await callAs(fn, owner, data);
    gate.release();
    expect(await original).toEqual(duplicate);
    expect(probe.runs).toBe(2);
    expect(await things(label)).toHaveLength(1);
  });

  it("serialises concurrent HTTPS duplicates into one effect and identical answers", async () => {
    const probe: Probe = { runs: 0, gates: [], failures: [] };
    const fn = httpsEndpoint(
      {
        name: uniqueName("idemHttpTx"),
        description: "test only",
        methods: ["POST"],
        input: Input,
        tenant: true,
        permission: "payments:create",
        idempotent: true,
        idempotencyOptions: { now, mode: "transactional" },
      },
      async ({ data, db, runTransaction }) => {
        probe.runs++;
        const ref = db!.collection("things").doc();
        return runTransaction(async (tx) => {
          tx.create(ref, { label: data.label, amount: data.amount });
          return { status: 201, headers: { Location: `/things/${ref.id}` }, body: { id: ref.id } };
        });
      },
    );
    const label = randomUUID();
    const call = () =>
      callHttps(fn, {
        headers: { Authorization: `Bearer ${owner.idToken}`, "Idempotency-Key": `tx-${label}` },
        body: { label, amount: 1 },
      });
    const answers = await Promise.all(Array.from({ length: 10 }, call));
    const docs = await things(label);
    expect(docs).toHaveLength(1);
    // 201 with the one document, or (transaction attempts exhausted under contention) a retryable 409.
    for (const answer of answers) {
      if (answer.status === 201) expect(answer.body).toEqual({ id: docs[0].id });
      else expect(answer.status).toBe(409);
    }
    expect(answers.some((a) => a.status === 201)).toBe(true);
  });

  it("reads and replaces an expired record in the handler's transaction, running the effect again", async () => {
    const { fn, name } = transactional();
    const key = randomUUID();
    const label = randomUUID();
    const data = { idempotencyKey: key, label, amount: 3 };
    const first = await callAs<{ id: string }>(fn, owner, data);
    clock.ms += 25 * 3600 * 1000; // past the 24 h TTL; Firestore's TTL has not deleted it yet
    const { result: second, ops } = await countOps(() => callAs<{ id: string }>(fn, owner, data));
    expect(second.id).not.toBe(first.id);
    expect((await things(label)).map((d) => d.id).sort()).toEqual([first.id, second.id].sort());
    const recordOps = idemOps(ops, recordPath(name, key));
    // Failed create → read outside → the transaction again: read in it, then replace.
    expect(recordOps.map((e) => [e.kind, e.transaction])).toEqual([
      ["read", false],
      ["read", true],
      ["write", true],
    ]);
    expect(await callAs(fn, owner, data)).toEqual(second);
  });

  it("refuses the same key with a different request, writing nothing", async () => {
    const { fn } = transactional();
    const key = randomUUID();
    await callAs(fn, owner, { idempotencyKey: key, label: "a", amount: 1 });
    const { result, ops } = await countOps(() =>
      expectHttpsError(callAs(fn, owner, { idempotencyKey: key, label: "a", amount: 2 }), "failed-precondition"),
    );
    expect(result.details).toMatchObject({ reason: "idempotency-key-reused" });
    expect(ops.writes).toBe(0);
  });

  it("records nothing for a call whose transaction never commits, so a retry runs again", async () => {
    const { fn, probe } = transactional();
    probe.failures.push(notFound("not yet"));
    const key = randomUUID();
    const label = randomUUID();
    await expectHttpsError(callAs(fn, owner, { idempotencyKey: key, label, amount: 1 }), "not-found");
    const retried = await callAs<{ id: string }>(fn, owner, { idempotencyKey: key, label, amount: 1 });
    expect(probe.runs).toBe(2);
    expect((await things(label)).map((d) => d.id)).toEqual([retried.id]);
  });

  it("is the mode of the real createPayment: one payment and one record write per key", async () => {
    const key = randomUUID();
    const description = `idem-tx-${randomUUID()}`;
    const data = { idempotencyKey: key, amount: 4321, currency: "eur", description };
    const { result: first, ops } = await countOps(() => callAs(createPayment, owner, data));
    const replayed = await callAs(createPayment, owner, data);
    expect(JSON.stringify(replayed)).toBe(JSON.stringify(first));
    const path = recordPath("createPayment", key);
    expect(idemOps(ops, path).map((e) => e.kind)).toEqual(["write"]);
    expect([ops.reads, ops.writes]).toEqual([0, 2]);
  });
});

describe("lease", () => {
  it("lets a retry take over after the lease, and fences the late holder out of committing", async () => {
    const { fn, probe, name } = probeCallable({ options: { lockSeconds: 5 } });
    const gate = deferred();
    probe.gates.push(gate);
    const key = randomUUID();
    const label = randomUUID();
    const data = { idempotencyKey: key, label, amount: 3 };
    const before = metrics.value("idempotency_lock_takeovers_total", { fn: name });

    const stuck = callAs(fn, owner, data).then(
      (value) => ({ ok: true as const, value }),
      (error: HttpsError) => ({ ok: false as const, error }),
    );
    while (probe.runs === 0) await new Promise((r) => setImmediate(r));
    await expectHttpsError(callAs(fn, owner, data), "aborted");

    clock.ms += 5_000;
    const takeover = await callAs<{ id: string }>(fn, owner, data);
    expect(probe.runs).toBe(2);
    expect(metrics.value("idempotency_lock_takeovers_total", { fn: name })).toBe(before + 1);

    // The original holder wakes up: its transaction carries the fenced completion, so it fails whole.
    gate.release();
    const late = await stuck;
    expect(late.ok).toBe(false);
    const docs = await things(label);
    expect(docs.map((d) => d.id)).toEqual([takeover.id]);
    expect(await callAs(fn, owner, data)).toEqual(takeover);
    expect(metrics.value("idempotency_results_total", { fn: name, result: "lease_lost" })).toBe(1);
  });
});

describe("TTL", () => {
  it("treats an expired record as absent before Firestore's TTL deletes it", async () => {
    const { fn, probe, name } = probeCallable({ options: { ttlSeconds: 60 } });
    const key = randomUUID();
    const first = await callAs(fn, owner, { idempotencyKey: key, label: "t", amount: 1 });
    const record = await rootFirestore().doc(recordPath(name, key)).get();
    expect(record.get("expireAt").toMillis()).toBe(clock.ms + 60_000);

    clock.ms += 59_999;
    expect(await callAs(fn, owner, { idempotencyKey: key, label: "t", amount: 1 })).toEqual(first);
    expect(probe.runs).toBe(1);

    clock.ms += 1;
    // Expired: the key is free again, even for a different request.
    const again = await callAs(fn, owner, { idempotencyKey: key, label: "t", amount: 2 });
    expect(probe.runs).toBe(2);
    expect(again).not.toEqual(first);
  });
});

describe("server errors", () => {
  it("release the key so a retry runs the handler", async () => {
    const { fn, probe, name } = probeCallable();
    probe.failures.push(new Error("database on fire"));
    const key = randomUUID();
    const data = { idempotencyKey: key, label: "r", amount: 1 };
    const error = await expectHttpsError(callAs(fn, owner, data), "internal");
    expect(error.message).toBe("Internal error.");
    expect((await rootFirestore().doc(recordPath(name, key)).get()).exists).toBe(false);
    const result = await callAs(fn, owner, data);
    expect(probe.runs).toBe(2);
    expect(await callAs(fn, owner, data)).toEqual(result);
    expect(probe.runs).toBe(2);
  });

  it("are stored and replayed when the function caches them", async () => {
    const { fn, probe } = probeCallable({ options: { cacheServerErrors: true } });
    probe.failures.push(new Error("database on fire"));
    const key = randomUUID();
    const data = { idempotencyKey: key, label: "c", amount: 1 };
    await expectHttpsError(callAs(fn, owner, data), "internal");
    const replayed = await expectHttpsError(callAs(fn, owner, data), "internal");
    expect(replayed.message).toBe("Internal error.");
    expect(probe.runs).toBe(1);
  });
});

describe("metrics", () => {
  it("count a scripted sequence exactly, by function and outcome", async () => {
    const { fn, probe, name } = probeCallable({ idempotent: "required" });
    const k1 = randomUUID();
    const r1 = await callAs(fn, owner, { idempotencyKey: k1, label: "m", amount: 1 }); // first, completed
    await callAs(fn, owner, { idempotencyKey: k1, label: "m", amount: 1 }); // replay
    await callAs(fn, owner, { idempotencyKey: k1, label: "m", amount: 2 }).catch(() => undefined); // mismatch
    await callAs(fn, owner, { label: "m", amount: 1 }).catch(() => undefined); // missing key
    probe.failures.push(new Error("boom"));
    await callAs(fn, owner, { idempotencyKey: randomUUID(), label: "m", amount: 1 }).catch(() => undefined); // first, released
    const gate = deferred();
    probe.gates.push(gate);
    const k3 = randomUUID();
    const pending = callAs(fn, owner, { idempotencyKey: k3, label: "m", amount: 3 }); // first
    while (probe.runs < 3) await new Promise((r) => setImmediate(r));
    await callAs(fn, owner, { idempotencyKey: k3, label: "m", amount: 3 }).catch(() => undefined); // in flight
    gate.release();
    const r3 = await pending; // completed

    const v = (outcome: string) => metrics.value("idempotency_requests_total", { fn: name, outcome });
    expect([v("first"), v("replay"), v("mismatch"), v("missing_key"), v("in_flight")]).toEqual([3, 1, 1, 1, 1]);
    const r = (result: string) => metrics.value("idempotency_results_total", { fn: name, result });
    expect([r("completed"), r("released"), r("failed"), r("lease_lost")]).toEqual([2, 1, 0, 0]);
    expect(metrics.value("idempotency_lock_takeovers_total", { fn: name })).toBe(0);
    const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify({ v: value }));
    expect(metrics.value("idempotency_stored_bytes_total", { fn: name })).toBe(bytes(r1) + bytes(r3));
    // Never labelled by tenant, user or key.
    for (const sample of metrics.snapshot().filter((s) => s.name.startsWith("idempotency_"))) {
      expect(Object.keys(sample.labels).sort()).toEqual(expect.arrayContaining(["fn"]));
      expect(Object.values(sample.labels).join(" ")).not.toMatch(new RegExp(`${tid}|${owner.uid}|${k1}`));
    }
  });
});

describe("completion in the handler's transaction", () => {
  function customCallable(
    body: (ctx: TenantContext<In>, probe: Probe) => Promise<unknown>,
    options?: IdempotencyOptions,
  ) {
    const probe: Probe = { runs: 0, gates: [], failures: [] };
    const name = uniqueName("idemCustom");
    const fn = tenantCallable(
      {
        name,
        description: "test only",
        input: Input,
        permission: "payments:create",
        idempotent: true,
        idempotencyOptions: { now, ...options },
      },
      async (ctx) => {
        probe.runs++;
        return body(ctx, probe);
      },
    );
    return { fn, probe, name };
  }
  const create = (ctx: TenantContext<In>) => {
    const ref = ctx.db.collection("things").doc();
    return ctx.runTransaction(async (tx) => {
      tx.create(ref, { label: ctx.data.label, amount: ctx.data.amount });
      return ref.id;
    });
  };

  it("stores the handler's own result when the transaction returns something else", async () => {
    const { fn, probe } = customCallable(async (ctx) => {
      const a = await create(ctx);
      const b = await create(ctx);
      return { a, b, label: ctx.data.label };
    });
    const label = randomUUID();
    const data = { idempotencyKey: randomUUID(), label, amount: 1 };
    const first = await callAs(fn, owner, data);
    expect(await callAs(fn, owner, data)).toEqual(first);
    expect(probe.runs).toBe(1);
    expect(await things(label)).toHaveLength(2);
  });

  it("marks the effect when the transaction returns nothing, and stores the response after", async () => {
    const { fn, probe, name } = customCallable(async (ctx) => {
      const ref = ctx.db.collection("things").doc();
      await ctx.runTransaction(async (tx) => {
        tx.create(ref, { label: ctx.data.label, amount: ctx.data.amount });
      });
      return { id: ref.id };
    });
    const label = randomUUID();
    const key = randomUUID();
    const data = { idempotencyKey: key, label, amount: 1 };
    const { result: first, ops } = await countOps(() => callAs(fn, owner, data));
    expect(await callAs(fn, owner, data)).toEqual(first);
    expect(probe.runs).toBe(1);
    expect(idemOps(ops, recordPath(name, key)).filter((e) => e.kind === "write")).toHaveLength(3);
  });

  it("never runs a committed effect twice, even when its instance dies before storing the response", async () => {
    const gate = deferred();
    const { fn, probe } = customCallable(
      async (ctx) => {
        const ref = ctx.db.collection("things").doc();
        await ctx.runTransaction(async (tx) => {
          tx.create(ref, { label: ctx.data.label, amount: ctx.data.amount });
        });
        await gate.promise; // the instance "dies" here: effect committed, response not yet stored
        return { id: ref.id };
      },
      { lockSeconds: 5 },
    );
    const label = randomUUID();
    const data = { idempotencyKey: randomUUID(), label, amount: 1 };
    const original = callAs(fn, owner, data);
    while ((await things(label)).length === 0) await new Promise((r) => setTimeout(r, 20));
    await expectHttpsError(callAs(fn, owner, data), "aborted");
    clock.ms += 5_000;
    const error = await expectHttpsError(callAs(fn, owner, data), "failed-precondition");
    expect(error.details).toMatchObject({ reason: "idempotency-response-not-stored" });
    expect(probe.runs).toBe(1);
    expect(await things(label)).toHaveLength(1);
    gate.release();
    const result = await original;
    expect(await callAs(fn, owner, data)).toEqual(result);
  });

  it("replays a client error thrown after the transaction committed", async () => {
    const { fn, probe } = customCallable(async (ctx) => {
      await create(ctx);
      throw new AppError("failed-precondition", "Card declined after booking.", { reason: "declined" });
    });
    const label = randomUUID();
    const data = { idempotencyKey: randomUUID(), label, amount: 1 };
    await expectHttpsError(callAs(fn, owner, data), "failed-precondition");
    const again = await expectHttpsError(callAs(fn, owner, data), "failed-precondition");
    expect(again.details).toEqual({ reason: "declined" });
    expect(probe.runs).toBe(1);
    expect(await things(label)).toHaveLength(1);
  });
});

describe("response size", () => {
  const saved = process.env.IDEMPOTENCY_MAX_RESPONSE_BYTES;
  beforeAll(() => {
    process.env.IDEMPOTENCY_MAX_RESPONSE_BYTES = "1024";
    resetSettingsCache();
  });
  afterAll(() => {
    process.env.IDEMPOTENCY_MAX_RESPONSE_BYTES = saved;
    resetSettingsCache();
  });

  it("gives the first caller a response over the limit, records the effect once, and tells a replay", async () => {
    let runs = 0;
    const fn = tenantCallable(
      {
        name: uniqueName("idemBig"),
        description: "test only",
        input: Input,
        idempotent: true,
        idempotencyOptions: { now },
      },
      async ({ data }) => ({ run: ++runs, blob: "x".repeat(2000), label: data.label }),
    );
    const data = { idempotencyKey: randomUUID(), label: "big", amount: 1 };
    const first = await callAs<{ blob: string }>(fn, owner, data);
    expect(first.blob).toHaveLength(2000);
    const error = await expectHttpsError(callAs(fn, owner, data), "failed-precondition");
    expect(error.details).toMatchObject({ reason: "idempotency-response-not-stored" });
    expect(runs).toBe(1);
  });
});
