/**
 * Cold start: a fresh Node process loads functions/lib/index.js and serves one callable, against
 * a baseline process that loads only firebase-functions and firebase-admin and serves an empty
 * callable. Goal: ratio <= 1.3. Runs are interleaved so machine noise hits both alike. The
 * product's first call includes its session stage's Auth lookup (the emulator on loopback).
 */
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, printTable } from "./lib/table.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const runs = Number(process.env.COLD_START_RUNS ?? 15);
const times = { product: [], baseline: [], productLoad: [] };
const env = { ...process.env, GCLOUD_PROJECT: "demo-saas-core", FUNCTIONS_REGION: "us-central1" };

// whoami admits its caller through the session stage, which checks the Auth user: it must exist.
const require = createRequire(join(here, "../functions/package.json"));
process.env.GCLOUD_PROJECT = env.GCLOUD_PROJECT;
const { getAuth } = require("firebase-admin/auth");
const auth = getAuth(require("firebase-admin/app").initializeApp({ projectId: env.GCLOUD_PROJECT }));
await auth.deleteUser("bench-user").catch(() => undefined);
await auth.createUser({ uid: "bench-user" });

for (let i = 0; i < runs + 1; i++) {
  for (const mode of i % 2 ? ["product", "baseline"] : ["baseline", "product"]) {
    const out = execFileSync(process.execPath, [join(here, "lib/cold-child.cjs"), mode], { env, encoding: "utf8" });
    const [loadMs, ms] = out.trim().split("\n").pop().split(" ").map(Number);
    if (i === 0) continue; // the first round warms the OS file cache
    times[mode].push(ms);
    if (mode === "product") times.productLoad.push(loadMs);
  }
}

const product = median(times.product);
const baseline = median(times.baseline);
printTable(`cold start (load + one callable), median of ${runs} fresh processes, Node ${process.version}`, [
  { name: "firebase-functions + firebase-admin, empty callable", value: baseline, unit: "ms" },
  { name: "functions/lib/index.js loaded (before the call)", value: median(times.productLoad), baseline, unit: "ms" },
  { name: "functions/lib/index.js, whoami", value: product, baseline, unit: "ms", goal: "ratio <= 1.3", ok: product / baseline <= 1.3 },
]);
