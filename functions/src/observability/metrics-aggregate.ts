/**
 * Cross-instance aggregation of the prom-client metrics every module records through
 * `platform/metrics.ts`: counters and histograms.
 *
 * Design: sharded Firestore counters. Every value a scrape shows is monotonic — a counter, and
 * for a histogram its cumulative bucket counts, `_sum` and `_count` — so each instance adds its
 * deltas since the last flush, and the sums are exact however instances come and go. An instance
 * flushes soon after the first recording following a quiet interval, then at most once per
 * METRICS_FLUSH_SECONDS (an idle instance never writes), to one of METRICS_SHARDS documents
 * `_metrics/shard-{n}` with `FieldValue.increment` in a single write. The metrics endpoint
 * flushes its own instance, reads every shard (METRICS_SHARDS reads), turns each into the
 * metric families prom-client reports and merges them with prom-client's own aggregator
 * (`AggregatorRegistry.aggregate`, summing equal series), which also renders the exposition.
 *
 * Why this and not per-instance OpenTelemetry export alone: Cloud Monitoring is write-mostly
 * (a Prometheus scrape would need the Monitoring query API and still see per-instance series
 * from instances that are gone), and nothing equivalent runs on the emulators. Firestore
 * increments are exact, monotonic across instance churn, cheap (one write per instance per
 * interval for a busy one, independent of traffic) and testable. Limits: an instance that dies
 * loses at most one interval of increments; each shard document sustains about one write per
 * second, so shards × interval bounds the instance count (8 shards × 10 s ≈ 80 busy instances).
 *
 * Shard layout: the map field `c` holds one entry per series (name and labels, without `le`):
 * a number for a counter, a map `{b<le>: count, sum, count}` for a histogram.
 */
import type { Firestore } from "firebase-admin/firestore";
import type { MetricObjectWithValues, MetricValue, Registry } from "prom-client";
import { FieldValue } from "../platform/firestore-sdk";
import { describeError, log } from "../platform/logger";
import { metricHelp, metrics, type Labels, type MetricFamily } from "../platform/metrics";

/** The platform collection of metric shards (clients have no access; rules deny by default). */
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

/** A histogram part's key in its series map: `b0p005` for le=0.005, `bInf`, `sum`, `count`. */
function bucketKey(le: string | number): string {
  return le === "+Inf" ? "bInf" : `b${String(le).replace(".", "p")}`;
}

function bucketBound(key: string): number | "+Inf" | undefined {
  if (key === "bInf") return "+Inf";
  const m = /^b(\d+(?:p\d+)?)$/.exec(key);
  return m ? Number(m[1].replace("p", ".")) : undefined;
}

/** Where one prom-client value goes in a shard: its series field and, for a histogram, its part. */
function locate(family: MetricFamily, value: MetricFamily["values"][number]): { field: string; part?: string } {
  if (family.type !== "histogram") return { field: encodeSeries(family.name, value.labels as Labels) };
  const { le, ...labels } = value.labels as Record<string, string | number>;
  const field = encodeSeries(family.name, labels as Labels);
  const suffix = value.metricName?.slice(family.name.length);
  return { field, part: suffix === "_bucket" ? bucketKey(le) : suffix === "_sum" ? "sum" : "count" };
}

/** What one flush adds to a shard: a series field, its histogram part, and the increment. */
export interface SeriesDelta {
  /** Key in `flushed`: the field, or field.part. */
  key: string;
  field: string;
  part?: string;
  /** The cumulative value now (becomes the flushed value once written). */
  value: number;
  delta: number;
}

/**
 * The increments that bring the shared counters from `flushed` (cumulative values already
 * added, by key) up to `families` (this instance's metrics now). Gauges and summaries are not
 * aggregated: their sum across instances means nothing.
 */
export function seriesDeltas(families: readonly MetricFamily[], flushed: ReadonlyMap<string, number>): SeriesDelta[] {
  const deltas: SeriesDelta[] = [];
  for (const family of families) {
    if (family.type !== "counter" && family.type !== "histogram") continue;
    for (const value of family.values) {
      const { field, part } = locate(family, value);
      const key = part ? `${field}.${part}` : field;
      const done = flushed.get(key);
      // A value below what was flushed was reset in-process (tests): count it from zero.
      const delta = done === undefined || value.value < done ? value.value : value.value - done;
      // A new series is written even at 0: a histogram's empty buckets and zero sum are part of it.
      if (delta > 0 || done === undefined) deltas.push({ key, field, part, value: value.value, delta });
    }
  }
  return deltas;
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
  /** Starts flushing automatically after recordings; idempotent. */
  start(): void;
  /** Stops automatic flushing (pending increments stay for the next `flush()`). */
  stop(): void;
}

/** Creates an aggregator over `platform/metrics` (see the module comment). */
export function createAggregator(options: AggregatorOptions): Aggregator {
  const random = options.random ?? Math.random;
  // Cumulative value of each series (and histogram part) already added to the shared counters.
  const flushed = new Map<string, number>();
  let chain: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let lastFlushAt = Number.NEGATIVE_INFINITY;
  const now = options.now ?? Date.now;
  let unsubscribe: (() => void) | undefined;

  const flushOnce = async (): Promise<void> => {
    const deltas = seriesDeltas(await metrics.snapshot(), flushed);
    if (deltas.length === 0) return;
    const series: Record<string, unknown> = {};
    for (const d of deltas) {
      const increment = FieldValue.increment(d.delta);
      if (d.part) series[d.field] = { ...(series[d.field] as object | undefined), [d.part]: increment };
      else series[d.field] = increment;
    }
    const shard = Math.floor(random() * options.shards());
    // merge: only the listed fields (c.s….part) are touched, each incremented atomically.
    await options
      .rootDb()
      .collection(options.collection ?? METRICS_COLLECTION)
      .doc(`shard-${shard}`)
      .set({ [COUNTERS_FIELD]: series }, { merge: true });
    for (const d of deltas) flushed.set(d.key, d.value);
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

  // Leading and trailing edge: the first recording after a quiet interval flushes at once (a
  // quiet instance may be stopped before any timer fires), but in a macrotask, after the
  // invocation that recorded it has answered, so no request waits for Firestore to load; later
  // recordings wait for one trailing flush. At most two writes per interval.
  const arm = (): void => {
    if (timer) return;
    const interval = options.intervalMs();
    const since = now() - lastFlushAt;
    if (since >= interval) {
      lastFlushAt = now();
      setImmediate(flushQuietly);
    }
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
      unsubscribe ??= metrics.onRecord(arm);
    },
    stop() {
      unsubscribe?.();
      unsubscribe = undefined;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

type Sample = MetricFamily["values"][number];

/** One shard document's series as the metric families prom-client reports (sorted, for stable output). */
export function shardFamilies(stored: unknown): MetricFamily[] {
  if (typeof stored !== "object" || stored === null) return [];
  const families = new Map<string, { type: "counter" | "histogram"; values: Sample[] }>();
  const family = (name: string, type: "counter" | "histogram") => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { type, values: [] }));
    // A name recorded as two types is a programming error; keep the first, never mix them.
    return f.type === type ? f : undefined;
  };
  for (const field of Object.keys(stored).sort()) {
    const value = (stored as Record<string, unknown>)[field];
    const series = decodeSeries(field);
    if (!series) continue;
    if (typeof value === "number") {
      family(series.name, "counter")?.values.push({ labels: series.labels, value });
    } else if (typeof value === "object" && value !== null) {
      const target = family(series.name, "histogram");
      if (!target) continue;
      const parts = value as Record<string, unknown>;
      const buckets = Object.keys(parts)
        .map((key) => ({ le: bucketBound(key), value: parts[key] }))
        .filter((b): b is { le: number | "+Inf"; value: number } => b.le !== undefined && typeof b.value === "number")
        .sort((a, b) => (a.le === "+Inf" ? 1 : b.le === "+Inf" ? -1 : a.le - b.le));
      for (const b of buckets) {
        target.values.push({
          metricName: `${series.name}_bucket`,
          labels: { ...series.labels, le: b.le },
          value: b.value,
        });
      }
      for (const part of ["sum", "count"] as const) {
        const v = parts[part];
        if (typeof v === "number") {
          target.values.push({ metricName: `${series.name}_${part}`, labels: series.labels, value: v });
        }
      }
    }
  }
  return [...families.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, f]) => ({ name, help: metricHelp(name), type: f.type, aggregator: "sum", values: f.values }));
}

/** Reads every shard and merges them, with prom-client's aggregator, into one registry to render. */
export async function readAggregated(rootDb: Firestore, collection = METRICS_COLLECTION): Promise<Registry> {
  const snapshot = await rootDb.collection(collection).get();
  // Loaded only where a scrape happens: the full prom-client package is heavier than the parts
  // platform/metrics.ts loads on every instance.
  const { AggregatorRegistry } = await import("prom-client");
  const shards = snapshot.docs.map((doc) => shardFamilies(doc.get(COUNTERS_FIELD)));
  // The same objects prom-client's own getMetricsAsJSON() produces (see MetricFamily).
  return AggregatorRegistry.aggregate(shards as unknown as MetricObjectWithValues<MetricValue<string>>[][]);
}
