import fc from "fast-check";
import { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { decodeSeries, encodeSeries } from "../../src/observability/metrics-aggregate";
import { bridgeToOpenTelemetry } from "../../src/observability/metrics-otel";
import { describeMetric, labelValue, metricName, renderPrometheus } from "../../src/observability/metrics-prometheus";
import { bearerMatches } from "../../src/observability/metrics-auth";
import { metrics } from "../../src/platform/metrics";

describe("Prometheus text exposition", () => {
  it("renders HELP, TYPE and sorted series per counter", () => {
    describeMetric("probe_b_total", "Probe B\nsecond line");
    const text = renderPrometheus([
      { name: "probe_b_total", labels: { outcome: "y", fn: "f" }, value: 2 },
      { name: "probe_a_total", labels: {}, value: 5 },
      { name: "probe_b_total", labels: { fn: "e", outcome: "x" }, value: 1 },
    ]);
    expect(text).toBe(
      [
        "# HELP probe_a_total Counter probe_a_total",
        "# TYPE probe_a_total counter",
        "probe_a_total 5",
        "# HELP probe_b_total Probe B\\nsecond line",
        "# TYPE probe_b_total counter",
        'probe_b_total{fn="e",outcome="x"} 1',
        'probe_b_total{fn="f",outcome="y"} 2',
        "",
      ].join("\n"),
    );
  });

  it("escapes label values and sanitises names so a hostile label cannot forge a line", () => {
    expect(labelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    expect(metricName("9bad-name.total")).toBe("_9bad_name_total");
    const text = renderPrometheus([{ name: "x", labels: { "bad-label": '"} 1\nforged 99' }, value: 1 }]);
    expect(text.split("\n").filter((l) => l.startsWith("forged"))).toEqual([]);
    expect(text).toContain('x{bad_label="\\"} 1\\nforged 99"} 1');
  });

  it("renders nothing for no samples", () => {
    expect(renderPrometheus([])).toBe("");
  });
});

describe("counter series encoding", () => {
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

class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

describe("OpenTelemetry bridge", () => {
  it("observes every counter, including ones first incremented after the bridge started", async () => {
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    metrics.inc("otel_probe_early_total", { fn: "a" }, 3);
    const stop = await bridgeToOpenTelemetry(provider.getMeter("test"));
    metrics.inc("otel_probe_late_total", { fn: "b", outcome: "first" }, 2);
    metrics.inc("otel_probe_early_total", { fn: "a" });
    const { resourceMetrics } = await reader.collect();
    const points = new Map<string, { attributes: unknown; value: unknown }[]>();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        points.set(
          metric.descriptor.name,
          metric.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value })),
        );
      }
    }
    expect(points.get("otel_probe_early_total")).toEqual([{ attributes: { fn: "a" }, value: 4 }]);
    expect(points.get("otel_probe_late_total")).toEqual([{ attributes: { fn: "b", outcome: "first" }, value: 2 }]);
    stop();
    await provider.shutdown();
  });
});
