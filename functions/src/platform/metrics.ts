/**
 * In-process metric counters. Modules record with `metrics.inc(name, labels)`; labels must be
 * low-cardinality (function, outcome, reason — never a tenant id, uid or key). How counters
 * leave the instance (aggregation, the Prometheus endpoint) is the observability module's job.
 */

export type Labels = Readonly<Record<string, string>>;

export interface CounterSample {
  name: string;
  labels: Labels;
  value: number;
}

const counters = new Map<string, CounterSample>();
const listeners = new Set<(sample: CounterSample, delta: number) => void>();

function keyOf(name: string, labels: Labels): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`);
  return `${name}{${parts.join(",")}}`;
}

export const metrics = {
  /** Adds `value` (default 1) to the counter `name` with `labels`. */
  inc(name: string, labels: Labels = {}, value = 1): void {
    const key = keyOf(name, labels);
    let sample = counters.get(key);
    if (!sample) {
      sample = { name, labels: { ...labels }, value: 0 };
      counters.set(key, sample);
    }
    sample.value += value;
    listeners.forEach((listener) => listener(sample, value));
  },
  /** A copy of every counter on this instance. */
  snapshot(): CounterSample[] {
    return [...counters.values()].map((s) => ({ ...s, labels: { ...s.labels } }));
  },
  /** The current value of one counter (0 when never incremented). */
  value(name: string, labels: Labels = {}): number {
    return counters.get(keyOf(name, labels))?.value ?? 0;
  },
  /** Subscribes to increments (used by exporters); returns an unsubscribe function. */
  onIncrement(listener: (sample: CounterSample, delta: number) => void): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  /** Clears every counter (tests). */
  reset(): void {
    counters.clear();
  },
};
