/**
 * Idempotency on the emulators: a callable with the full stack (tenant + permission +
 * idempotency) against the same handler called bare, in one run.
 *
 * - Firestore operations per first call and per replay, from the Firestore emulator's operation
 *   log (entries under this run's tenant only, since other work may share the emulator).
 *   Goals (issue 6): claim + complete add at most 1 read and 2 writes, or 1 read and 1 write when
 *   the completion rides in the handler's transaction; a replay costs 1 read.
 * - Median latency, full stack / bare: goal ≤ 1.3 for a replay; reported for first calls.
 *
 * Needs the Firestore emulator (FIRESTORE_EMULATOR_HOST, default the stack's counting proxy 127.0.0.1:8081) and a built
 * functions/lib (`npm run build` in functions/). The ID token check of the callable protocol is
 * outside both sides (the request carries a decoded token, as onCall hands it over).
 * Bounded: fixed sample counts and a watchdog.
 */
import { randomUUID } from "node:crypto";
import { lastSeqOf, operationLog, setUpBench } from "./lib/harness.mjs";
import { median, printTable } from "./lib/table.mjs";


const { require, load } = setUpBench("idempotency", { watchdogMs: 240_000 });
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
const tenantDb = new TenantDb(tid, db);
const bareCtx = (data) => ({ data, db: tenantDb, runTransaction: (fn) => tenantDb.runTransaction(fn) });

const data = { amount: 1299, currency: "eur" };
const request = (key) => ({
  data: key ? { ...data, idempotencyKey: key } : data,
  auth: { uid, token: { uid, tid } },
  rawRequest: { headers: {} },
});
const replayKey = randomUUID();

const rows = {
  "bare handler": () => handler(bareCtx(data)),
  "full stack, first call (fresh key)": () => full.run(request(randomUUID())),
  "full stack, replay (same key)": () => full.run(request(replayKey)),
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

// Latency: rows take turns within each round so machine noise hits them alike.
const samples = Object.fromEntries(Object.keys(rows).map((k) => [k, []]));
for (let s = 0; s < SAMPLES; s++) {
  const order = Object.keys(rows);
  if (s % 2) order.reverse();
  for (const name of order) {
    const start = process.hrtime.bigint();
    await rows[name]();
    samples[name].push(Number(process.hrtime.bigint() - start) / 1e6);
  }
}

const bare = median(samples["bare handler"]);
const first = median(samples["full stack, first call (fresh key)"]);
const replay = median(samples["full stack, replay (same key)"]);
const added = (ops) => ({ reads: ops.reads - bareOps.reads, writes: ops.writes - bareOps.writes });
const firstAdded = added(firstOps);
const plainAdded = added(plainOps);
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
  opsRow("bare handler: reads+writes per call", bareOps.reads + bareOps.writes, "-", undefined),
  opsRow("first call, completion in handler tx: added reads", firstAdded.reads, "≤ 1", firstAdded.reads <= 1),
  opsRow("first call, completion in handler tx: added writes", firstAdded.writes, "≤ 1 (issue)", firstAdded.writes <= 1),
  opsRow("first call, completion separate: added reads", plainAdded.reads, "≤ 1", plainAdded.reads <= 1),
  opsRow("first call, completion separate: added writes", plainAdded.writes, "≤ 2", plainAdded.writes <= 2),
  opsRow("replay: reads", replayOps.reads, "1", replayOps.reads === 1),
  opsRow("replay: writes", replayOps.writes, "0", replayOps.writes === 0),
];

printTable(
  `Idempotency, full stack vs bare handler on the emulators: median ms over ${SAMPLES} samples, Node ${process.version}`,
  table,
);
console.log(
  "\nIdempotency record ops per first call: " +
    `${firstOps.idemReads} read + ${firstOps.idemWrites} writes (claim, then completion inside the handler's commit); ` +
    `per replay: ${replayOps.idemReads} read. The claim must be durable before the handler runs (exactly one ` +
    "runner under concurrency, in-flight answers), so riding saves a commit round trip, not a document write.",
);

await db.recursiveDelete(db.doc(`tenants/${tid}`));
const failed = table.some((r) => r.ok === false);
process.exit(failed ? 1 : 0);
