/**
 * `npm run bench`: builds, starts the local stack, runs every benchmark in bench/, then stops
 * the stack. Each benchmark prints its
 * own table of medians and ratios against a baseline measured in the same run.
 *
 * `npm run bench -- cold-start` runs only the benchmarks whose file name contains the word.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { build, ROOT, startStack } from "./lib/stack.mjs";

const filter = process.argv[2];
const benches = readdirSync(join(ROOT, "bench"))
  .filter((f) => f.endsWith(".mjs"))
  .filter((f) => !filter || f.includes(filter))
  .sort();

build();
const stack = await startStack({ quiet: true, log: (line) => console.log(`bench: ${line}`) });
let failed = false;
try {
  for (const file of benches) {
    console.log(`\n=== bench/${file}`);
    const result = spawnSync(process.execPath, [join(ROOT, "bench", file)], {
      stdio: "inherit",
      env: { ...process.env, ...stack.env },
      timeout: 10 * 60_000,
    });
    if (result.status !== 0) failed = true;
  }
} finally {
  await stack.stop();
}
process.exit(failed ? 1 : 0);
