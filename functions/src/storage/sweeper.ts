/**
 * The scheduled sweeper: pending uploads that never completed give their reservation back and
 * lose their object (if one arrived after all), and deletion tombstones whose object could not be
 * deleted at the time are finished. Each record is handled in its own transactions, so a sweep
 * that stops half-way leaves nothing inconsistent; the next sweep picks up what is left, and a
 * record whose sweep failed is retried an hour later.
 */
import { describeError, log } from "../platform/logger";
import { metrics } from "../platform/metrics";
import { objectStore, type ObjectStore } from "./objects";
import { fileObjectPath } from "./paths";
import { postponeSweep, removeTombstone, tombstone } from "./records";
import { dueRecords, tenantDbFor } from "./store";

/** How long a record whose sweep failed waits before the sweeper tries it again. */
const RETRY_AFTER_MS = 60 * 60 * 1000;

export interface SweepDeps {
  now?: () => number;
  store?: ObjectStore;
  /** Records handled per run (the schedule's interval bounds how long a backlog takes). */
  batchSize?: number;
}

export interface SweepResult {
  expired: number;
  removed: number;
  failed: number;
}

/** One sweep over records whose `sweepAt` has passed. */
export async function runFileSweep(deps: SweepDeps = {}): Promise<SweepResult> {
  const now = (deps.now ?? Date.now)();
  const store = deps.store ?? objectStore();
  const result: SweepResult = { expired: 0, removed: 0, failed: 0 };
  for (const { tenantId, fileId, snapshot } of await dueRecords(now, deps.batchSize ?? 200)) {
    const db = tenantDbFor(tenantId);
    try {
      if (snapshot.get("status") === "pending") {
        // Re-checked in the transaction: the upload may have completed since the query.
        if (!(await tombstone(db, fileId, { onlyExpiredPendingAt: now }))) continue;
        result.expired++;
      }
      await store.delete(fileObjectPath(tenantId, fileId));
      await removeTombstone(db, fileId);
      result.removed++;
    } catch (error) {
      // One record's failure must not stop the sweep; the record is tried again an hour later.
      result.failed++;
      log.warn("file sweep failed", { tenantId, fileId, ...describeError(error) });
      await postponeSweep(db, fileId, now + RETRY_AFTER_MS).catch((postponeError: unknown) =>
        // Not postponed: the record simply stays due for the next run.
        log.warn("file sweep not postponed", { tenantId, fileId, ...describeError(postponeError) }),
      );
    }
  }
  metrics.inc("files_swept_total", { outcome: "expired" }, result.expired);
  metrics.inc("files_swept_total", { outcome: "removed" }, result.removed);
  metrics.inc("files_swept_total", { outcome: "failed" }, result.failed);
  if (result.expired + result.removed + result.failed > 0) log.info("file sweep", { ...result });
  return result;
}
