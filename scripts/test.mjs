/**
 * `npm test`: lint, build, start the local stack (official Firestore and Pub/Sub emulators,
 * firebase-tools Auth, Functions and Tasks), run every functions suite (unit, integration,
 * end-to-end, client SDK, rules) with coverage, stop the stack, and end with a summary that says
 * which emulators ran.
 *
 * Extra arguments are passed to the functions' jest run, e.g. `npm test -- test/unit`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { prometheusForTests } from "./lib/prometheus.mjs";
import { startRedis } from "./lib/redis.mjs";
import { build, describeStack, LOCAL_SECRETS, LOG_DIR, ROOT, startStack } from "./lib/stack.mjs";

const jestArgs = process.argv.slice(2);
// `npm test -- migrate/<path>` runs only the migrator's own jest (migrate/ is a separate package).
const migrateOnly = jestArgs.length > 0 && jestArgs.every((a) => a.startsWith("migrate/"));
// `npm test -- client/` runs only the client package's tests (node:test, see client/package.json),
// `npm test -- examples/console` only the console's browser tests; both may be given.
const webOnly = jestArgs.length > 0 && jestArgs.every((a) => a.startsWith("client/") || a.startsWith("examples/console"));
const results = [];
/** Every failed test with the start of its message, repeated at the end where CI's tail shows it. */
const failures = [];
const reportDir = join(ROOT, ".firebase/test-reports");
rmSync(reportDir, { recursive: true, force: true });
mkdirSync(reportDir, { recursive: true });

/**
 * Runs jest in `cwd`, records its counts, and returns whether it passed. `--forceExit` because
 * the Admin SDK keeps gRPC channels open after the last test; the emulators are stopped anyway.
 */
function jest(label, cwd, args, env = process.env) {
  const outputFile = join(reportDir, `${label}.json`);
  const result = spawnSync(process.execPath, [join(cwd, "node_modules/jest/bin/jest.js"), "--runInBand", "--forceExit", "--json", `--outputFile=${outputFile}`, ...args], {
    cwd,
    env,
    stdio: "inherit",
  });
  const report = existsSync(outputFile) ? JSON.parse(readFileSync(outputFile, "utf8")) : null;
  results.push({
    label,
    passed: report?.numPassedTests ?? 0,
    failed: report ? report.numFailedTests + report.numRuntimeErrorTestSuites : 1,
    skipped: (report?.numPendingTests ?? 0) + (report?.numTodoTests ?? 0),
    ok: result.status === 0,
  });
  for (const file of report?.testResults ?? []) {
    const where = relative(ROOT, file.name);
    if (file.testExecError || (file.status === "failed" && file.assertionResults.length === 0)) failures.push({ label, name: where, message: file.failureMessage ?? "" });
    for (const a of file.assertionResults) if (a.status === "failed") failures.push({ label, name: `${where}: ${a.fullName}`, message: a.failureMessages.join("\n") });
  }
  return result.status === 0;
}

/** Builds client/ and runs its node:test files (`dist/test/unit`, `dist/test/integration`). */
function clientTests(env) {
  const cwd = join(ROOT, "client");
  const built = spawnSync("npm", ["run", "--silent", "build"], { cwd, env, stdio: "inherit" });
  if (built.status !== 0) return results.push({ label: "client", passed: 0, failed: 1, skipped: 0, ok: false });
  nodeTests("client", cwd, ["dist/test/unit/*.test.js", "dist/test/integration/*.test.js"], env);
}

/** Runs node:test files in `cwd`, one at a time, and records the counts from their TAP report. */
function nodeTests(label, cwd, paths, env) {
  const tapFile = join(reportDir, `${label}.tap`);
  const result = spawnSync(process.execPath, ["--test", "--test-concurrency=1", "--test-reporter=spec", "--test-reporter=tap", "--test-reporter-destination=stdout", `--test-reporter-destination=${tapFile}`, ...paths], { cwd, env, stdio: "inherit" });
  const tap = existsSync(tapFile) ? readFileSync(tapFile, "utf8") : "";
  const count = (name) => Number(tap.match(new RegExp(`^# ${name} (\\d+)$`, "m"))?.[1] ?? 0);
  results.push({ label, passed: count("pass"), failed: count("fail") || (result.status === 0 ? 0 : 1), skipped: count("skipped") + count("todo"), ok: result.status === 0 });
  // A failed test's TAP entry: `not ok N - name`, then its indented YAML block (error, stack).
  for (const m of tap.matchAll(/^\s*not ok \d+ - (.*)\n((?:\s+.*\n)*?)\s*\.\.\.$/gm)) failures.push({ label, name: m[1], message: m[2].replace(/^\s*(---|duration_ms:.*)\n/gm, "") });
}

/** The console type-checked, then browser tests: the demo tenant seeded, the console served, Debian's Chromium (installed when missing). */
async function consoleTests(env) {
  const { ensureChromium } = await import("./lib/chromium.mjs");
  const { startConsole } = await import("./lib/console.mjs");
  const { DEMO_PASSWORD, seed } = await import("./lib/seed.mjs");
  // Vite's dev server strips types without checking them; the console is checked here.
  const types = spawnSync("npm", ["run", "--silent", "typecheck"], { cwd: join(ROOT, "examples/console"), stdio: "inherit" });
  if (types.status !== 0) results.push({ label: "console-types", passed: 0, failed: 1, skipped: 0, ok: false });
  const executable = ensureChromium();
  await seed(env);
  const web = await startConsole(env, { quiet: true });
  try {
    const artifacts = join(ROOT, "examples/console/artifacts");
    rmSync(artifacts, { recursive: true, force: true });
    nodeTests("console", join(ROOT, "examples/console"), ["test/*.test.mjs"], { ...env, CONSOLE_URL: web.url, CHROMIUM_PATH: executable, ARTIFACTS_DIR: artifacts, DEMO_PASSWORD });
  } finally {
    await web.stop();
  }
}

console.log(`test: Node ${process.version}`);
build();
// Lint failures fail the run, but only after every suite has run, so one CI run reports everything.
const lint = spawnSync("npm", ["run", "--silent", "lint"], { cwd: join(ROOT, "functions"), stdio: "inherit" });
if (lint.status !== 0) results.push({ label: "lint", passed: 0, failed: 1, skipped: 0, ok: false });

const stack = await startStack({ quiet: true, test: true, log: (line) => console.log(`test: ${line}`) });
// Alert rules (promtool) and a Prometheus server for the e2e scrape test: scripts/lib/prometheus.mjs.
const prometheus = await prometheusForTests({ token: LOCAL_SECRETS.OPERATOR_TOKEN, log: (line) => console.log(`test: ${line}`) }).catch(
  async (error) => {
    await stack.stop();
    throw error;
  },
);
results.push({ label: "alert-rules", ...prometheus.rules, skipped: 0, ok: prometheus.rules.failed === 0 });
// Redis for the rate-limit and L2-cache suites (TEST_REDIS_*; the functions' REDIS_URL stays unset).
const redis = await startRedis({ log: (line) => console.log(`test: ${line}`) }).catch(async (error) => {
  await prometheus.stop();
  await stack.stop();
  throw error;
});
let stopped = false;
const stop = async () => {
  if (!stopped) {
    stopped = true;
    await prometheus.stop();
    await redis.stop();
    await stack.stop();
  }
};
process.on("SIGINT", () => stop().then(() => process.exit(130)));
try {
  const env = {
    ...process.env,
    ...stack.env,
    ...prometheus.env,
    TEST_REDIS_URL: redis.url,
    TEST_REDIS_PORT: String(redis.port),
    TEST_REDIS_SERVER: redis.bin,
  };
  const fnDir = join(ROOT, "functions");
  if (webOnly) {
    if (jestArgs.some((a) => a.startsWith("client/"))) clientTests(env);
    if (jestArgs.some((a) => a.startsWith("examples/console"))) await consoleTests(env);
  } else if (migrateOnly) {
    jest("migrate", join(ROOT, "migrate"), jestArgs.map((a) => a.slice("migrate/".length)), env);
  } else if (jestArgs.length > 0) {
    jest("functions", fnDir, ["--silent", ...jestArgs], env);
  } else {
    // In-process suites first, with coverage; then the HTTP suites, whose task retries keep
    // running in the functions emulator and must not show up in the in-process operation logs.
    jest("functions-unit-integration", fnDir, ["--coverage", "--silent", "--selectProjects", "unit", "integration"], env);
    jest("functions-e2e", fnDir, ["--silent", "--selectProjects", "e2e", "client"], env);
    jest("functions-rules", fnDir, ["--selectProjects", "rules"], env);
    // The migrator's unit tests and its CLI tests against the stack's Firestore emulator.
    jest("migrate", join(ROOT, "migrate"), [], env);
    clientTests(env);
    await consoleTests(env);
    // Last: these kill or cut dependencies on purpose (test/failure).
    jest("functions-failure", fnDir, ["--selectProjects", "failure"], env);
  }
} finally {
  await stop();
}

// The proxy logs only faults it survived; they explain odd operation counts, so they are shown.
const proxyLog = join(LOG_DIR, "firestore-ops-proxy.log");
const proxyFaults = existsSync(proxyLog) ? readFileSync(proxyLog, "utf8").trim() : "";
if (proxyFaults) console.log(`test: the Firestore operation proxy logged:\n${proxyFaults.split("\n").slice(-40).join("\n")}`);

const total = results.reduce((acc, r) => ({ passed: acc.passed + r.passed, failed: acc.failed + r.failed, skipped: acc.skipped + r.skipped }), { passed: 0, failed: 0, skipped: 0 });
for (const line of describeStack(stack.java)) console.log(`test: ran on ${line}`);
for (const f of failures.slice(0, 20)) {
  const lines = f.message.replace(/\x1b\[[0-9;]*m/g, "").trim().split("\n");
  // The assertion and the test's own frames; library frames only lengthen the tail.
  const message = lines.filter((l) => !/node_modules|node:internal|<anonymous>/.test(l)).slice(0, 12).join("\n    ");
  console.log(`test: FAILED ${f.label}: ${f.name}\n    ${message}`);
}
for (const r of results) console.log(`test: ${r.label}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
