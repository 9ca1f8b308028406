/**
 * firestore.rules carries its own copy of the built-in role hierarchy (rules cannot import
 * code). This test parses the helper between the `role-hierarchy:begin/end` markers and checks
 * it against BUILT_IN_ROLE_DEFINITIONS, and checks that every rule annotated with a permission
 * gates it on the lowest built-in role that holds that permission.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BUILT_IN_ROLES, isPermission, type BuiltInRole, type Permission } from "../../src/rbac/permissions";
import { ancestors, closure } from "../../src/rbac/resolve";

const RULES_PATH = join(__dirname, "../../../firestore.rules");
const rules = readFileSync(RULES_PATH, "utf8");

/** The `rolesAtLeast` map from the rules: role → the roles that satisfy "at least role". */
function parseHierarchy(text: string): Record<string, string[]> {
  const block = /role-hierarchy:begin([\s\S]*?)role-hierarchy:end/.exec(text)?.[1];
  if (!block) throw new Error("firestore.rules has no role-hierarchy:begin/end block");
  const fn = /function\s+rolesAtLeast\s*\(\s*role\s*\)\s*\{([\s\S]*)\}/.exec(block)?.[1];
  if (!fn) throw new Error("the role-hierarchy block has no rolesAtLeast(role) function");
  const entries = [...fn.matchAll(/'([^']+)'\s*:\s*\[([^\]]*)\]/g)];
  if (entries.length === 0) throw new Error("rolesAtLeast has no 'role': [...] entries");
  const map: Record<string, string[]> = {};
  for (const [, key, list] of entries) {
    if (key in map) throw new Error(`rolesAtLeast lists '${key}' twice`);
    map[key] = [...list.matchAll(/'([^']+)'/g)].map((m) => m[1]);
  }
  return map;
}

/** The same relation from the code: the built-in roles whose closure includes `role`. */
function codeRolesAtLeast(role: BuiltInRole): string[] {
  return BUILT_IN_ROLES.filter((r) => ancestors([r]).has(role));
}

/** The lowest built-in role holding `permission` (roles are a chain, viewer lowest). */
function lowestRoleWith(permission: Permission): BuiltInRole | undefined {
  return [...BUILT_IN_ROLES].reverse().find((r) => closure([r]).has(permission));
}

describe("the role hierarchy in firestore.rules", () => {
  const hierarchy = parseHierarchy(rules);

  it("names exactly the built-in roles", () => {
    expect(Object.keys(hierarchy).sort()).toEqual([...BUILT_IN_ROLES].sort());
    for (const satisfying of Object.values(hierarchy)) {
      for (const r of satisfying) expect(BUILT_IN_ROLES).toContain(r);
    }
  });

  it.each(BUILT_IN_ROLES.map((r) => [r]))("agrees with the code on who is at least %s", (role) => {
    expect([...hierarchy[role]].sort()).toEqual(codeRolesAtLeast(role).sort());
  });

  it("is parsed for real (a different map would be caught)", () => {
    const tampered = rules.replace(/'admin'\s*:\s*\[[^\]]*\]/, "'admin': ['owner', 'admin', 'member']");
    expect([...parseHierarchy(tampered).admin].sort()).not.toEqual(codeRolesAtLeast("admin").sort());
  });
});

describe("permission-annotated rules in firestore.rules", () => {
  // e.g. "// webhooks:read (admin and up)." followed by "allow read: if hasRole(tid, 'admin');"
  const annotated = [
    ...rules.matchAll(
      /\/\/\s*([a-z]+:[a-z]+)\s*\((\w+) and up\)[^\n]*\n(?:\s*\/\/[^\n]*\n)*\s*allow read: if hasRole\(tid, '(\w+)'\)/g,
    ),
  ].map(([, permission, commentRole, ruleRole]) => ({ permission, commentRole, ruleRole }));

  it("has annotated rules to check", () => {
    expect(annotated.length).toBeGreaterThanOrEqual(3);
  });

  it("gates each annotated permission on the lowest built-in role that holds it", () => {
    for (const { permission, commentRole, ruleRole } of annotated) {
      expect(isPermission(permission)).toBe(true);
      expect({ permission, ruleRole }).toEqual({ permission, ruleRole: commentRole });
      expect({ permission, role: ruleRole }).toEqual({
        permission,
        role: lowestRoleWith(permission as Permission),
      });
    }
  });
});
