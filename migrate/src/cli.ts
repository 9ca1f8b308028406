#!/usr/bin/env node
/**
 * `npm run migrate -- --source <dir | file | mongodb://…> --mapping <file> [--dry-run] [--resume] [--verify]`
 *
 * Exit codes: 0 done (and verified, with --verify); 1 verification failed or documents had
 * errors; 2 bad arguments, mapping or source (nothing was written).
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { getApps, initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { MappingError } from "./mapping";
import { run } from "./migrate";
import { createProgress } from "./progress";
import { SourceError } from "./source";

const USAGE = `usage: npm run migrate -- --source <mongodump dir | mongoexport file or dir | mongodb://…> --mapping <file.json>
       [--dry-run] [--resume] [--verify] [--state-dir .migrate] [--report <file>] [--project <id>] [--no-ramp-up]

  --dry-run      read and convert everything, print the plan, conversions and errors; write nothing
  --resume       continue from <state-dir>/checkpoint.json after an interruption
  --verify       compare counts and per-document checksums, source vs target; report in --report
  --no-ramp-up   turn off the 500/50/5 ramp-up (only for emulators: production needs it)`;

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        source: { type: "string" },
        mapping: { type: "string" },
        "dry-run": { type: "boolean", default: false },
        resume: { type: "boolean", default: false },
        verify: { type: "boolean", default: false },
        "state-dir": { type: "string", default: ".migrate" },
        report: { type: "string" },
        project: { type: "string" },
        "no-ramp-up": { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
      strict: true,
    }).values;
  } catch (error) {
    console.error(`migrate: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  if (!args.source || !args.mapping) {
    console.error(`migrate: --source and --mapping are required\n${USAGE}`);
    return 2;
  }
  if (args["dry-run"] && (args.resume || args.verify)) {
    console.error(`migrate: --dry-run writes nothing, so there is nothing to ${args.resume ? "--resume" : "--verify"}`);
    return 2;
  }
  // Under `npm run`, relative paths are the caller's, not the package directory's.
  const base = process.env.INIT_CWD ?? process.cwd();
  const path = (p: string) => (/^mongodb(\+srv)?:\/\//.test(p) ? p : resolve(base, p));
  const projectId = args.project ?? process.env.GCLOUD_PROJECT ?? process.env.GOOGLE_CLOUD_PROJECT;
  const app = getApps()[0] ?? initializeApp(projectId ? { projectId } : {});
  const db = getFirestore(app);
  const log = (line: string) => console.log(`migrate: ${line}`);
  try {
    const result = await run({
      source: path(args.source),
      mapping: path(args.mapping),
      db,
      dryRun: args["dry-run"],
      resume: args.resume,
      verify: args.verify,
      stateDir: path(args["state-dir"]),
      reportFile: args.report ? path(args.report) : undefined,
      rampUp: !args["no-ramp-up"],
      progress: createProgress(),
      log,
    });
    const t = result.tenants;
    if (!result.dryRun)
      log(`tenants: ${t.created.length} created, ${t.matched.length} matched, ${t.missing.length} missing`);
    if (result.errors.length > 0)
      log(`${result.errors.length} documents had errors${result.dryRun ? "" : " and were not written"}`);
    if (result.verify && !result.verify.ok) return 1;
    return result.errors.length > 0 ? 1 : 0;
  } catch (error) {
    if (error instanceof MappingError || error instanceof SourceError) {
      console.error(`migrate: ${error.message}\nnothing was written.`);
      return 2;
    }
    if (error instanceof Error && error.message.startsWith("--resume")) {
      console.error(`migrate: ${error.message}`);
      return 2;
    }
    if (!args["dry-run"])
      console.error(
        `migrate: stopped; progress is in ${path(args["state-dir"])}/checkpoint.json: fix the cause, then run again with --resume`,
      );
    throw error;
  } finally {
    await db.terminate();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`migrate: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
