#!/usr/bin/env node
/**
 * Generates client/src/generated/api.ts, the typed surface of every callable:
 *   - inputs from docs/api-reference.json (the JSON Schemas the zod schemas produce);
 *   - outputs from the handlers' TypeScript return types, read with the compiler API from
 *     functions/src (most callables declare no output schema; the handler's type is the truth);
 *   - error reasons: every `reason` the server can put into an error's details, with the code it
 *     comes with and the other detail fields of the same error.
 *
 *   node scripts/generate.mjs          write the file
 *   node scripts/generate.mjs --check  exit 1 when the checked-in file is stale
 *
 * test/unit/generated.test.ts runs the same comparison in the client's tests.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderApi } from "./render.mjs";

const clientDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const target = join(clientDir, "src", "generated", "api.ts");
const { source, warnings } = renderApi(join(clientDir, ".."));
for (const w of warnings) console.error(`generate: ${w}`);

const current = existsSync(target) ? readFileSync(target, "utf8") : "";
if (process.argv.includes("--check")) {
  if (current !== source) {
    console.error("client/src/generated/api.ts is stale: run `npm run generate` in client/ and commit it");
    process.exit(1);
  }
  console.log("client/src/generated/api.ts is current");
} else if (current !== source) {
  writeFileSync(target, source);
  console.log("wrote client/src/generated/api.ts");
}
