#!/usr/bin/env node
/**
 * Generates docs/env-reference.md from the params and secrets declared in
 * functions/src/platform/config.ts (functions/src/platform/config-reference.ts renders it).
 *
 *   node scripts/gen-env-reference.mjs           compile functions/ and write the file
 *   node scripts/gen-env-reference.mjs --check   exit 1 when the checked-in file is stale
 *
 * functions/test/unit/envref.test.ts runs the same comparison in the test suite.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const functionsDir = join(root, "functions");
const check = process.argv.includes("--check");

// A scratch build, so a stale functions/lib is never documented; under node_modules so the
// emitted code resolves the codebase's packages.
const outDir = join(functionsDir, "node_modules", ".cache", "envref");
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const tsc = join(functionsDir, "node_modules", "typescript", "bin", "tsc");
try {
  execFileSync(process.execPath, [tsc, "-p", join(functionsDir, "tsconfig.build.json"), "--outDir", outDir], { stdio: "inherit" });
} catch {
  if (!existsSync(join(outDir, "platform", "config-reference.js"))) process.exit(1);
  console.error("gen-env-reference: functions/ has type errors; generated from the emitted JavaScript anyway");
}
const require = createRequire(import.meta.url);
const { renderEnvReference, paramReference } = require(join(outDir, "platform", "config-reference.js"));
const content = renderEnvReference();
rmSync(outDir, { recursive: true, force: true });

const path = join(root, "docs", "env-reference.md");
const current = existsSync(path) ? readFileSync(path, "utf8") : "";
if (current !== content) {
  if (check) {
    console.error("docs/env-reference.md is stale: run node scripts/gen-env-reference.mjs and commit it");
    process.exit(1);
  }
  writeFileSync(path, content);
  console.log("wrote docs/env-reference.md");
}
console.log(`${paramReference().length} params and secrets documented`);
