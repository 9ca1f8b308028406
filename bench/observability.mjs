/**
 * The invocation envelope's cost: what `observeInvocation` (duration histogram, errors counter,
 * one request log line) adds to an invocation, in µs, against the same invocation without it,
 * measured in the same run. Goal (issue 17): < 20 µs per invocation.
 *
 * Log lines go to /dev/null through the same write the logger does to stdout, so the cost of
 * serialising and writing them is counted. Needs only a built functions/lib.
 */
import { openSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { setUpBench } from "./lib/harness.mjs";
import { median, printTable } from "./lib/table.mjs";

const { require, load } = setUpBench("observability", { watchdogMs: 240_000 });
const common = require(join(dirname(require.resolve("firebase-functions/logger")), "common.js"));
const devNull = openSync("/dev/null", "w");
for (const level of Object.keys(common.UNPATCHED_CONSOLE)) {
  common.UNPATCHED_CONSOLE[level] = (line) => writeSync(devNull, `${line}\n`);
}
const { withInvocation } = load("platform/context.js");
const { observeInvocation } = load("platform/observe.js");
const { AppError } = load("platform/errors.js");

const N = Number(process.env.OBS_BENCH_N ?? 20_000);
const ROUNDS = Number(process.env.OBS_BENCH_ROUNDS ?? 9);
const spec = { kind: "callable", name: "benchFn", description: "bench", auth: "required", tenant: true };
const ok = async () => ({ ok: true });
const refused = async () => {
  throw new AppError("permission-denied", "no");
};
const ctx = () => ({ fn: spec.name, tenantId: "bench-tenant", uid: "bench-user" });

async function loop(run, observed) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    await withInvocation(ctx(), () => (observed ? observeInvocation(spec, run) : run())).catch(() => undefined);
  }
  return Number(process.hrtime.bigint() - started) / 1e3 / N; // µs per invocation
}

async function added(run, samplePercent) {
  process.env.REQUEST_LOG_SAMPLE_PERCENT = String(samplePercent);
  const diffs = [];
  const bare = [];
  await loop(run, true); // warm-up: JIT, series creation
  for (let r = 0; r < ROUNDS; r++) {
    // Alternating order, so drift (GC, other load) hits both sides alike.
    let base;
    let full;
    if (r % 2) {
      base = await loop(run, false);
      full = await loop(run, true);
    } else {
      full = await loop(run, true);
      base = await loop(run, false);
    }
    bare.push(base);
    diffs.push(full - base);
  }
  return { added: median(diffs), bare: median(bare) };
}

const rows = [
  ["success, request line written (REQUEST_LOG_SAMPLE_PERCENT=100)", await added(ok, 100)],
  ["success, request line sampled out (REQUEST_LOG_SAMPLE_PERCENT=0)", await added(ok, 0)],
  ["client error (histogram + errors counter + WARNING line)", await added(refused, 0)],
];
printTable(
  `invocation envelope: µs added per invocation (median of ${ROUNDS} rounds × ${N} calls), Node ${process.version}`,
  rows.map(([name, r]) => ({ name, value: r.added, unit: "µs", digits: 2, goal: "< 20 µs", ok: r.added < 20 })),
);
console.log(`(the bare invocation itself: ${rows.map(([, r]) => r.bare.toFixed(2)).join(" / ")} µs)`);
