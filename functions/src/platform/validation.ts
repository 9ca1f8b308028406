/**
 * Input validation at every trust boundary: one place that turns zod issues into an
 * `invalid-argument` error with a readable message and per-field details.
 */
import { z } from "zod";
import { fieldErrors, invalidArgument, summarise, type FieldErrors } from "./errors";

/** Keys that address an object's prototype machinery when a parser or decoder assigns them. */
const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/**
 * Field errors for every `__proto__`, `constructor` or `prototype` key at any depth, and for
 * every object whose prototype is not a plain object's. The second case is what such a key
 * leaves behind once a decoder assigned it (the callable protocol's `decode` does
 * `obj[key] = …`): the key is gone, but zod would read the smuggled fields through the prototype.
 * Errors are reported on the object holding the key (the key itself would not survive encoding).
 */
export function prototypeKeyErrors(value: unknown): FieldErrors {
  const errors = new Map<string, string[]>();
  const add = (path: string[], key: string) => {
    const at = path.join(".");
    errors.set(at, [...(errors.get(at) ?? []), `key "${key}" is not allowed`]);
  };
  const seen = new Set<object>();
  // Iterative: hostile input may nest deeper than the call stack allows.
  const stack: { value: unknown; path: string[] }[] = [{ value, path: [] }];
  while (stack.length > 0) {
    const { value: current, path } = stack.pop()!;
    if (typeof current !== "object" || current === null || seen.has(current)) continue;
    seen.add(current);
    const proto = Object.getPrototypeOf(current);
    const plain = Array.isArray(current) ? proto === Array.prototype : proto === Object.prototype || proto === null;
    if (!plain) add(path, "__proto__");
    for (const key of Object.keys(current)) {
      if (PROTOTYPE_KEYS.has(key)) add(path, key);
      else stack.push({ value: (current as Record<string, unknown>)[key], path: [...path, key] });
    }
  }
  return Object.fromEntries(errors);
}

/** Throws `invalid-argument` when `value` carries prototype keys (see `prototypeKeyErrors`). */
export function rejectPrototypeKeys(value: unknown): void {
  const fields = prototypeKeyErrors(value);
  if (Object.keys(fields).length > 0) throw invalidArgument(summarise(fields), fields);
}

export type InputCheck<T> = { success: true; data: T } | { success: false; fields: FieldErrors };

/**
 * Checks `data` against `schema` without throwing: prototype keys first, then zod. A function
 * whose input is all-optional also takes `null`/`undefined` as "no arguments": the web SDK sends
 * `data: null` for `httpsCallable(fns, name)()`.
 */
export function checkInput<S extends z.ZodType>(schema: S, data: unknown): InputCheck<z.output<S>> {
  const forbidden = prototypeKeyErrors(data);
  if (Object.keys(forbidden).length > 0) return { success: false, fields: forbidden };
  if (data === null || data === undefined) {
    const empty = schema.safeParse({});
    if (empty.success) return { success: true, data: empty.data };
  }
  const result = schema.safeParse(data);
  return result.success ? { success: true, data: result.data } : { success: false, fields: fieldErrors(result.error) };
}

/** Parses `data` with `schema`, or throws `invalid-argument` with the field errors. */
export function parseInput<S extends z.ZodType>(schema: S, data: unknown): z.output<S> {
  const result = checkInput(schema, data);
  if (!result.success) throw invalidArgument(summarise(result.fields), result.fields);
  return result.data;
}

/** True when `schema` accepts a call without arguments (`{}`, and so `null` too). */
export function acceptsNoArguments(schema: z.ZodType): boolean {
  return schema.safeParse({}).success;
}

/**
 * A document id chosen by a client: short, URL-safe, never "." / ".." / "__x__", so it can be
 * used as a path segment without any chance of escaping its collection.
 */
export const DocId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/, "must be 1-128 letters, digits, '-' or '_'");

/** A tenant id, same alphabet as document ids. */
export const TenantId = DocId;

/** The input of a function that takes no arguments: null, undefined or an empty object. */
export const NoInput = z
  .union([z.null(), z.undefined(), z.strictObject({})])
  .transform(() => ({}) as Record<string, never>);
