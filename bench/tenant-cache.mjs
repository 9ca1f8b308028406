/**
 * Tenant resolution per request: a warm per-instance cache hit against a cold resolution (one
 * batched Firestore read of the tenant and the membership) and a bare async function call, in
 * one run. Goals: a warm hit costs zero Firestore reads (counted by the emulator's operation log,
 * entries under this run's tenant only) and is at least 20x cheaper than a cold resolution.
 *
 * Needs the Firestore emulator (FIRESTORE_EMULATOR_HOST, default the stack's counting proxy 127.0.0.1:8081) and a built
 * functions/lib. Bounded: fixed iteration counts and a watchdog.
 */
import { randomUUID } from "node:crypto";
import { lastSeqOf, operationLog, setUpBench } from "./lib/harness.mjs";
import { median, printTable } from "./lib/table.mjs";

const { load } = setUpBench("tenant-cache", { watchdogMs: 120_000 });
const { rootFirestore } = load("platform/admin.js");
const { resolveTenant, TenantCache } = load("tenancy/resolver.js");

const SAMPLES = Number(process.env.TENANT_BENCH_SAMPLES ?? 21);
const WARM_CALLS = 500;
const COLD_CALLS = 10;

const tid = `bench-${randomUUID().slice(0, 12)}`;
const uid = "u-bench";
const db = rootFirestore();
await db.doc(`tenants/${tid}`).set({ name: "bench", status: "active", configVersion: 1 });
await db.doc(`tenants/${tid}/members/${uid}`).set({ roles: ["member"], status: "active" });

const warmCache = new TenantCache({ ttlMs: 3_600_000, max: 1000 });
await resolveTenant(tid, uid, { cache: warmCache });

async function bare(x) {
  return x;
}

const rows = {
  "bare async function call": { calls: WARM_CALLS, fn: () => bare(tid) },
  "resolveTenant, warm (cache hit)": { calls: WARM_CALLS, fn: () => resolveTenant(tid, uid, { cache: warmCache }) },
  "resolveTenant, cold (emulator read)": {
    calls: COLD_CALLS,
    fn: () => resolveTenant(tid, uid, { cache: new TenantCache({ ttlMs: 60_000, max: 10 }) }),
  },
};

const entries = (log, after) => log.log.filter((e) => e.seq > after && e.path.startsWith(`tenants/${tid}`));
const samples = Object.fromEntries(Object.keys(rows).map((k) => [k, []]));
const reads = Object.fromEntries(Object.keys(rows).map((k) => [k, 0]));
for (let s = 0; s < SAMPLES; s++) {
  const order = Object.keys(rows);
  if (s % 2) order.reverse();
  for (const name of order) {
    const { calls, fn } = rows[name];
    const before = s === 0 ? lastSeqOf(await operationLog()) : undefined;
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) await fn();
    samples[name].push(Number(process.hrtime.bigint() - start) / 1000 / calls);
    // Count operations on the first sample only (the log is shared and fetching it is slow).
    if (before !== undefined) reads[name] = entries(await operationLog(), before).filter((e) => e.kind === "read").length / calls;
  }
}

const baseline = median(samples["bare async function call"]);
const warm = median(samples["resolveTenant, warm (cache hit)"]);
const cold = median(samples["resolveTenant, cold (emulator read)"]);
const table = Object.keys(rows).map((name) => ({
  name,
  value: median(samples[name]),
  baseline: name === "bare async function call" ? undefined : baseline,
  unit: "µs",
  digits: 2,
}));
table.push(
  { name: "cold / warm", value: cold / warm, unit: "x", digits: 1, goal: "≥ 20x", ok: cold / warm >= 20 },
  {
    name: "Firestore reads per warm call",
    value: reads["resolveTenant, warm (cache hit)"],
    unit: "reads",
    digits: 0,
    goal: "0",
    ok: reads["resolveTenant, warm (cache hit)"] === 0,
  },
  {
    name: "Firestore reads per cold call (log works)",
    value: reads["resolveTenant, cold (emulator read)"],
    unit: "reads",
    digits: 1,
    goal: "2 (tenant + member)",
    ok: reads["resolveTenant, cold (emulator read)"] === 2,
  },
);

printTable(`Tenant resolution: median µs per call over ${SAMPLES} samples, Node ${process.version}`, table);
await db.recursiveDelete(db.doc(`tenants/${tid}`));
process.exit(table.some((r) => r.ok === false) ? 1 : 0);
