/**
 * Shared set-up for the benchmarks that drive the compiled functions (functions/lib) against the
 * emulators: a watchdog so a stuck run ends itself, emulator defaults, param defaults as the CLI
 * provides them, and the Firestore emulator's operation log.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const lib = join(dirname(fileURLToPath(import.meta.url)), "../../functions/lib");

/**
 * Prepares a benchmark called `name`. `env` adds defaults (test-only values, never real ones).
 * Returns a `require` rooted in functions/ and `load(path)` for modules of functions/lib.
 */
export function setUpBench(name, { watchdogMs = 240_000, env = {} } = {}) {
  setTimeout(() => {
    console.error(`${name}: gave up after ${watchdogMs / 1000} s`);
    process.exit(1);
  }, watchdogMs).unref();
  const defaults = {
    GCLOUD_PROJECT: "demo-saas-core",
    // The stack's operation-counting proxy in front of the official emulator.
    FIRESTORE_EMULATOR_HOST: "127.0.0.1:8081",
    FIREBASE_AUTH_EMULATOR_HOST: "127.0.0.1:9099",
    ...env,
  };
  for (const [key, value] of Object.entries(defaults)) process.env[key] ??= value;
  const require = createRequire(join(lib, "index.js"));
  // Params get their declared defaults, as the Firebase CLI provides them in a deployment.
  require(join(lib, "platform/config.js")).applyParamDefaults();
  return { require, load: (path) => require(join(lib, path)), project: process.env.GCLOUD_PROJECT };
}

const opsUrl = () =>
  `http://${process.env.FIRESTORE_EMULATOR_HOST}/emulator/v1/projects/${process.env.GCLOUD_PROJECT}/operations`;

/** The operation counters and log for the benchmark's project (scripts/lib/firestore-ops-proxy.mjs). */
export async function operationLog() {
  const res = await fetch(opsUrl());
  if (!res.ok) throw new Error(`operation log unavailable (${res.status}) at ${opsUrl()}`);
  return res.json();
}

/** The sequence number of the newest entry of an operation log (-1 when empty). */
export const lastSeqOf = (log) => (log.log.length > 0 ? log.log[log.log.length - 1].seq : -1);
