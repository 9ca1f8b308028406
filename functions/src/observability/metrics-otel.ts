/**
 * OpenTelemetry view of the `platform/metrics` counters: one observable counter per metric
 * name, observing every series' cumulative value of this instance at each collection. It uses
 * only the OpenTelemetry API, so whichever MeterProvider the process registers (the
 * observability module's exporter, Cloud Monitoring, OTLP) receives them; with none it is a no-op.
 * Loaded with `await import()`: nothing of OpenTelemetry is loaded before it is asked for.
 */
import type { Meter, ObservableCounter } from "@opentelemetry/api";
import { metrics } from "../platform/metrics";
import { metricHelp, metricName } from "./metrics-prometheus";

/**
 * Exposes every counter, present and future, through `meter` (default: the global meter
 * "saas-core"). Returns a function that stops observing.
 */
export async function bridgeToOpenTelemetry(meter?: Meter): Promise<() => void> {
  const api = await import("@opentelemetry/api");
  const m = meter ?? api.metrics.getMeter("saas-core");
  const instruments = new Map<
    string,
    { counter: ObservableCounter; callback: Parameters<ObservableCounter["addCallback"]>[0] }
  >();
  const ensure = (name: string): void => {
    if (instruments.has(name)) return;
    const counter = m.createObservableCounter(metricName(name), { description: metricHelp(name) });
    const callback: Parameters<ObservableCounter["addCallback"]>[0] = (result) => {
      for (const sample of metrics.snapshot()) if (sample.name === name) result.observe(sample.value, sample.labels);
    };
    counter.addCallback(callback);
    instruments.set(name, { counter, callback });
  };
  metrics.snapshot().forEach((sample) => ensure(sample.name));
  const unsubscribe = metrics.onIncrement((sample) => ensure(sample.name));
  return () => {
    unsubscribe();
    for (const { counter, callback } of instruments.values()) counter.removeCallback(callback);
    instruments.clear();
  };
}
