/**
 * The migration run: validate the mapping and the whole source first, then (unless dry-run)
 * convert and write every document through one BulkWriter, advancing a crash-safe checkpoint,
 * and optionally verify the result against the source.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EJSON } from "bson";
import { type BulkWriter, FieldValue, type Firestore } from "firebase-admin/firestore";
import { Checkpoint, Watermark, writeFileAtomic } from "./checkpoint";
import { type ConversionStats, convertDocument, type FieldError, idString } from "./convert";
import { loadMapping, type Mapping } from "./mapping";
import type { Progress } from "./progress";
import { openSource, type Source } from "./source";
import { verify, type VerifyReport } from "./verify";

export interface RunOptions {
  source: string;
  mapping: string;
  db: Firestore;
  dryRun?: boolean;
  resume?: boolean;
  verify?: boolean;
  /** Directory for checkpoint.json and errors.jsonl. */
  stateDir: string;
  /** Where --verify (and --dry-run) write their JSON report. */
  reportFile?: string;
  /** Firestore's 500/50/5 ramp-up through BulkWriter's throttling (on unless turned off). */
  rampUp?: boolean;
  progress?: Progress;
  log?: (line: string) => void;
}

/** One per-document error as recorded in errors.jsonl and the reports. */
export interface DocumentError {
  collection: string;
  index: number;
  id: string;
  path?: string;
  errors: FieldError[];
}

export interface CollectionSummary {
  source: string;
  target: string;
  documents: number;
  written: number;
  failed: number;
  conversions: Record<string, number>;
}

export interface RunResult {
  dryRun: boolean;
  collections: CollectionSummary[];
  tenants: { created: string[]; matched: string[]; missing: string[] };
  errors: DocumentError[];
  verify?: VerifyReport;
}

// Enough writes in flight to keep BulkWriter's batches full, few enough to bound memory.
const MAX_IN_FLIGHT = 2000;
const CHECKPOINT_INTERVAL_MS = 250;
const INVALID_ARGUMENT = 3;

/** The source document's _id as one line of text for reports. */
export const describeId = (doc: Record<string, unknown>) =>
  idString(doc._id) ?? EJSON.stringify(doc._id as never, { relaxed: false });

/** Tenants as the mapping says: created when missing ("create") or required to exist ("match"). */
function tenantRegistry(db: Firestore, mapping: Mapping, write: boolean) {
  const known = new Map<string, Promise<"created" | "matched" | "missing">>();
  const result = { created: [] as string[], matched: [] as string[], missing: [] as string[] };
  const resolve = async (tid: string) => {
    const ref = db.doc(`tenants/${tid}`);
    if (mapping.tenants.mode === "create" && write) {
      try {
        await ref.create({
          name: tid,
          status: mapping.tenants.status,
          configVersion: 1,
          createdAt: FieldValue.serverTimestamp(),
        });
        return "created" as const;
      } catch (error) {
        // ALREADY_EXISTS: the tenant is there (an earlier run, or the app created it).
        if ((error as { code?: number }).code === 6) return "matched" as const;
        throw error;
      }
    }
    const exists = (await ref.get()).exists;
    if (exists) return "matched" as const;
    return mapping.tenants.mode === "create" ? ("created" as const) : ("missing" as const);
  };
  return {
    result,
    ensure(tid: string) {
      let p = known.get(tid);
      if (!p) {
        p = resolve(tid).then((outcome) => {
          result[outcome].push(tid);
          return outcome;
        });
        known.set(tid, p);
      }
      return p;
    },
  };
}

/** Keeps the errors file consistent with a resumed checkpoint: entries past its watermark are written again. */
function trimErrors(file: string, checkpoint: Checkpoint) {
  if (!existsSync(file)) return;
  const kept = readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .filter((line) => {
      const e = JSON.parse(line) as DocumentError;
      return e.index < checkpoint.collection(e.collection).next;
    });
  writeFileAtomic(file, kept.map((l) => `${l}\n`).join(""));
}

const readErrors = (file: string): DocumentError[] =>
  existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as DocumentError)
    : [];

/** Loads and checks the mapping and the whole source; any problem throws before a write. */
export async function prepare(
  opts: Pick<RunOptions, "source" | "mapping">,
): Promise<{ mapping: Mapping; source: Source; counts: Map<string, number> }> {
  const mapping = loadMapping(opts.mapping);
  const source = openSource(opts.source, mapping.database);
  try {
    const counts = await source.preflight(mapping.collections.map((c) => c.source));
    return { mapping, source, counts };
  } catch (error) {
    await source.close();
    throw error;
  }
}

/** Runs a migration (or a dry run) as `opts` say. */
export async function run(opts: RunOptions): Promise<RunResult> {
  const log = opts.log ?? (() => {});
  const { mapping, source, counts } = await prepare(opts);
  log(
    `source: ${source.description}; ${mapping.collections.map((c) => `${c.source} ${counts.get(c.source)}`).join(", ")} documents`,
  );
  try {
    const result = opts.dryRun
      ? await dryRun(opts, mapping, source, counts, log)
      : await migrate(opts, mapping, source, counts, log);
    if (opts.verify && !opts.dryRun) {
      result.verify = await verify(opts.db, mapping, source, counts, log);
      const reportFile = opts.reportFile ?? join(opts.stateDir, "verify-report.json");
      writeFileAtomic(reportFile, JSON.stringify(result.verify, null, 2));
      log(`verify: ${result.verify.ok ? "OK" : "FAILED"}; report in ${reportFile}`);
    }
    return result;
  } finally {
    await source.close();
  }
}

async function dryRun(
  opts: RunOptions,
  mapping: Mapping,
  source: Source,
  counts: Map<string, number>,
  log: (l: string) => void,
): Promise<RunResult> {
  const tenants = tenantRegistry(opts.db, mapping, false);
  const collections: CollectionSummary[] = [];
  const errors: DocumentError[] = [];
  for (const c of mapping.collections) {
    const stats: ConversionStats = new Map();
    let ok = 0;
    let failed = 0;
    for await (const { index, doc } of source.read(c.source, 0)) {
      const converted = convertDocument(doc, c, opts.db, stats);
      if (converted.ok) {
        ok++;
        if (!c.isTenantDoc && (await tenants.ensure(converted.tenantId)) === "missing") {
          failed++;
          ok--;
          errors.push({
            collection: c.source,
            index,
            id: describeId(doc),
            path: converted.path,
            errors: [{ field: "", message: `tenant ${converted.tenantId} does not exist (tenants.mode is "match")` }],
          });
        }
      } else {
        failed++;
        errors.push({
          collection: c.source,
          index,
          id: describeId(doc),
          path: converted.path,
          errors: converted.errors,
        });
      }
    }
    collections.push({
      source: c.source,
      target: c.target,
      documents: counts.get(c.source) ?? 0,
      written: ok,
      failed,
      conversions: Object.fromEntries(stats),
    });
  }
  const result: RunResult = { dryRun: true, collections, tenants: tenants.result, errors };
  printPlan(result, log);
  if (opts.reportFile) writeFileSync(opts.reportFile, JSON.stringify(result, null, 2));
  return result;
}

function printPlan(result: RunResult, log: (l: string) => void) {
  log("plan (dry run, nothing written):");
  for (const c of result.collections) {
    const conv = Object.entries(c.conversions).map(([k, v]) => `${k} ${v}`);
    log(
      `  ${c.source} → ${c.target}: ${c.documents} documents, ${c.written} to write, ${c.failed} with errors${conv.length ? `; conversions: ${conv.join(", ")}` : ""}`,
    );
  }
  const t = result.tenants;
  log(`  tenants: ${t.created.length} to create, ${t.matched.length} existing, ${t.missing.length} missing`);
  for (const e of result.errors.slice(0, 20))
    log(
      `  error ${e.collection}[${e.index}] _id ${e.id}: ${e.errors.map((x) => `${x.field || "(document)"}: ${x.message}`).join("; ")}`,
    );
  if (result.errors.length > 20) log(`  … ${result.errors.length - 20} more errors`);
}

async function migrate(
  opts: RunOptions,
  mapping: Mapping,
  source: Source,
  counts: Map<string, number>,
  log: (l: string) => void,
): Promise<RunResult> {
  const checkpointFile = join(opts.stateDir, "checkpoint.json");
  const errorsFile = join(opts.stateDir, "errors.jsonl");
  const names = mapping.collections.map((c) => c.source);
  let checkpoint: Checkpoint;
  if (opts.resume) {
    checkpoint = Checkpoint.resume(checkpointFile, source.description, mapping.hash);
    trimErrors(errorsFile, checkpoint);
    log(`resume: ${checkpoint.state.collections.map((c) => `${c.source} from ${c.next}`).join(", ")}`);
  } else {
    checkpoint = Checkpoint.start(checkpointFile, source.description, mapping.hash, names);
    writeFileAtomic(errorsFile, "");
  }
  checkpoint.save();

  const db = opts.db;
  const writer: BulkWriter = db.bulkWriter({ throttling: opts.rampUp ?? true });
  const tenants = tenantRegistry(db, mapping, true);
  const collections: CollectionSummary[] = [];
  let dirty = false;
  const timer = setInterval(() => {
    if (dirty) {
      dirty = false;
      checkpoint.save();
    }
  }, CHECKPOINT_INTERVAL_MS);
  try {
    for (const c of mapping.collections) {
      const progress = checkpoint.collection(c.source);
      const total = counts.get(c.source) ?? 0;
      const stats: ConversionStats = new Map();
      if (!progress.done) {
        const mark = new Watermark(progress);
        opts.progress?.start(c.source, total, progress.next);
        let inFlight = 0;
        let fatal: Error | undefined;
        let wake: (() => void) | undefined;
        const finish = (index: number, outcome: "written" | "failed") => {
          mark.complete(index, outcome);
          dirty = true;
          opts.progress?.tick();
        };
        const fail = (e: DocumentError) => {
          // Appended before the watermark can pass it, so a resumed run never loses an error line.
          appendFileSync(errorsFile, `${JSON.stringify(e)}\n`);
          finish(e.index, "failed");
        };
        for await (const { index, doc } of source.read(c.source, progress.next)) {
          const converted = convertDocument(doc, c, db, stats);
          const id = describeId(doc);
          if (!converted.ok) {
            fail({ collection: c.source, index, id, path: converted.path, errors: converted.errors });
            continue;
          }
          if (!c.isTenantDoc && (await tenants.ensure(converted.tenantId)) === "missing") {
            fail({
              collection: c.source,
              index,
              id,
              path: converted.path,
              errors: [{ field: "", message: `tenant ${converted.tenantId} does not exist (tenants.mode is "match")` }],
            });
            continue;
          }
          inFlight++;
          writer
            .set(db.doc(converted.path), converted.data)
            .then(
              () => finish(index, "written"),
              (error: Error & { code?: number }) => {
                // Only a document Firestore rejects (INVALID_ARGUMENT) is this document's error. Anything
                // else (after BulkWriter's own retries) stops the run below the watermark, so --resume retries it.
                if (error.code !== INVALID_ARGUMENT) fatal ??= error;
                else
                  fail({
                    collection: c.source,
                    index,
                    id,
                    path: converted.path,
                    errors: [{ field: "", message: `write rejected: ${error.message}` }],
                  });
              },
            )
            .finally(() => {
              inFlight--;
              wake?.();
            });
          while (inFlight >= MAX_IN_FLIGHT) await new Promise<void>((r) => (wake = r));
          if (fatal) break;
        }
        await writer.flush();
        if (fatal) throw fatal;
        opts.progress?.stop();
        progress.done = true;
        checkpoint.save();
      }
      collections.push({
        source: c.source,
        target: c.target,
        documents: total,
        written: progress.written,
        failed: progress.failed,
        conversions: Object.fromEntries(stats),
      });
      log(
        `${c.source} → ${c.target}: ${progress.written} written, ${progress.failed} failed (errors in ${errorsFile})`,
      );
    }
  } finally {
    clearInterval(timer);
    await writer.close();
    // Also after a failure: the watermark covers only finished documents, so this is where --resume starts.
    checkpoint.save();
  }
  return { dryRun: false, collections, tenants: tenants.result, errors: readErrors(errorsFile) };
}
