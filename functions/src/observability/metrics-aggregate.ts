/**
 * Cross-instance aggregation of the counters every module records through `platform/metrics.ts`.
 *
 * Design: sharded Firestore counters. Each instance keeps what it has already flushed and adds
 * its deltas — at once for the first increment after a quiet interval, then at most once per
 * METRICS_FLUSH_SECONDS (an idle instance never writes) — to one of METRICS_SHARDS documents
 * `_metrics/shard-{n}` with `FieldValue.increment` in a single write. The metrics endpoint
 * flushes its own instance, reads every shard (METRICS_SHARDS reads) and sums them.
 *
 * Why this and not per-instance OpenTelemetry export alone: Cloud Monitoring is write-mostly
 * (a Prometheus scrape would need the Monitoring query API and still see per-instance series
 * from instances that are gone), and nothing equivalent runs on the emulators. Firestore
 * increments are exact, monotonic across instance churn, cheap (one write per instance per
 * interval for a busy one, independent of traffic) and testable. Limits: an instance that dies loses at most
 * one interval of increments; each shard document sustains about one write per second, so
 * shards × interval bounds the instance count (8 shards × 10 s ≈ 80 busy instances).
 */
import type { Firestore } from "firebase-admin/firestore";
import { describeError, log } from "../platform/logger";
import { metrics, type CounterSample, type Labels } from "../platform/metrics";

/** The platform collection of counter shards (clients have no access; rules deny by default). */
export const METRICS_COLLECTION = "_metrics";

/**
 * The map field holding a shard's series. One map lets firestore.indexes.json exempt every
 * series from indexing with a single override (nothing queries them).
 */
export const COUNTERS_FIELD = "c";

/**
 * A series as a Firestore field name: "s" + hex of `[name, sorted label pairs]`. Hex keeps it a
 * simple field name (no quoting, no dots), whatever the labels contain.
 */
export function encodeSeries(name: string, labels: Labels): string {
  const pairs = Object.keys(labels)
    .sort()
    .map((k) => [k, labels[k]]);
  return `s${Buffer.from(JSON.stringify([name, pairs]), "utf8").toString("hex")}`;
}

/** The series a field name stands for, or undefined for anything else in a shard document. */
export function decodeSeries(field: string): { name: string; labels: Labels } | undefined {
  if (!/^s(?:[0-9a-f]{2})+$/.test(field)) return undefined;
  try {
    const [name, pairs] = JSON.parse(Buffer.from(field.slice(1), "hex").toString("utf8")) as [
      string,
      [string, string][],
    ];
    if (typeof name !== "string" || !Array.isArray(pairs)) return undefined;
    return { name, labels: Object.fromEntries(pairs) };
  } catch {
    return undefined;
  }
}

export interface AggregatorOptions {
  rootDb: () => Firestore;
  /** Flush interval in ms (read when a flush is armed). */
  intervalMs: () => number;
  /** Number of shard documents. */
  shards: () => number;
  /** In [0, 1); picks the shard (tests pass their own). */
  random?: () => number;
  /** Clock in ms (tests). */
  now?: () => number;
  /** Shard collection (tests use their own). */
  collection?: string;
}

export interface Aggregator {
  /** Adds this instance's unflushed increments to a shard; flushes run one after another. */
  flush(): Promise<void>;
  /** Starts flushing automatically after increments; idempotent. */
  start(): void;
  /** Stops automatic flushing (pending increments stay for the next `flush()`). */
  stop(): void;
}

/** Creates an aggregator over `platform/metrics` (see the module comment). */
export function createAggregator(options: AggregatorOptions): Aggregator {
  const random = options.random ?? Math.random;
  // Cumulative value of each series already added to the shared counters.
  const flushed = new Map<string, number>();
  let chain: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let lastFlushAt = Number.NEGATIVE_INFINITY;
  const now = options.now ?? Date.now;
  let unsubscribe: (() => void) | undefined;

  const flushOnce = async (): Promise<void> => {
    const deltas: { field: string; value: number; delta: number }[] = [];
    for (const sample of metrics.snapshot()) {
      const field = encodeSeries(sample.name, sample.labels);
      const done = flushed.get(field) ?? 0;
      // A counter below what was flushed was reset in-process (tests): count it from zero.
      const delta = sample.value >= done ? sample.value - done : sample.value;
      if (delta > 0) deltas.push({ field, value: sample.value, delta });
    }
    if (deltas.length === 0) return;
    const { FieldValue } = await import("firebase-admin/firestore");
    const series: Record<string, unknown> = {};
    for (const d of deltas) series[d.field] = FieldValue.increment(d.delta);
    const shard = Math.floor(random() * options.shards());
    // merge: only the listed series are touched (field paths c.s…), each incremented atomically.
    await options
      .rootDb()
      .collection(options.collection ?? METRICS_COLLECTION)
      .doc(`shard-${shard}`)
      .set({ [COUNTERS_FIELD]: series }, { merge: true });
    for (const d of deltas) flushed.set(d.field, d.value);
  };

  const flush = (): Promise<void> => {
    // Serialised: two flushes computing deltas from the same `flushed` state would double count.
    const run = chain.then(flushOnce);
    chain = run.catch(() => undefined);
    return run;
  };

  const flushQuietly = (): void => {
    lastFlushAt = now();
    flush().catch((error) => log.warn("metrics flush failed; increments kept for the next one", describeError(error)));
  };

  // Leading and trailing edge: the first increment after a quiet interval flushes at once, on
  // the request path while the instance has CPU (a quiet instance may be stopped before any
  // timer fires); later ones wait for one trailing flush. At most two writes per interval.
  const arm = (): void => {
    if (timer) return;
    const interval = options.intervalMs();
    const since = now() - lastFlushAt;
    if (since >= interval) flushQuietly();
    timer = setTimeout(
      () => {
        timer = undefined;
        flushQuietly();
      },
      since >= interval ? interval : interval - since,
    );
    // Never keeps an instance (or a test run) alive on its own.
    timer.unref();
  };

  return {
    flush,
    start() {
      unsubscribe ??= metrics.onIncrement(arm);
    },
    stop() {
      unsubscribe?.();
      unsubscribe = undefined;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** Reads every shard and sums them into one sample per series. */
export async function readAggregated(rootDb: Firestore, collection = METRICS_COLLECTION): Promise<CounterSample[]> {
  const snapshot = await rootDb.collection(collection).get();
  const totals = new Map<string, CounterSample>();
  for (const doc of snapshot.docs) {
    const stored = doc.get(COUNTERS_FIELD);
    if (typeof stored !== "object" || stored === null) continue;
    for (const [field, value] of Object.entries(stored as Record<string, unknown>)) {
      const series = typeof value === "number" ? decodeSeries(field) : undefined;
      if (!series) continue;
      const total = totals.get(field) ?? { name: series.name, labels: series.labels, value: 0 };
      total.value += value as number;
      totals.set(field, total);
    }
  }
  return [...totals.values()];
}
