/**
 * The generated module must match what the server exports: regenerated in memory from
 * docs/api-reference.json and functions/src, and compared with the checked-in file.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
// @ts-expect-error -- the generator is plain JavaScript without declarations
import { renderApi, schemaType } from "../../../scripts/render.mjs";

const clientDir = join(import.meta.dirname, "../../..");
const render = renderApi as (root: string) => { source: string; warnings: string[] };
const toType = schemaType as (schema: unknown) => string;

test("src/generated/api.ts is current (else: npm run generate in client/)", () => {
  const { source } = render(join(clientDir, ".."));
  assert.equal(readFileSync(join(clientDir, "src/generated/api.ts"), "utf8"), source);
});

test("a schema change changes the generated type, so the check above can fail", () => {
  const before = toType({
    type: "object",
    properties: { a: { type: "string" } },
    required: ["a"],
    additionalProperties: false,
  });
  const after = toType({
    type: "object",
    properties: { a: { type: "number" } },
    required: ["a"],
    additionalProperties: false,
  });
  assert.notEqual(before, after);
  assert.match(after, /a: number;/);
});

test("every callable of the API reference has a function, and outputs come from the handlers", async () => {
  const reference = JSON.parse(readFileSync(join(clientDir, "../docs/api-reference.json"), "utf8")) as {
    functions: { name: string; kind: string }[];
  };
  const api = (await import("../../src/generated/api.js")) as Record<string, unknown>;
  const names = reference.functions.filter((f) => f.kind === "callable").map((f) => f.name);
  assert.ok(names.length > 40);
  for (const name of names) assert.equal(typeof api[name], "function", name);
  assert.deepEqual(Object.keys(api.CALLABLES as object).sort(), [...names].sort());
  const source = readFileSync(join(clientDir, "src/generated/api.ts"), "utf8");
  // Handler return types, not hand-written: the session issue and the MFA enrolment.
  assert.match(
    source,
    /export type StartSessionOutput = \{\n  sessionId: string;\n  refreshToken: string;\n  customToken: string;/,
  );
  assert.match(
    source,
    /export type EnrollMfaOutput = \{\n  otpauthUri: string;\n  secret: string;\n  qrCodeSvg: string;/,
  );
});

test("error reasons are gathered from the server source, with their codes and detail fields", () => {
  const source = readFileSync(join(clientDir, "src/generated/api.ts"), "utf8");
  for (const [reason, code] of [
    ["mfa-required", "failed-precondition"],
    ["session-revoked", "unauthenticated"],
    ["refresh-token-reused", "unauthenticated"],
    ["idempotency-request-in-flight", "aborted"],
    ["mfa-locked-out", "resource-exhausted"],
    ["content-type-not-allowed", "invalid-argument"],
  ]) {
    assert.match(source, new RegExp(`"${reason}": \\{ code: [^;]*"${code}"`), reason);
  }
  assert.match(
    source,
    /"role-in-use": \{ code: [^;]*; details: \{ inheritedBy\?: Array<string>; members\?: number; \} \}/,
  );
});
