/**
 * RBAC guard on a warm instance: the admission pipeline's tenant + permission check with warm
 * caches (tenant, membership, effective permissions) against a bare async function call, in one
 * run. Goals: under 50 µs per check, and zero Firestore reads while warm, counted by the
 * Firestore emulator's operation log (entries under this run's tenant only, since other work may
 * share the emulator).
 *
 * Needs the emulators (FIRESTORE_EMULATOR_HOST, default the stack's counting proxy 127.0.0.1:8081) and a built
 * functions/lib (`npm run build` in functions/). Bounded: fixed iteration counts and a watchdog.
 */
import { randomUUID } from "node:crypto";
import { lastSeqOf, operationLog, setUpBench } from "./lib/harness.mjs";
import { interleaved, median, microsPerCall, printTable } from "./lib/table.mjs";


// The plan budget (every tenant function's "tenant" rate limit) is not what is measured here.
const { require, load } = setUpBench("rbac-guard", {
  watchdogMs: 120_000,
  env: { RATE_LIMIT_POLICIES: JSON.stringify({ tenant: { points: 1_000_000 } }) },
});
const { admit } = load("platform/pipeline.js");
const { tenantCallable } = load("platform/callable.js");
const { NoInput } = load("platform/validation.js");
const { rootFirestore } = load("platform/admin.js");
const { permissionCacheSize } = load("rbac/effective.js");


const SAMPLES = Number(process.env.RBAC_BENCH_SAMPLES ?? 41);
const CALLS_PER_SAMPLE = Number(process.env.RBAC_BENCH_CALLS ?? 200);
const WARMUP_CALLS = 500;

const project = process.env.GCLOUD_PROJECT;


// --- a tenant with one member on a built-in role and one on a custom role (closure over a chain)
const tid = `bench-${randomUUID().slice(0, 12)}`;
const db = rootFirestore();
const now = new Date();
const batch = db.batch();
batch.set(db.doc(`tenants/${tid}`), { name: "bench", status: "active", configVersion: 1, createdAt: now });
batch.set(db.doc(`tenants/${tid}/roles/cashier`), { permissions: ["payments:create"], inherits: ["clerk"] });
batch.set(db.doc(`tenants/${tid}/roles/clerk`), { permissions: ["audit:read"], inherits: ["viewer"] });
batch.set(db.doc(`tenants/${tid}/members/u-member`), { roles: ["member"], status: "active", createdAt: now });
batch.set(db.doc(`tenants/${tid}/members/u-custom`), { roles: ["cashier"], status: "active", createdAt: now });
await batch.commit();
// Admission checks every caller's Auth state (the session stage): the callers must exist.
const { adminAuth } = load("platform/admin.js");
for (const uid of ["u-member", "u-custom"]) {
  await adminAuth().deleteUser(uid).catch(() => undefined);
  await adminAuth().createUser({ uid });
}

const spec = {
  kind: "callable",
  name: "benchGuard",
  description: "bench",
  auth: "required",
  tenant: true,
  permission: "payments:create",
};
const principal = (uid) => ({ uid, token: { uid, tid } });
const builtInCaller = principal("u-member");
const customCaller = principal("u-custom");

const probe = tenantCallable(
  { name: "benchProbe", description: "bench", input: NoInput, permission: "payments:create" },
  async () => null,
);
const request = { data: null, auth: { uid: "u-member", token: { uid: "u-member", tid } }, rawRequest: { headers: {} } };

async function bare(x) {
  return x;
}

const rows = {
  "bare async function call": () => bare(builtInCaller),
  "guard: built-in role (member)": () => admit(spec, builtInCaller),
  "guard: custom role (2-level chain)": () => admit(spec, customCaller),
  "whole tenantCallable, warm (info)": () => probe.run(request),
};

const tenantEntries = (log, afterSeq) => log.log.filter((e) => e.seq > afterSeq && e.path.includes(`tenants/${tid}`));

// Warm-up: the first call of each caller is cold (reads tenant, member, custom roles).
const beforeWarmup = lastSeqOf(await operationLog());
for (const fn of Object.values(rows)) for (let i = 0; i < WARMUP_CALLS; i++) await fn();
const cachedSets = permissionCacheSize();

const before = await operationLog();
// The cold calls must show up in the log, or "zero reads" below would prove nothing.
const coldReads = tenantEntries(before, beforeWarmup).filter((e) => e.kind === "read").length;
const lastSeq = lastSeqOf(before);

const samples = await interleaved(rows, SAMPLES, (fn) => microsPerCall(fn, CALLS_PER_SAMPLE));

const after = await operationLog();
const warmOps = tenantEntries(after, lastSeq);
const warmReads = warmOps.filter((e) => e.kind === "read").length;
const totalWarmCalls = SAMPLES * CALLS_PER_SAMPLE * 3;

const baseline = median(samples["bare async function call"]);
const GOAL_US = 50;
const table = Object.keys(rows).map((name) => {
  const value = median(samples[name]);
  const isGuard = name.startsWith("guard");
  return {
    name,
    value,
    baseline: name === "bare async function call" ? undefined : baseline,
    unit: "µs",
    digits: 3,
    goal: isGuard ? `< ${GOAL_US} µs` : undefined,
    ok: isGuard ? value < GOAL_US : undefined,
  };
});
table.push({
  name: "Firestore reads on the tenant during warm-up (cold calls)",
  value: coldReads,
  unit: "reads",
  digits: 0,
  goal: "> 0 (log works)",
  ok: coldReads > 0,
});
table.push({
  name: `Firestore ops on the tenant during ${totalWarmCalls} warm calls`,
  value: warmOps.length,
  unit: "ops",
  digits: 0,
  goal: "0 reads",
  ok: warmReads === 0,
});

printTable(
  `RBAC guard on a warm instance: median µs per call over ${SAMPLES} samples of ${CALLS_PER_SAMPLE} calls, Node ${process.version} (${cachedSets} cached role sets)`,
  table,
);

await db.recursiveDelete(db.doc(`tenants/${tid}`));
const failed = table.some((r) => r.ok === false);
process.exit(failed ? 1 : 0);
