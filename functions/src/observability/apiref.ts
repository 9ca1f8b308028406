/**
 * The API reference, generated from what the codebase exports: every function made by the
 * platform wrappers carries a spec (name, description, auth, permission, zod input/output),
 * and zod 4 turns each schema into JSON Schema. `scripts/gen-api-reference.mjs` writes the
 * result to docs/; a unit test regenerates it in memory and fails when the checked-in copy is
 * stale, so the reference cannot drift from the code.
 *
 * Not imported by any function; only the script and the test load it.
 */
import type { z } from "zod";
import { zodToJsonSchema } from "zod-to-json-schema";
import { specOf, type FunctionSpec } from "../platform/spec";
import { acceptsNoArguments } from "../platform/validation";
import type { PermissionRequirement } from "../rbac/effective";
import { EVENT_CATALOGUE } from "../webhooks/events";

export interface ApiFunction {
  name: string;
  kind: FunctionSpec["kind"];
  description: string;
  auth: FunctionSpec["auth"];
  tenant: boolean;
  permission?: PermissionRequirement;
  requireMfa: boolean;
  sensitive: boolean;
  platformAdmin: boolean;
  idempotent: FunctionSpec["idempotent"] | false;
  /** Every input field is optional: the call may send no data, or `null`. */
  noArguments?: true;
  methods?: readonly string[];
  input?: unknown;
  output?: unknown;
}

/** An event delivered to tenants' webhook endpoints: `{type, timestamp, data}` with `data` as below. */
export interface ApiEvent {
  type: string;
  description: string;
  payload: unknown;
}

export interface ApiReference {
  generatedFrom: string;
  functions: ApiFunction[];
  events: ApiEvent[];
}

function jsonSchema(schema: z.ZodType | undefined, io: "input" | "output"): unknown {
  if (!schema) return undefined;
  // "any" for parts JSON Schema cannot express (transforms, custom refinements): the reference
  // still shows the shape a client sends, and the server's zod parse stays the authority.
  return inputJsonSchema(schema, io);
}

/**
 * The JSON Schema of a zod schema, as a client sees it: `io: "input"` describes what may be sent
 * (before transforms and defaults), `"output"` what comes back. No `$ref`s, so each function's
 * entry stands alone.
 */
export function inputJsonSchema(schema: z.ZodType, io: "input" | "output" = "input"): Record<string, unknown> {
  // zod-to-json-schema's generic signature recurses through the schema type; the erased call
  // returns the same JSON.
  const convert = zodToJsonSchema as (schema: unknown, options: Record<string, unknown>) => unknown;
  const out = convert(schema, {
    $refStrategy: "none",
    effectStrategy: io === "input" ? "input" : "any",
    pipeStrategy: io,
  }) as Record<string, unknown>;
  delete out.$schema;
  return out;
}

/** The reference for every exported function that carries a spec, sorted by kind then name. */
export function buildApiReference(exported: Record<string, unknown>): ApiReference {
  const order: Record<FunctionSpec["kind"], number> = { callable: 0, https: 1, task: 2 };
  const functions = Object.entries(exported)
    .map(([exportName, fn]) => ({ exportName, spec: specOf(fn) }))
    .filter((e): e is { exportName: string; spec: FunctionSpec } => e.spec !== undefined)
    .map(({ exportName, spec }) => {
      if (spec.name !== exportName) throw new Error(`export ${exportName} has spec name ${spec.name}`);
      return spec;
    })
    .sort((a, b) => order[a.kind] - order[b.kind] || a.name.localeCompare(b.name))
    .map((spec): ApiFunction => ({
      name: spec.name,
      kind: spec.kind,
      description: spec.description,
      auth: spec.auth,
      tenant: spec.tenant,
      ...(spec.permission ? { permission: spec.permission } : {}),
      requireMfa: spec.requireMfa ?? false,
      sensitive: spec.sensitive ?? false,
      platformAdmin: spec.platformAdmin ?? false,
      idempotent: spec.idempotent ?? false,
      ...(spec.kind === "callable" && spec.input && acceptsNoArguments(spec.input)
        ? { noArguments: true as const }
        : {}),
      ...(spec.methods ? { methods: spec.methods } : {}),
      ...(spec.input ? { input: jsonSchema(spec.input, "input") } : {}),
      ...(spec.output ? { output: jsonSchema(spec.output, "output") } : {}),
    }));
  const events = [...EVENT_CATALOGUE.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([type, entry]) => ({ type, description: entry.description, payload: jsonSchema(entry.payload, "output") }));
  return { generatedFrom: "functions/src/index.ts", functions, events };
}

function permissionText(p: PermissionRequirement | undefined): string {
  if (!p) return "—";
  if (typeof p === "string") return `\`${p}\``;
  if ("anyOf" in p) return `any of ${p.anyOf.map((x) => `\`${x}\``).join(", ")}`;
  return `all of ${p.allOf.map((x) => `\`${x}\``).join(", ")}`;
}

function idempotencyText(mode: ApiFunction["idempotent"]): string {
  if (mode === "required") return "required (`idempotencyKey` / `Idempotency-Key`)";
  if (mode === true || mode === "optional") return "optional (`idempotencyKey` / `Idempotency-Key`)";
  return "—";
}

function anchor(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9-]/g, "");
}

const KIND_TITLE: Record<FunctionSpec["kind"], string> = {
  callable: "Callable functions",
  https: "HTTPS endpoints",
  task: "Task-queue functions (internal)",
};

const KIND_INTRO: Record<FunctionSpec["kind"], string> = {
  callable:
    'Call with the Firebase client SDK: `httpsCallable(functions, name)(data)`. Errors arrive as `FunctionsError` with `code` and `details` (see docs/client-guide.md). A function marked "no arguments" has only optional fields and may be called as `httpsCallable(functions, name)()` (the SDK sends `data: null`). Keys named `__proto__`, `constructor` or `prototype` are refused at any depth.',
  https:
    "Plain HTTPS. The input is the JSON body (POST/PUT/PATCH) or the query string (GET/DELETE); errors are RFC 9457 `application/problem+json`.",
  task: "Dispatched by Cloud Tasks only (OIDC-authenticated by the platform); clients never call them. The queue is named after the function.",
};

/** Renders the reference as Markdown. */
export function renderApiReferenceMarkdown(ref: ApiReference): string {
  const lines: string[] = [
    "# API reference",
    "",
    "<!-- Generated by scripts/gen-api-reference.mjs from the zod schemas in functions/src. Do not edit by hand: run `node scripts/gen-api-reference.mjs`. -->",
    "",
    "Every function the codebase exports, with its access rules and its input and output as JSON Schema (draft 2020-12).",
    "Bad input is answered with `invalid-argument` and `details.fields` naming each offending field.",
    "",
  ];
  for (const kind of ["callable", "https", "task"] as const) {
    const fns = ref.functions.filter((f) => f.kind === kind);
    if (fns.length === 0) continue;
    lines.push(`## ${KIND_TITLE[kind]}`, "", KIND_INTRO[kind], "");
    lines.push("| function | auth | tenant | permission | description |", "| --- | --- | --- | --- | --- |");
    for (const f of fns) {
      lines.push(
        `| [\`${f.name}\`](#${anchor(f.name)}) | ${f.auth} | ${f.tenant ? "yes" : "no"} | ${permissionText(f.permission)} | ${f.description.replace(/\|/g, "\\|")} |`,
      );
    }
    lines.push("");
    for (const f of fns) {
      lines.push(`### ${f.name}`, "", f.description, "");
      const facts: string[] = [`- auth: ${f.auth}`, `- acts in the caller's tenant: ${f.tenant ? "yes" : "no"}`];
      facts.push(`- permission: ${permissionText(f.permission)}`);
      if (f.methods) facts.push(`- methods: ${f.methods.join(", ")}`);
      facts.push(`- idempotency: ${idempotencyText(f.idempotent)}`);
      if (f.noArguments) facts.push("- no arguments: every field is optional; `data` may be omitted or `null`");
      if (f.requireMfa) facts.push("- requires a session verified with a second factor (`mfa-required` otherwise)");
      if (f.sensitive) facts.push("- sensitive: the ID token is checked for revocation and the session must be active");
      if (f.platformAdmin) facts.push("- platform admin only");
      lines.push(...facts, "");
      if (f.input !== undefined) {
        lines.push("Input:", "", "```json", JSON.stringify(f.input, null, 2), "```", "");
      }
      if (f.output !== undefined) {
        lines.push("Output:", "", "```json", JSON.stringify(f.output, null, 2), "```", "");
      }
    }
  }
  lines.push(
    "## Webhook events",
    "",
    'Delivered to the tenant\'s subscribed webhook endpoints, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`). The body is `{"type", "timestamp", "data"}`; `data` follows the schema of its type.',
    "",
    "| event | description |",
    "| --- | --- |",
  );
  for (const e of ref.events) lines.push(`| \`${e.type}\` | ${e.description.replace(/\|/g, "\\|")} |`);
  lines.push("");
  for (const e of ref.events) {
    lines.push(
      `### ${e.type}`,
      "",
      e.description,
      "",
      "Payload (`data`):",
      "",
      "```json",
      JSON.stringify(e.payload, null, 2),
      "```",
      "",
    );
  }
  return `${lines.join("\n").trimEnd()}\n`;
}

/** Renders the reference as JSON (for tooling). */
export function renderApiReferenceJson(ref: ApiReference): string {
  return `${JSON.stringify(ref, null, 2)}\n`;
}
