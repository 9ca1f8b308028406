/**
 * The metrics pipeline without Firestore: prom-client families → per-instance shard increments
 * → shard documents → prom-client's aggregator. Shards are plain objects here, summed the way
 * `FieldValue.increment` sums them; the emulator-backed path is in the integration tests.
 */
import fc from "fast-check";
import { AggregatorRegistry, Counter, Histogram, Registry } from "prom-client";
import { decodeSeries, encodeSeries, seriesDeltas, shardFamilies } from "../../src/observability/metrics-aggregate";
import { bearerMatches } from "../../src/observability/metrics-auth";
import { DURATION_BUCKETS, metrics, registry, type MetricFamily } from "../../src/platform/metrics";
import { captureLogs } from "../support/observability-logs";

const lines = captureLogs();

type Shard = Record<string, number | Record<string, number>>;

/** Applies one flush to a shard document as Firestore's merge + increment would. */
function applyFlush(shard: Shard, families: MetricFamily[], flushed: Map<string, number>): void {
  for (const d of seriesDeltas(families, flushed)) {
    if (d.part) {
      const parts = (shard[d.field] ??= {}) as Record<string, number>;
      parts[d.part] = (parts[d.part] ?? 0) + d.delta;
    } else {
      shard[d.field] = ((shard[d.field] as number | undefined) ?? 0) + d.delta;
    }
    flushed.set(d.key, d.value);
  }
}

/** A registry like one instance's, with one histogram and one counter. */
function instance() {
  const reg = new Registry();
  const histogram = new Histogram({
    name: "faas_invoke_duration_seconds",
    help: "Function invocation duration by function, kind and outcome code",
    labelNames: ["fn", "kind", "code"],
    buckets: [...DURATION_BUCKETS],
    registers: [reg],
  });
  const counter = new Counter({
    name: "faas_errors_total",
    help: "Function invocations that ended with an error, by function and code",
    labelNames: ["fn", "code"],
    registers: [reg],
  });
  const families = async () => (await reg.getMetricsAsJSON()) as unknown as MetricFamily[];
  return { reg, histogram, counter, families };
}

/**
 * Sample lines only (prom-client prints HELP/TYPE even for a metric with no series yet), each
 * with its labels in name order, sorted.
 */
const sortedLines = (text: string) =>
  text
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const m = /^([^{ ]+)(?:\{(.*)\})? (.+)$/.exec(l)!;
      const labels = (m[2] ?? "").match(/[a-zA-Z_]+="(?:[^"\\]|\\.)*"/g) ?? [];
      return `${m[1]}{${labels.sort().join(",")}} ${m[3]}`;
    })
    .sort();

// Durations that add up exactly in binary floating point, so sums compare exactly.
const observation = fc.record({
  fn: fc.constantFrom("createPayment", "whoami", "metrics"),
  code: fc.constantFrom("ok", "internal", "not-found"),
  seconds: fc.integer({ min: 0, max: 60 }).map((n) => n / 4),
  instance: fc.nat(3),
  flushAfter: fc.boolean(),
});

describe("cross-instance aggregation of histograms and counters", () => {
  it("merges any observations spread over instances, shards and flushes into exactly one instance's exposition (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(observation, { maxLength: 40 }),
        fc.integer({ min: 1, max: 3 }),
        async (obs, shardCount) => {
          const instances = [instance(), instance(), instance(), instance()];
          const flushed = instances.map(() => new Map<string, number>());
          const shards: Shard[] = Array.from({ length: shardCount }, () => ({}));
          const reference = instance();
          for (const [i, o] of obs.entries()) {
            const labels = { fn: o.fn, kind: "callable", code: o.code };
            const target = instances[o.instance];
            target.histogram.observe(labels, o.seconds);
            if (o.code !== "ok") target.counter.inc({ fn: o.fn, code: o.code });
            reference.histogram.observe(labels, o.seconds);
            if (o.code !== "ok") reference.counter.inc({ fn: o.fn, code: o.code });
            if (o.flushAfter) applyFlush(shards[i % shardCount], await target.families(), flushed[o.instance]);
          }
          // Every instance flushes what is left (the endpoint flushes its own; the others' timers do).
          for (const [n, inst] of instances.entries())
            applyFlush(shards[n % shardCount], await inst.families(), flushed[n]);

          const merged = AggregatorRegistry.aggregate(shards.map((s) => shardFamilies(s)) as never);
          const text = await merged.metrics();
          expect(sortedLines(text)).toEqual(sortedLines(await reference.reg.metrics()));
          if (obs.length > 0) expect(text).toContain("# TYPE faas_invoke_duration_seconds histogram");
        },
      ),
      { numRuns: 60 },
    );
  });

  it("adds nothing on a flush without new observations, and only the new part after one", async () => {
    const inst = instance();
    const flushed = new Map<string, number>();
    inst.histogram.observe({ fn: "f", kind: "https", code: "ok" }, 0.02);
    expect(seriesDeltas(await inst.families(), flushed).length).toBeGreaterThan(0);
    const shard: Shard = {};
    applyFlush(shard, await inst.families(), flushed);
    expect(seriesDeltas(await inst.families(), flushed)).toEqual([]);
    inst.histogram.observe({ fn: "f", kind: "https", code: "ok" }, 3);
    const parts = seriesDeltas(await inst.families(), flushed).map((d) => [d.part, d.delta]);
    // 3 s falls in le=5, 7.5, 10 and +Inf; sum grows by 3, count by 1; nothing else is written.
    expect(parts).toEqual([
      ["b5", 1],
      ["b7p5", 1],
      ["b10", 1],
      ["bInf", 1],
      ["sum", 3],
      ["count", 1],
    ]);
  });

  it("reads a histogram series as cumulative buckets in bound order, then _sum and _count", () => {
    const field = encodeSeries("h_seconds", { fn: "f" });
    const [family] = shardFamilies({ [field]: { bInf: 3, b0p5: 1, b10: 2, sum: 12.5, count: 3, junk: 7 } });
    expect(family).toMatchObject({ name: "h_seconds", type: "histogram", aggregator: "sum" });
    expect(family.values).toEqual([
      { metricName: "h_seconds_bucket", labels: { fn: "f", le: 0.5 }, value: 1 },
      { metricName: "h_seconds_bucket", labels: { fn: "f", le: 10 }, value: 2 },
      { metricName: "h_seconds_bucket", labels: { fn: "f", le: "+Inf" }, value: 3 },
      { metricName: "h_seconds_sum", labels: { fn: "f" }, value: 12.5 },
      { metricName: "h_seconds_count", labels: { fn: "f" }, value: 3 },
    ]);
  });

  it("escapes hostile label values in the rendered text, so a label cannot forge a line", async () => {
    const field = encodeSeries("x_total", { reason: '"} 1\nforged 99' });
    const text = await AggregatorRegistry.aggregate([shardFamilies({ [field]: 1 })] as never).metrics();
    expect(text.split("\n").filter((l) => l.startsWith("forged"))).toEqual([]);
    expect(text).toContain('x_total{reason="\\"} 1\\nforged 99"} 1');
  });
});

describe("series encoding", () => {
  it("round-trips any name and labels through a simple Firestore field name (property)", () => {
    fc.assert(
      fc.property(fc.string(), fc.dictionary(fc.string(), fc.string()), (name, labels) => {
        const field = encodeSeries(name, labels);
        expect(field).toMatch(/^s[0-9a-f]*$/);
        expect(decodeSeries(field)).toEqual({ name, labels: { ...labels } });
      }),
    );
  });

  it("gives the same field whatever the label order, and ignores foreign fields", () => {
    expect(encodeSeries("n", { a: "1", b: "2" })).toBe(encodeSeries("n", { b: "2", a: "1" }));
    expect(decodeSeries("updatedAt")).toBeUndefined();
    expect(decodeSeries("s0")).toBeUndefined();
    expect(decodeSeries("s7b")).toBeUndefined();
  });
});

describe("platform metrics API", () => {
  it("keeps metrics.inc(name, labels) and reads a series back", async () => {
    metrics.inc("unit_probe_total", { outcome: "a" });
    metrics.inc("unit_probe_total", { outcome: "a" }, 2);
    metrics.inc("unit_probe_total", { outcome: "b" });
    expect(await metrics.value("unit_probe_total", { outcome: "a" })).toBe(3);
    expect(await metrics.value("unit_probe_total", { outcome: "c" })).toBe(0);
    expect(await metrics.value("never_recorded_total")).toBe(0);
  });

  it("records histograms with the OpenTelemetry duration buckets by default", async () => {
    metrics.observe("unit_probe_seconds", { fn: "f" }, 0.3);
    const text = await registry.getSingleMetricAsString("unit_probe_seconds");
    expect(text).toContain('unit_probe_seconds_bucket{le="0.25",fn="f"} 0');
    expect(text).toContain('unit_probe_seconds_bucket{le="0.5",fn="f"} 1');
    expect(text).toContain('unit_probe_seconds_bucket{le="10",fn="f"} 1');
  });

  it("drops (and logs once) a recording whose label names differ from the metric's first use, never throwing", async () => {
    metrics.inc("unit_labels_total", { outcome: "a" });
    expect(() => metrics.inc("unit_labels_total", { other: "x" })).not.toThrow();
    expect(() => metrics.inc("unit_labels_total", { other: "y" })).not.toThrow();
    expect(lines.filter((l) => l.metric === "unit_labels_total")).toHaveLength(1);
    expect(await metrics.value("unit_labels_total", { outcome: "a" })).toBe(1);
  });

  it("tells subscribers about every recording and stops when unsubscribed", () => {
    let calls = 0;
    const stop = metrics.onRecord(() => calls++);
    metrics.inc("unit_notify_total");
    metrics.observe("unit_notify_seconds", {}, 1);
    stop();
    metrics.inc("unit_notify_total");
    expect(calls).toBe(2);
  });
});

describe("operator bearer token", () => {
  const token = "op-token-123";
  it("accepts exactly the configured token", () => {
    expect(bearerMatches(`Bearer ${token}`, token)).toBe(true);
    expect(bearerMatches(`bearer ${token}`, token)).toBe(true);
  });

  it("refuses missing, wrong, prefixed, suffixed and empty tokens", () => {
    for (const header of [
      undefined,
      "",
      "Bearer",
      "Bearer ",
      `Basic ${token}`,
      `Bearer ${token}x`,
      `Bearer x${token}`,
      token,
      `Bearer ${token} extra`,
    ]) {
      expect(bearerMatches(header, token)).toBe(false);
    }
    expect(bearerMatches("Bearer ", "")).toBe(false);
    expect(bearerMatches("Bearer x", "")).toBe(false);
  });
});
