/**
 * Effective-permission resolution: the closure of a role set over the role hierarchy (built-in
 * roles plus a tenant's custom roles), validated for cycles and unknown parents.
 */
import {
  BUILT_IN_ROLES,
  BUILT_IN_ROLE_DEFINITIONS,
  isBuiltInRole,
  isPermission,
  type Permission,
  type RoleDefinition,
} from "./permissions";

export class RoleGraphError extends Error {
  constructor(
    message: string,
    readonly reason: "cycle" | "unknown-parent" | "unknown-permission",
  ) {
    super(message);
    this.name = "RoleGraphError";
  }
}

/** Custom role definitions of one tenant, keyed by role id. */
export type CustomRoles = Readonly<Record<string, RoleDefinition>>;

/**
 * The definition of `role`, built-in or custom. Role names come from callers, so the lookup
 * is own-property only: "constructor" or "toString" must be unknown, not Object's.
 */
export function definition(role: string, custom: CustomRoles): RoleDefinition | undefined {
  if (isBuiltInRole(role)) return BUILT_IN_ROLE_DEFINITIONS[role];
  return Object.hasOwn(custom, role) ? custom[role] : undefined;
}

/**
 * Checks a whole role graph: every parent exists, every permission is in the catalogue, and no
 * role inherits itself through any path. Throws `RoleGraphError` naming the offending role.
 */
export function validateRoleGraph(custom: CustomRoles): void {
  for (const [id, def] of Object.entries(custom)) {
    for (const p of def.permissions) {
      if (!isPermission(p)) throw new RoleGraphError(`Role ${id} grants unknown permission ${p}`, "unknown-permission");
    }
    for (const parent of def.inherits) {
      if (!definition(parent, custom)) {
        throw new RoleGraphError(`Role ${id} inherits unknown role ${parent}`, "unknown-parent");
      }
    }
  }
  // Depth-first search with colours: grey = on the current path, so meeting grey is a cycle.
  const colour = new Map<string, "grey" | "black">();
  const visit = (role: string, path: string[]): void => {
    const state = colour.get(role);
    if (state === "black") return;
    if (state === "grey") {
      throw new RoleGraphError(`Role inheritance cycle: ${[...path, role].join(" -> ")}`, "cycle");
    }
    colour.set(role, "grey");
    for (const parent of definition(role, custom)?.inherits ?? []) visit(parent, [...path, role]);
    colour.set(role, "black");
  };
  for (const id of Object.keys(custom)) visit(id, []);
}

/**
 * The set of permissions granted by `roles` and everything they inherit. Unknown role names
 * grant nothing (a member may still carry a role that was since deleted).
 */
export function closure(roles: readonly string[], custom: CustomRoles = {}): Set<Permission> {
  const granted = new Set<Permission>();
  const seen = new Set<string>();
  const stack = [...roles];
  while (stack.length > 0) {
    const role = stack.pop() as string;
    if (seen.has(role)) continue; // also makes a cyclic graph terminate
    seen.add(role);
    const def = definition(role, custom);
    if (!def) continue;
    def.permissions.forEach((p) => granted.add(p));
    stack.push(...def.inherits);
  }
  return granted;
}

/**
 * The roles (built-in and custom) whose ancestry includes one of `required`: everyone an MFA
 * policy on `required` covers. Stored on the tenant as `mfaPolicyRoles` for security rules,
 * which cannot walk the role graph.
 */
export function rolesCovering(required: readonly string[], custom: CustomRoles = {}): string[] {
  if (required.length === 0) return [];
  return [...BUILT_IN_ROLES, ...Object.keys(custom)]
    .filter((role) => [...ancestors([role], custom)].some((a) => required.includes(a)))
    .sort();
}

/** Every role reachable from `roles`, including themselves. */
export function ancestors(roles: readonly string[], custom: CustomRoles = {}): Set<string> {
  const seen = new Set<string>();
  const stack = [...roles];
  while (stack.length > 0) {
    const role = stack.pop() as string;
    if (seen.has(role)) continue;
    seen.add(role);
    stack.push(...(definition(role, custom)?.inherits ?? []));
  }
  return seen;
}
