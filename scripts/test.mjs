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
import { join } from "node:path";
import { build, describeStack, ROOT, startStack } from "./lib/stack.mjs";

const jestArgs = process.argv.slice(2);
const results = [];
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
  return result.status === 0;
}

console.log(`test: Node ${process.version}`);
build();
// Lint failures fail the run, but only after every suite has run, so one CI run reports everything.
const lint = spawnSync("npm", ["run", "--silent", "lint"], { cwd: join(ROOT, "functions"), stdio: "inherit" });
if (lint.status !== 0) results.push({ label: "lint", passed: 0, failed: 1, skipped: 0, ok: false });

const stack = await startStack({ quiet: true, test: true, log: (line) => console.log(`test: ${line}`) });
let stopped = false;
const stop = async () => {
  if (!stopped) {
    stopped = true;
    await stack.stop();
  }
};
process.on("SIGINT", () => stop().then(() => process.exit(130)));
try {
  const env = { ...process.env, ...stack.env };
  const fnDir = join(ROOT, "functions");
  if (jestArgs.length > 0) {
    jest("functions", fnDir, ["--silent", ...jestArgs], env);
  } else {
    // In-process suites first, with coverage; then the HTTP suites, whose task retries keep
    // running in the functions emulator and must not show up in the in-process operation logs.
    jest("functions-unit-integration", fnDir, ["--coverage", "--silent", "--selectProjects", "unit", "integration"], env);
    jest("functions-e2e", fnDir, ["--silent", "--selectProjects", "e2e", "client"], env);
    jest("functions-rules", fnDir, ["--selectProjects", "rules"], env);
  }
} finally {
  await stop();
}

const total = results.reduce((acc, r) => ({ passed: acc.passed + r.passed, failed: acc.failed + r.failed, skipped: acc.skipped + r.skipped }), { passed: 0, failed: 0, skipped: 0 });
for (const line of describeStack(stack.java)) console.log(`test: ran on ${line}`);
for (const r of results) console.log(`test: ${r.label}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
