/**
 * Rate limits and the Redis L2 cache, in one run:
 *
 * - the µs a warm call adds per store (the limiter stage as the wrappers run it, one policy,
 *   never refused) against a bare async call: goal for memory < 20 µs;
 * - Redis: the stage against a bare PING and against one bare call of the limiter's Lua script
 *   on the same connection (goal: one round trip, i.e. close to the bare script call);
 * - Firestore: the stage's operations per call, from the emulator's log (goal: 1 read + 1 write);
 * - the L2 cache: a tenant resolution answered by Redis (cold L1) against one answered by
 *   Firestore (cold L1, no L2) and against a single Firestore document read.
 *
 * Needs the Firestore emulator and a built functions/lib; starts its own redis-server (Debian's,
 * installed when missing) unless BENCH_REDIS_URL is given. Bounded: fixed counts and a watchdog.
 */
import { randomUUID } from "node:crypto";
import { lastSeqOf, operationLog, setUpBench } from "./lib/harness.mjs";
import { median, printTable } from "./lib/table.mjs";
import { REDIS_PORT, startRedis } from "../scripts/lib/redis.mjs";

const { load } = setUpBench("ratelimit", { watchdogMs: 240_000 });
const { rootFirestore } = load("platform/admin.js");
const { RateLimits } = load("platform/ratelimit/limiter.js");
const { connectRedis, whenReady } = load("platform/redis.js");
const { SharedCache } = load("platform/shared-cache.js");
const { resolveTenant, TenantCache } = load("tenancy/resolver.js");

const SAMPLES = Number(process.env.RATELIMIT_BENCH_SAMPLES ?? 11);
const own = process.env.BENCH_REDIS_URL ? undefined : await startRedis({ port: REDIS_PORT + 2, log: () => {} });
const redis = connectRedis(process.env.BENCH_REDIS_URL ?? own.url);
if (!(await whenReady(redis, 5000))) throw new Error("redis not reachable");

const db = rootFirestore();
const run = randomUUID().slice(0, 8);
// One policy the bench never exhausts, so every call takes the allowed path.
const policy = { name: `bench-${run}`, key: "uid", points: 1_000_000, windowSeconds: 86_400, blockSeconds: 0 };
const subject = { fn: "bench", ip: "127.0.0.1", uid: `u-${run}`, plan: "free" };
const limits = {
  memory: new RateLimits({ store: "memory" }),
  redis: new RateLimits({ store: "redis", redis: () => redis }),
  firestore: new RateLimits({ store: "firestore", firestore: () => db }),
};

// Creating the redis limiter defines its script command (rlflxIncr) on the client.
await limits.redis.consume([policy], subject);

const tid = `bench-${run}`;
const uid = "u-bench";
await db.doc(`tenants/${tid}`).set({ name: "bench", status: "active", configVersion: 1, plan: "free" });
await db.doc(`tenants/${tid}/members/${uid}`).set({ roles: ["member"], status: "active" });
const l2 = new SharedCache(redis);
await resolveTenant(tid, uid, { cache: new TenantCache({ ttlMs: 600_000, max: 10 }), l2 }); // fill the L2

async function bare(x) {
  return x;
}

const rows = {
  "bare async function call": { calls: 2000, fn: () => bare(subject) },
  "limiter, memory store": { calls: 2000, fn: () => limits.memory.consume([policy], subject) },
  "redis PING (one round trip)": { calls: 300, fn: () => redis.ping() },
  // The command rate-limiter-flexible defines on the client: one EVALSHA, one round trip.
  "redis limiter script alone (EVALSHA)": {
    calls: 300,
    fn: () => redis.rlflxIncr([`bench-script-${run}`, "1", "86400", "1000000", "86400"]),
  },
  "limiter, redis store": { calls: 300, fn: () => limits.redis.consume([policy], subject) },
  "limiter, firestore store": { calls: 20, fn: () => limits.firestore.consume([policy], subject) },
  "Firestore document read": { calls: 50, fn: () => db.doc(`tenants/${tid}`).get() },
  "resolveTenant, L1 cold, L2 hit": {
    calls: 300,
    fn: () => resolveTenant(tid, uid, { cache: new TenantCache({ ttlMs: 600_000, max: 10 }), l2 }),
  },
  "resolveTenant, L1 cold, no L2 (Firestore)": {
    calls: 50,
    fn: () => resolveTenant(tid, uid, { cache: new TenantCache({ ttlMs: 600_000, max: 10 }), l2: null }),
  },
};

const samples = Object.fromEntries(Object.keys(rows).map((k) => [k, []]));
const ops = {};
for (let s = 0; s < SAMPLES; s++) {
  const order = Object.keys(rows);
  if (s % 2) order.reverse();
  for (const name of order) {
    const { calls, fn } = rows[name];
    for (let i = 0; i < Math.min(calls, 50); i++) await fn(); // warm-up
    const before = s === 0 ? lastSeqOf(await operationLog()) : undefined;
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) await fn();
    samples[name].push(Number(process.hrtime.bigint() - start) / 1000 / calls);
    if (before !== undefined) {
      const log = (await operationLog()).log.filter((e) => e.seq > before);
      ops[name] = {
        reads: log.filter((e) => e.kind === "read").length / calls,
        writes: log.filter((e) => e.kind === "write").length / calls,
      };
    }
  }
}

// Round trips per call, counted by Redis itself over 100 limiter calls: one EVALSHA each, and
// nothing else from the client (SET, INCRBY and PTTL are what the script runs inside Redis).
await redis.config("RESETSTAT");
for (let i = 0; i < 100; i++) await limits.redis.consume([policy], subject);
const stats = Object.fromEntries(
  [...(await redis.info("commandstats")).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map(([, name, n]) => [name, Number(n)]),
);
const inScript = new Set(["evalsha", "set", "incrby", "pttl", "config|resetstat", "info"]);
const stray = Object.keys(stats).filter((name) => !inScript.has(name));
const sent = (stats.evalsha ?? 0) + stray.reduce((n, name) => n + stats[name], 0);

const m = (name) => median(samples[name]);
const base = m("bare async function call");
const added = (name) => m(name) - base;
const ping = m("redis PING (one round trip)");
const fsRead = m("Firestore document read");
const fsOps = ops["limiter, firestore store"];
const table = [
  ...Object.keys(rows).map((name) => ({ name, value: m(name), unit: "µs", digits: 1 })),
  { name: "added per warm call: memory", value: added("limiter, memory store"), unit: "µs", digits: 1, goal: "< 20 µs", ok: added("limiter, memory store") < 20 },
  { name: "added per warm call: redis vs PING", value: added("limiter, redis store"), baseline: ping - base, unit: "µs", digits: 1 },
  { name: "added per warm call: redis vs its script", value: added("limiter, redis store"), baseline: m("redis limiter script alone (EVALSHA)"), unit: "µs", digits: 1, goal: "one round trip (≤ 1.5x)", ok: added("limiter, redis store") <= 1.5 * m("redis limiter script alone (EVALSHA)") },
  { name: "redis round trips per call (commandstats)", value: sent / 100, unit: "trips", digits: 2, goal: "1", ok: sent === 100 && stray.length === 0 },
  { name: "added per warm call: firestore", value: added("limiter, firestore store"), baseline: fsRead, unit: "µs", digits: 1 },
  { name: "firestore store: reads per call", value: fsOps.reads, unit: "ops", digits: 1, goal: "1", ok: fsOps.reads === 1 },
  { name: "firestore store: writes per call", value: fsOps.writes, unit: "ops", digits: 1, goal: "1", ok: fsOps.writes === 1 },
  { name: "L2 hit vs Firestore read", value: m("resolveTenant, L1 cold, L2 hit"), baseline: fsRead, unit: "µs", digits: 1, goal: "< 1x", ok: m("resolveTenant, L1 cold, L2 hit") < fsRead },
  { name: "L2 hit vs cold resolution", value: m("resolveTenant, L1 cold, L2 hit"), baseline: m("resolveTenant, L1 cold, no L2 (Firestore)"), unit: "µs", digits: 1, goal: "< 1x", ok: m("resolveTenant, L1 cold, L2 hit") < m("resolveTenant, L1 cold, no L2 (Firestore)") },
  { name: "Firestore reads per L2 hit", value: ops["resolveTenant, L1 cold, L2 hit"].reads, unit: "reads", digits: 0, goal: "0", ok: ops["resolveTenant, L1 cold, L2 hit"].reads === 0 },
];

printTable(`Rate limits and the L2 cache: median µs per call over ${SAMPLES} samples, Node ${process.version}`, table);
await db.recursiveDelete(db.doc(`tenants/${tid}`));
redis.disconnect();
await own?.stop();
process.exit(table.some((r) => r.ok === false) ? 1 : 0);
