#!/usr/bin/env node
/**
 * Generates docs/api-reference.md and docs/api-reference.json from the zod schemas of every
 * exported function (functions/src/observability/apiref.ts does the work).
 *
 *   node scripts/gen-api-reference.mjs           compile functions/ and write both files
 *   node scripts/gen-api-reference.mjs --check   exit 1 when the checked-in files are stale
 *
 * functions/test/unit/apiref.test.ts runs the same comparison in the test suite, so CI fails
 * when a schema changes without regeneration.
 */
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const functionsDir = join(root, "functions");
const check = process.argv.includes("--check");

// Compile into a scratch directory so a stale functions/lib can never be documented; it sits
// under functions/node_modules so the emitted code resolves the codebase's packages.
const outDir = join(functionsDir, "node_modules", ".cache", "apiref");
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const tsc = join(functionsDir, "node_modules", "typescript", "bin", "tsc");
try {
  execFileSync(
    process.execPath,
    [tsc, "-p", join(functionsDir, "tsconfig.build.json"), "--outDir", outDir],
    {
      stdio: "inherit",
    },
  );
} catch {
  // tsc still emits JavaScript on type errors; document what compiled, but say so.
  if (!existsSync(join(outDir, "index.js"))) process.exit(1);
  console.error(
    "gen-api-reference: functions/ has type errors; generated from the emitted JavaScript anyway",
  );
}

const require = createRequire(import.meta.url);
process.env.GCLOUD_PROJECT ??= "demo-saas-core";
const exported = require(join(outDir, "index.js"));
const apiref = require(join(outDir, "observability", "apiref.js"));
const ref = apiref.buildApiReference(exported);
const files = {
  [join(root, "docs", "api-reference.md")]:
    apiref.renderApiReferenceMarkdown(ref),
  [join(root, "docs", "api-reference.json")]:
    apiref.renderApiReferenceJson(ref),
};
rmSync(outDir, { recursive: true, force: true });

let stale = false;
for (const [path, content] of Object.entries(files)) {
  const current = existsSync(path) ? readFileSync(path, "utf8") : "";
  if (current === content) continue;
  stale = true;
  if (!check) writeFileSync(path, content);
  console.log(`${check ? "stale" : "wrote"} ${path.slice(root.length + 1)}`);
}
console.log(`${ref.functions.length} functions documented`);
if (check && stale) {
  console.error(
    "API reference is stale: run node scripts/gen-api-reference.mjs and commit docs/api-reference.*",
  );
  process.exit(1);
}
