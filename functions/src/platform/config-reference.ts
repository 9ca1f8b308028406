/**
 * The env/params reference (docs/env-reference.md), rendered from the params and secrets that
 * config.ts declares at run time, so a param added there is documented by regenerating:
 * `node scripts/gen-env-reference.mjs` (test/unit/envref.test.ts fails when the file is stale).
 */
import { params, secrets } from "./config";

export interface ParamReference {
  name: string;
  type: "integer" | "boolean" | "string" | "list" | "secret";
  default?: string;
  range?: string;
  description: string;
}

const TYPES: Record<string, ParamReference["type"]> = {
  IntParam: "integer",
  BooleanParam: "boolean",
  StringParam: "string",
  ListParam: "list",
};

type AnyParam = { name: string; options?: { default?: unknown; description?: string }; constructor: { name: string } };

/** Every param (in declaration order) and then every secret. */
export function paramReference(): ParamReference[] {
  const rows: ParamReference[] = Object.values(params).map((entry) => {
    const setting = "param" in entry ? entry : undefined;
    const param = (setting ? setting.param : entry) as unknown as AnyParam;
    const value = param.options?.default;
    const range = setting ? `${setting.min}–${setting.max}` : undefined;
    let description = param.options?.description ?? "";
    // Int settings carry their range in the CLI prompt's description; here it has a column.
    if (range && description.endsWith(` (${range})`)) description = description.slice(0, -(range.length + 3));
    return {
      name: param.name,
      type: TYPES[param.constructor.name] ?? "string",
      default: value === undefined ? undefined : Array.isArray(value) ? value.join(", ") : String(value),
      range,
      description,
    };
  });
  for (const secret of Object.values(secrets)) {
    rows.push({
      name: secret.name,
      type: "secret",
      description:
        "Secret Manager secret: `firebase functions:secrets:set " + secret.name + "` (see operations.md §1.3)",
    });
  }
  return rows;
}

const cell = (text: string): string => text.replace(/\|/g, "\\|");

/** docs/env-reference.md. */
export function renderEnvReference(rows: ParamReference[] = paramReference()): string {
  const lines = [
    "# Env and params reference",
    "",
    "<!-- Generated from functions/src/platform/config.ts by `node scripts/gen-env-reference.mjs`; do not edit. -->",
    "",
    "Every deploy-time parameter and secret. Set params in `functions/.env.<project-id>` (or answer",
    "the CLI's prompts at deploy); integer params are checked against their range on first use, so a",
    "value out of range fails the first request loudly. Emulator hosts (`FIRESTORE_EMULATOR_HOST`,",
    "`FIREBASE_AUTH_EMULATOR_HOST`, `CLOUD_TASKS_EMULATOR_HOST`, `PUBSUB_EMULATOR_HOST`) are set by",
    "the local stack, never in a deployment.",
    "",
    "| name | type | default | range | description |",
    "| --- | --- | --- | --- | --- |",
    ...rows.map(
      (r) =>
        `| \`${r.name}\` | ${r.type} | ${r.default === undefined ? "–" : `\`${cell(r.default)}\``} | ${r.range ?? "–"} | ${cell(r.description)} |`,
    ),
    "",
  ];
  return lines.join("\n");
}
