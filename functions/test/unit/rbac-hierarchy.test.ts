import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  BUILT_IN_ROLE_DEFINITIONS,
  BUILT_IN_ROLES,
  PERMISSIONS,
  type BuiltInRole,
  type Permission,
  type RoleDefinition,
} from "../../src/rbac/permissions";
import { ancestors, closure, RoleGraphError, validateRoleGraph, type CustomRoles } from "../../src/rbac/resolve";

const role = (permissions: Permission[], inherits: string[] = []): RoleDefinition => ({ permissions, inherits });

function graphReason(custom: CustomRoles): string | undefined {
  try {
    validateRoleGraph(custom);
    return undefined;
  } catch (error) {
    if (error instanceof RoleGraphError) return error.reason;
    throw error;
  }
}

describe("the permission catalogue", () => {
  /** Source files that can consume a permission: every module but the catalogue, and the rules. */
  function consumers(): string[] {
    const src = join(__dirname, "../../src");
    const files = (readdirSync(src, { recursive: true }) as string[])
      .filter((f) => f.endsWith(".ts") && f !== join("rbac", "permissions.ts"))
      .map((f) => readFileSync(join(src, f), "utf8"));
    const rules = ["firestore.rules", "storage.rules"].map((f) => readFileSync(join(__dirname, "../../..", f), "utf8"));
    return [...files, ...rules];
  }

  it("has no permission that nothing requires", () => {
    const texts = consumers();
    const unused = PERMISSIONS.filter(
      (p) => !texts.some((text) => text.includes(`"${p}"`) || text.includes(`// ${p} `)),
    );
    expect(unused).toEqual([]);
  });
});

describe("built-in roles against every permission", () => {
  // Each cell written out by hand: a change to the role table must change this table too.
  const Y = true;
  const N = false;
  const table: Record<Permission, Record<BuiltInRole, boolean>> = {
    "tenant:read": { owner: Y, admin: Y, member: Y, viewer: Y },
    "tenant:manage": { owner: Y, admin: N, member: N, viewer: N },
    "tenant:update": { owner: Y, admin: Y, member: N, viewer: N },
    "members:read": { owner: Y, admin: Y, member: Y, viewer: Y },
    "members:invite": { owner: Y, admin: Y, member: N, viewer: N },
    "members:remove": { owner: Y, admin: Y, member: N, viewer: N },
    "roles:read": { owner: Y, admin: Y, member: Y, viewer: Y },
    "roles:manage": { owner: Y, admin: Y, member: N, viewer: N },
    "payments:read": { owner: Y, admin: Y, member: Y, viewer: Y },
    "payments:create": { owner: Y, admin: Y, member: Y, viewer: N },
    "webhooks:read": { owner: Y, admin: Y, member: N, viewer: N },
    "webhooks:manage": { owner: Y, admin: Y, member: N, viewer: N },
    "storage:read": { owner: Y, admin: Y, member: Y, viewer: Y },
    "storage:write": { owner: Y, admin: Y, member: Y, viewer: N },
    "jobs:read": { owner: Y, admin: Y, member: N, viewer: N },
    "jobs:manage": { owner: Y, admin: Y, member: N, viewer: N },
  };

  it("has a row for every permission in the catalogue and nothing else", () => {
    expect(Object.keys(table).sort()).toEqual([...PERMISSIONS].sort());
  });

  const cells = PERMISSIONS.flatMap((permission) =>
    BUILT_IN_ROLES.map((r) => [r, permission, table[permission]?.[r]] as const),
  );
  it.each(cells)("%s has %s: %s", (r, permission, expected) => {
    expect(closure([r]).has(permission)).toBe(expected);
  });
});

describe("role hierarchy closure", () => {
  it("orders the built-in roles owner > admin > member > viewer", () => {
    expect([...ancestors(["owner"])].sort()).toEqual(["admin", "member", "owner", "viewer"]);
    expect([...ancestors(["admin"])].sort()).toEqual(["admin", "member", "viewer"]);
    expect([...ancestors(["member"])].sort()).toEqual(["member", "viewer"]);
    expect([...ancestors(["viewer"])]).toEqual(["viewer"]);
  });

  it("gives each higher built-in role a strict superset of the one below", () => {
    for (let i = 0; i + 1 < BUILT_IN_ROLES.length; i++) {
      const higher = closure([BUILT_IN_ROLES[i]]);
      const lower = closure([BUILT_IN_ROLES[i + 1]]);
      expect([...lower].every((p) => higher.has(p))).toBe(true);
      expect(higher.size).toBeGreaterThan(lower.size);
    }
  });

  it("unites both branches of a diamond and counts the shared ancestor once", () => {
    // top inherits left and right, which both inherit base (and base inherits viewer).
    const custom: CustomRoles = {
      base: role(["webhooks:read"], ["viewer"]),
      left: role(["storage:write"], ["base"]),
      right: role(["webhooks:manage"], ["base"]),
      top: role([], ["left", "right"]),
    };
    expect(graphReason(custom)).toBeUndefined();
    expect([...closure(["top"], custom)].sort()).toEqual(
      [...BUILT_IN_ROLE_DEFINITIONS.viewer.permissions, "webhooks:read", "storage:write", "webhooks:manage"].sort(),
    );
    expect([...ancestors(["top"], custom)].sort()).toEqual(["base", "left", "right", "top", "viewer"]);
    expect(closure(["left"], custom).has("webhooks:manage")).toBe(false);
  });

  it("follows a deep chain to its root", () => {
    const custom: Record<string, RoleDefinition> = { r0: role(["webhooks:manage"]) };
    for (let i = 1; i <= 200; i++) custom[`r${i}`] = role([], [`r${i - 1}`]);
    expect(graphReason(custom)).toBeUndefined();
    expect([...closure(["r200"], custom)]).toEqual(["webhooks:manage"]);
    expect(ancestors(["r200"], custom).size).toBe(201);
  });

  it("unites the closures of several roles held at once", () => {
    const custom: CustomRoles = { auditor: role(["webhooks:manage"]) };
    const granted = closure(["viewer", "auditor"], custom);
    expect(granted.has("webhooks:manage")).toBe(true);
    expect(granted.has("payments:read")).toBe(true);
    expect(granted.has("payments:create")).toBe(false);
  });

  it("grants nothing for a role that no longer exists", () => {
    expect(closure(["deleted-role"]).size).toBe(0);
    expect([...closure(["deleted-role", "viewer"])].sort()).toEqual(
      [...BUILT_IN_ROLE_DEFINITIONS.viewer.permissions].sort(),
    );
  });

  it("custom roles can inherit built-in roles", () => {
    const custom: CustomRoles = { billing: role(["webhooks:read"], ["member"]) };
    const granted = closure(["billing"], custom);
    expect(granted.has("payments:create")).toBe(true);
    expect(granted.has("webhooks:read")).toBe(true);
    expect(granted.has("roles:manage")).toBe(false);
  });
});

describe("role graph validation", () => {
  it("rejects a role inheriting itself", () => {
    expect(graphReason({ a: role([], ["a"]) })).toBe("cycle");
  });

  it("rejects a two-role cycle", () => {
    expect(graphReason({ a: role([], ["b"]), b: role([], ["a"]) })).toBe("cycle");
  });

  it("rejects a long cycle hidden behind a diamond and names the path", () => {
    const custom: CustomRoles = {
      top: role([], ["left", "right"]),
      left: role([], ["base"]),
      right: role([], ["base"]),
      base: role([], ["deep1"]),
      deep1: role([], ["deep2"]),
      deep2: role([], ["top"]),
    };
    expect(() => validateRoleGraph(custom)).toThrow(/cycle: .*->/);
    expect(graphReason(custom)).toBe("cycle");
  });

  it("terminates the closure even over a cyclic graph (stored data is never trusted)", () => {
    const custom: CustomRoles = { a: role(["webhooks:manage"], ["b"]), b: role(["storage:write"], ["a"]) };
    expect([...closure(["a"], custom)].sort()).toEqual(["storage:write", "webhooks:manage"]);
  });

  it("rejects an unknown parent", () => {
    expect(graphReason({ a: role([], ["ghost"]) })).toBe("unknown-parent");
  });

  it("rejects an unknown permission", () => {
    expect(graphReason({ a: role(["payments:delete" as Permission]) })).toBe("unknown-permission");
  });

  it("accepts a diamond (shared ancestors are not cycles)", () => {
    expect(
      graphReason({ top: role([], ["l", "r"]), l: role([], ["b"]), r: role([], ["b"]), b: role([], ["viewer"]) }),
    ).toBeUndefined();
  });
});
