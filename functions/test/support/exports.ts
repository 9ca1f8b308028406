/**
 * The product's exported callable and HTTPS functions, enumerated from the codebase's exports
 * (with their specs), so suites that must cover every function need no hand-kept list.
 */
import * as exported from "../../src/index";
import { inputJsonSchema } from "../../src/observability/apiref";
import { specOf, type FunctionSpec } from "../../src/platform/spec";

export interface ExportedFunction {
  name: string;
  fn: unknown;
  spec: FunctionSpec;
}

/** Every exported function made by a wrapper, except task-queue handlers. */
export function exportedFunctions(): ExportedFunction[] {
  return Object.entries(exported as Record<string, unknown>)
    .map(([name, fn]) => ({ name, fn, spec: specOf(fn) }))
    .filter((f): f is ExportedFunction => !!f.spec && f.spec.kind !== "task");
}

/** An exported function by name (the index wires its exports lazily, so they are untyped). */
export function exportedFunction(name: string): never {
  return (exported as Record<string, unknown>)[name] as never;
}

/** Top-level property names of a function's input, including those of each union alternative. */
export function inputKeys(spec: FunctionSpec): string[] {
  if (!spec.input) return [];
  try {
    const json = inputJsonSchema(spec.input) as {
      properties?: Record<string, unknown>;
      anyOf?: { properties?: Record<string, unknown> }[];
    };
    const props = { ...(json.properties ?? {}) };
    for (const alt of json.anyOf ?? []) Object.assign(props, alt.properties ?? {});
    return Object.keys(props);
  } catch {
    return [];
  }
}
