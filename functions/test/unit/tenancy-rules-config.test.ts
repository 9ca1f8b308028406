import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BUILT_IN_ROLES } from "../../src/rbac/permissions";
import { ancestors } from "../../src/rbac/resolve";

const ROOT = join(__dirname, "../../..");
const firestoreRules = readFileSync(join(ROOT, "firestore.rules"), "utf8");
const storageRules = readFileSync(join(ROOT, "storage.rules"), "utf8");

function block(source: string, name: string): string {
  const match = source.match(new RegExp(`// ${name}:begin([\\s\\S]*?)// ${name}:end`));
  if (!match) throw new Error(`${name} block not found`);
  return match[1];
}

/** The `rolesAtLeast` literal map of a rules file, as role → roles that satisfy it. */
function rolesAtLeast(source: string): Record<string, string[]> {
  const body = block(source, "role-hierarchy");
  const out: Record<string, string[]> = {};
  for (const m of body.matchAll(/'(\w+)':\s*\[([^\]]*)\]/g)) {
    out[m[1]] = [...m[2].matchAll(/'(\w+)'/g)].map((r) => r[1]).sort();
  }
  return out;
}

describe("rules files stay in step with the code", () => {
  it("both rules files encode the built-in role hierarchy of rbac/permissions.ts", () => {
    const expected: Record<string, string[]> = {};
    for (const role of BUILT_IN_ROLES) {
      expected[role] = BUILT_IN_ROLES.filter((holder) => ancestors([holder]).has(role)).sort();
    }
    expect(rolesAtLeast(firestoreRules)).toEqual(expected);
    expect(rolesAtLeast(storageRules)).toEqual(expected);
  });
});
