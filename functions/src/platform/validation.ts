/**
 * Input validation at every trust boundary: one place that turns zod issues into an
 * `invalid-argument` error with a readable message and per-field details.
 */
import { z } from "zod";
import { fieldErrors, invalidArgument, summarise } from "./errors";

/** Parses `data` with `schema`, or throws `invalid-argument` with the field errors. */
export function parseInput<S extends z.ZodType>(schema: S, data: unknown): z.output<S> {
  const result = schema.safeParse(data);
  if (!result.success) {
    const fields = fieldErrors(result.error);
    throw invalidArgument(summarise(fields), fields);
  }
  return result.data;
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
