/**
 * The checked-in API reference must match what the code exports: the reference is regenerated
 * in memory from the zod schemas and compared with docs/api-reference.{md,json}. A schema or
 * description changed without running `node scripts/gen-api-reference.mjs` fails here.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import * as exported from "../../src/index";
import { buildApiReference, renderApiReferenceJson, renderApiReferenceMarkdown } from "../../src/observability/apiref";
import { httpsEndpoint } from "../../src/platform/https";
import { specOf } from "../../src/platform/spec";

const docs = join(__dirname, "../../../docs");
const REGENERATE = "docs/api-reference.* is stale: run `node scripts/gen-api-reference.mjs` and commit the result";

function checkedIn(file: string): string {
  try {
    return readFileSync(join(docs, file), "utf8");
  } catch {
    return "";
  }
}

describe("API reference", () => {
  const ref = buildApiReference(exported as Record<string, unknown>);

  it("documents every exported callable, HTTPS endpoint and task function", () => {
    const documented = ref.functions.map((f) => f.name).sort();
    const withSpecs = Object.entries(exported)
      .filter(([, fn]) => specOf(fn) !== undefined)
      .map(([name]) => name)
      .sort();
    expect(documented).toEqual(withSpecs);
    expect(documented).toEqual(expect.arrayContaining(["health", "getUploadUrl", "getDownloadUrl"]));
  });

  it("is current in docs/api-reference.md", () => {
    const expected = renderApiReferenceMarkdown(ref);
    if (checkedIn("api-reference.md") !== expected) throw new Error(REGENERATE);
  });

  it("is current in docs/api-reference.json", () => {
    const expected = renderApiReferenceJson(ref);
    if (checkedIn("api-reference.json") !== expected) throw new Error(REGENERATE);
  });

  it("changes when a schema changes, so the check above can fail", () => {
    const make = (input: z.ZodType) =>
      httpsEndpoint({ name: "probe", description: "d", methods: ["POST"], input, auth: "none" }, async () => ({
        status: 204,
      }));
    const before = renderApiReferenceMarkdown(buildApiReference({ probe: make(z.strictObject({ a: z.string() })) }));
    const after = renderApiReferenceMarkdown(
      buildApiReference({ probe: make(z.strictObject({ a: z.string().max(10) })) }),
    );
    expect(after).not.toBe(before);
    expect(after).toContain('"maxLength": 10');
  });

  it("shows the storage input schema the client must send", () => {
    const upload = ref.functions.find((f) => f.name === "getUploadUrl")!;
    expect(upload).toMatchObject({ kind: "callable", tenant: true, permission: "files:write" });
    expect(upload.input).toMatchObject({
      type: "object",
      required: ["contentType", "size"],
      additionalProperties: false,
    });
  });

  it("refuses an export whose spec name differs from the export name", () => {
    const fn = httpsEndpoint(
      { name: "real", description: "d", methods: ["GET"], input: z.object({}), auth: "none" },
      async () => ({ status: 204 }),
    );
    expect(() => buildApiReference({ alias: fn })).toThrow("export alias has spec name real");
  });
});
