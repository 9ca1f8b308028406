/**
 * docs/env-reference.md must match the params config.ts declares: it is rendered again in
 * memory and compared. A param added or changed without `node scripts/gen-env-reference.mjs`
 * fails here.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { params, secrets } from "../../src/platform/config";
import { paramReference, renderEnvReference } from "../../src/platform/config-reference";

const file = join(__dirname, "../../../docs/env-reference.md");
const checkedIn = (): string => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
};

describe("env/params reference", () => {
  it("lists every param and secret config.ts declares, with int ranges", () => {
    const rows = paramReference();
    expect(rows).toHaveLength(Object.keys(params).length + Object.keys(secrets).length);
    expect(rows.find((r) => r.name === "IDEMPOTENCY_LOCK_SECONDS")).toEqual({
      name: "IDEMPOTENCY_LOCK_SECONDS",
      type: "integer",
      default: "60",
      range: "1–3600",
      description: "Lease on a running idempotency key; after it a retry may take over",
    });
    expect(rows.find((r) => r.name === "WEBHOOK_ALLOW_HTTP")).toMatchObject({ type: "boolean", default: "false" });
    expect(rows.find((r) => r.name === "OPERATOR_TOKEN")).toMatchObject({ type: "secret" });
  });

  it("is current in docs/env-reference.md", () => {
    if (checkedIn() !== renderEnvReference()) {
      throw new Error("docs/env-reference.md is stale: run `node scripts/gen-env-reference.mjs` and commit the result");
    }
  });

  it("changes when a param changes, so the check above can fail", () => {
    const rows = paramReference();
    const changed = rows.map((r) => (r.name === "IDEMPOTENCY_LOCK_SECONDS" ? { ...r, default: "61" } : r));
    expect(renderEnvReference(changed)).not.toBe(renderEnvReference(rows));
  });
});
