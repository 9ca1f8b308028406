/**
 * Idempotency on the emulators: a callable with the full stack (tenant + permission +
 * idempotency) against the same handler called bare, in one run.
 *
 * - Firestore operations per first call and per replay, from the Firestore emulator's operation
 *   log (entries under this run's tenant only, since other work may share the emulator).
 *   Goals: lease mode (claim + completion) adds at most 1 read and 2 writes; transactional mode
 *   (issue 20: the record created in the handler's commit) at most 1 read and 1 write (measured:
 *   no read); a replay costs 1 read in both.
 * - Median latency, full stack / bare: goal ≤ 1.3 for a replay, ≤ 1.5 for a transactional-mode
 *   first call; reported for lease-mode first calls.
 *
 * Needs the Firestore emulator (FIRESTORE_EMULATOR_HOST, default the stack's counting proxy 127.0.0.1:8081) and a built
 * functions/lib (`npm run build` in functions/). The ID token check of the callable protocol is
 * outside both sides (the request carries a decoded token, as onCall hands it over).
 * Bounded: fixed sample counts and a watchdog.
 */
import { randomUUID } from "node:crypto";
import { lastSeqOf, operationLog, setUpBench } from "./lib/harness.mjs";
import { interleaved, median, microsPerCall, printTable } from "./lib/table.mjs";


// The plan budget (every tenant function's "tenant" rate limit) is not what is measured here.
const { require, load } = setUpBench("idempotency", {
  watchdogMs: 240_000,
  env: { RATE_LIMIT_POLICIES: JSON.stringify({ tenant: { points: 1_000_000 } }) },
});
const { tenantCallable } = load("platform/callable.js");
const { rootFirestore } = load("platform/admin.js");
const { TenantDb } = load("tenancy/db.js");
const { z } = require("zod");


const SAMPLES = Number(process.env.IDEM_BENCH_SAMPLES ?? 61);
const WARMUP = 10;

const project = process.env.GCLOUD_PROJECT;

// --- a tenant with one member allowed to create payments
const tid = `bench-idem-${randomUUID().slice(0, 8)}`;
const uid = "u-bench";
const db = rootFirestore();
const now = new Date();
const seed = db.batch();
seed.set(db.doc(`tenants/${tid}`), { name: "bench", status: "active", configVersion: 1, createdAt: now });
seed.set(db.doc(`tenants/${tid}/members/${uid}`), { roles: ["member"], status: "active", createdAt: now });
await seed.commit();
// Admission checks the caller's Auth state (the session stage): the caller must exist.
const { adminAuth } = load("platform/admin.js");
await adminAuth().deleteUser(uid).catch(() => undefined);
await adminAuth().createUser({ uid });

const Input = z.strictObject({ amount: z.number().int(), currency: z.string() });

/** The handler under test: one business document written in its transaction, result returned from it. */
async function handler({ data, db: tenantDb, runTransaction }) {
  const ref = tenantDb.collection("benchPayments").doc();
  return runTransaction(async (tx) => {
    tx.create(ref, { amount: data.amount, currency: data.currency, status: "created" });
    return { id: ref.id, amount: data.amount, currency: data.currency, status: "created" };
  });
}

/** The same effect without a transaction: the completion cannot ride, it is a write of its own. */
async function plainHandler({ data, db: tenantDb }) {
  const ref = tenantDb.collection("benchPayments").doc();
  await ref.create({ amount: data.amount, currency: data.currency, status: "created" });
  return { id: ref.id, amount: data.amount, currency: data.currency, status: "created" };
}

const spec = (name) => ({ name, description: "bench", input: Input, permission: "payments:create", idempotent: true });
const full = tenantCallable(spec("benchIdempotent"), handler);
const fullPlain = tenantCallable(spec("benchIdempotentPlain"), plainHandler);
const fullTx = tenantCallable(
  { ...spec("benchIdempotentTx"), idempotencyOptions: { mode: "transactional" } },
  handler,
);
const tenantDb = new TenantDb(tid, db);
const bareCtx = (data) => ({ data, db: tenantDb, runTransaction: (fn) => tenantDb.runTransaction(fn) });

const data = { amount: 1299, currency: "eur" };
const request = (key) => ({
  data: key ? { ...data, idempotencyKey: key } : data,
  auth: { uid, token: { uid, tid } },
  rawRequest: { headers: {} },
});
const replayKey = randomUUID();
const txReplayKey = randomUUID();

const rows = {
  "bare handler": () => handler(bareCtx(data)),
  "full stack, first call (fresh key)": () => full.run(request(randomUUID())),
  "full stack, replay (same key)": () => full.run(request(replayKey)),
  "transactional, first call (fresh key)": () => fullTx.run(request(randomUUID())),
  "transactional, replay (same key)": () => fullTx.run(request(txReplayKey)),
};

// Warm-up: instance caches (tenant, membership, permissions) and the replay key's record.
for (const fn of Object.values(rows)) for (let i = 0; i < WARMUP; i++) await fn();
await fullPlain.run(request(randomUUID()));

/** Firestore ops under this tenant caused by `n` sequential calls of `fn`, per call. */
async function opsPerCall(fn, n = 10) {
  const before = lastSeqOf(await operationLog());
  for (let i = 0; i < n; i++) await fn();
  const entries = (await operationLog()).log.filter((e) => e.seq > before && e.path.startsWith(`tenants/${tid}/`));
  const count = (kind, sub) => entries.filter((e) => e.kind === kind && (!sub || e.path.includes(sub))).length / n;
  return {
    reads: count("read"),
    writes: count("write") + count("delete"),
    idemReads: count("read", "/idempotency/"),
    idemWrites: count("write", "/idempotency/") + count("delete", "/idempotency/"),
  };
}
const bareOps = await opsPerCall(rows["bare handler"]);
const firstOps = await opsPerCall(rows["full stack, first call (fresh key)"]);
const plainOps = await opsPerCall(() => fullPlain.run(request(randomUUID())));
const replayOps = await opsPerCall(rows["full stack, replay (same key)"]);
const txFirstOps = await opsPerCall(rows["transactional, first call (fresh key)"]);
const txReplayOps = await opsPerCall(rows["transactional, replay (same key)"]);

// Latency, in ms per call.
const samples = await interleaved(rows, SAMPLES, async (fn) => (await microsPerCall(fn, 1)) / 1000);

const bare = median(samples["bare handler"]);
const first = median(samples["full stack, first call (fresh key)"]);
const replay = median(samples["full stack, replay (same key)"]);
const txFirst = median(samples["transactional, first call (fresh key)"]);
const txReplay = median(samples["transactional, replay (same key)"]);
const added = (ops) => ({ reads: ops.reads - bareOps.reads, writes: ops.writes - bareOps.writes });
const firstAdded = added(firstOps);
const plainAdded = added(plainOps);
const txAdded = added(txFirstOps);
const opsRow = (name, value, goal, ok) => ({ name, value, unit: "ops", digits: 2, goal, ok });

const table = [
  { name: "bare handler (baseline)", value: bare, unit: "ms", digits: 2 },
  { name: "full stack, first call", value: first, baseline: bare, unit: "ms", digits: 2, goal: "reported" },
  {
    name: "full stack, replay",
    value: replay,
    baseline: bare,
    unit: "ms",
    digits: 2,
    goal: "ratio ≤ 1.3",
    ok: replay / bare <= 1.3,
  },
  {
    name: "transactional mode, first call",
    value: txFirst,
    baseline: bare,
    unit: "ms",
    digits: 2,
    goal: "ratio ≤ 1.5",
    ok: txFirst / bare <= 1.5,
  },
  {
    name: "transactional mode, replay",
    value: txReplay,
    baseline: bare,
    unit: "ms",
    digits: 2,
    goal: "reported",
  },
  opsRow("bare handler: reads+writes per call", bareOps.reads + bareOps.writes, "-", undefined),
  opsRow("lease, completion in handler tx: added reads", firstAdded.reads, "≤ 1", firstAdded.reads <= 1),
  opsRow("lease, completion in handler tx: added writes", firstAdded.writes, "≤ 2", firstAdded.writes <= 2),
  opsRow("transactional, first call: added reads", txAdded.reads, "≤ 1", txAdded.reads <= 1),
  opsRow("transactional, first call: added writes", txAdded.writes, "≤ 1", txAdded.writes <= 1),
  opsRow("transactional, replay: reads", txReplayOps.reads, "1", txReplayOps.reads === 1),
  opsRow("transactional, replay: writes", txReplayOps.writes, "0", txReplayOps.writes === 0),
  opsRow("lease, completion separate: added reads", plainAdded.reads, "≤ 1", plainAdded.reads <= 1),
  opsRow("lease, completion separate: added writes", plainAdded.writes, "≤ 2", plainAdded.writes <= 2),
  opsRow("replay: reads", replayOps.reads, "1", replayOps.reads === 1),
  opsRow("replay: writes", replayOps.writes, "0", replayOps.writes === 0),
];

printTable(
  `Idempotency, full stack vs bare handler on the emulators: median ms over ${SAMPLES} samples, Node ${process.version}`,
  table,
);
console.log(
  "\nIdempotency record ops per first call, lease mode: " +
    `${firstOps.idemReads} read + ${firstOps.idemWrites} writes (claim, then completion inside the handler's commit); ` +
    `transactional mode: ${txFirstOps.idemReads} read + ${txFirstOps.idemWrites} write, in the handler's commit; ` +
    `per replay: ${replayOps.idemReads} / ${txReplayOps.idemReads} read (a transactional replay also runs the ` +
    "handler up to its commit, which the record refuses).",
);

await db.recursiveDelete(db.doc(`tenants/${tid}`));
const failed = table.some((r) => r.ok === false);
process.exit(failed ? 1 : 0);
