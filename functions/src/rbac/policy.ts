/**
 * The rules every role change must obey, as pure functions over a role graph (no Firestore), so
 * that each rule is unit-testable and the transactional service stays a thin read-check-write.
 *
 * One principle covers escalation: a caller may only touch what lies inside their own permission
 * set. They may not create or edit a role whose effective permissions (after or before the edit)
 * exceed theirs, delete such a role, assign such a role, or change the roles of a member who
 * already holds more than they do.
 */
import { AppError, alreadyExists, failedPrecondition, notFound, resourceExhausted } from "../platform/errors";
import { BUILT_IN_ROLES, isBuiltInRole, PERMISSIONS, type Permission, type RoleDefinition } from "./permissions";
import { ancestors, closure, RoleGraphError, validateRoleGraph, type CustomRoles } from "./resolve";

/** Machine-readable reasons (`details.reason`) of every RBAC rejection. */
export type RbacReason =
  | "cycle"
  | "unknown-parent"
  | "unknown-permission"
  | "reserved-role-id"
  | "unknown-role"
  | "escalation"
  | "outranked"
  | "last-owner"
  | "role-in-use"
  | "too-many-roles";

/**
 * Custom roles per tenant. They are read in one query and cached per configVersion; the bound
 * keeps that query (and the closure) small.
 */
export const MAX_CUSTOM_ROLES = 100;

/** A member carries at most this many roles (they travel in custom claims, limit 1,000 bytes). */
export const MAX_ROLES_PER_MEMBER = 10;

/** True when `id` is, or case-insensitively looks like, a built-in role name. */
export function isReservedRoleId(id: string): boolean {
  // "Owner" next to "owner" would read as the same role in a UI and in rules diffs.
  return (BUILT_IN_ROLES as readonly string[]).includes(id.toLowerCase());
}

/** Permissions in `required` that `held` lacks, in catalogue order. */
export function missingPermissions(required: ReadonlySet<Permission>, held: ReadonlySet<Permission>): Permission[] {
  return PERMISSIONS.filter((p) => required.has(p) && !held.has(p));
}

/** Sorts permissions into catalogue order (stable output for clients and tests). */
export function sortPermissions(permissions: Iterable<Permission>): Permission[] {
  const set = new Set(permissions);
  return PERMISSIONS.filter((p) => set.has(p));
}

function invalid(message: string, reason: RbacReason, fields?: Record<string, string[]>): AppError {
  return new AppError("invalid-argument", message, { reason, ...(fields ? { fields } : {}) });
}

/** Throws `permission-denied` (reason `escalation`) unless `held` covers `required`. */
export function assertWithin(
  required: ReadonlySet<Permission>,
  held: ReadonlySet<Permission>,
  what: string,
  reason: "escalation" | "outranked" = "escalation",
): void {
  const missing = missingPermissions(required, held);
  if (missing.length === 0) return;
  // The caller is an authenticated member with roles:manage asking about their own reach, so
  // naming the excess permissions helps them and reveals nothing they cannot already read.
  throw new AppError("permission-denied", `${what} needs permissions you do not have: ${missing.join(", ")}.`, {
    reason,
    permissions: missing,
  });
}

/** Maps a role-graph validation failure to `invalid-argument` with its reason and field. */
function graphError(error: RoleGraphError, field: string): AppError {
  return invalid(error.message, error.reason, { [field]: [error.message] });
}

export interface RoleInput {
  permissions: readonly string[];
  inherits: readonly string[];
  description?: string;
}

/** Checks each listed permission against the catalogue (field errors point at the entry). */
function assertKnownPermissions(permissions: readonly string[]): asserts permissions is readonly Permission[] {
  const fields: Record<string, string[]> = {};
  permissions.forEach((p, i) => {
    if (!(PERMISSIONS as readonly string[]).includes(p)) fields[`permissions.${i}`] = [`Unknown permission "${p}"`];
  });
  const bad = Object.keys(fields);
  if (bad.length > 0) {
    const names = bad.map((k) => fields[k][0].slice("Unknown permission ".length)).join(", ");
    throw invalid(`Unknown permission(s): ${names}.`, "unknown-permission", fields);
  }
}

/** Throws unless `roleId` may name a custom role. */
export function assertCustomRoleId(roleId: string): void {
  if (isReservedRoleId(roleId)) {
    throw invalid(`"${roleId}" is a built-in role name and cannot name a custom role.`, "reserved-role-id", {
      roleId: ["reserved for a built-in role"],
    });
  }
}

/**
 * Plans creating (`mode: "create"`) or replacing (`"update"`) custom role `roleId`: validates
 * the id, the permissions, the resulting graph (parents exist, no cycle) and escalation, and
 * returns the tenant's custom roles after the change.
 */
export function planRoleUpsert(
  current: CustomRoles,
  roleId: string,
  input: RoleInput,
  caller: ReadonlySet<Permission>,
  mode: "create" | "update",
): CustomRoles {
  assertCustomRoleId(roleId);
  const exists = Object.prototype.hasOwnProperty.call(current, roleId);
  if (mode === "create" && exists) throw alreadyExists(`Role ${roleId} already exists.`);
  if (mode === "update" && !exists) throw notFound(`Role ${roleId} not found.`);
  if (mode === "create" && Object.keys(current).length >= MAX_CUSTOM_ROLES) {
    throw resourceExhausted(`A tenant has at most ${MAX_CUSTOM_ROLES} custom roles.`, undefined, "too-many-roles");
  }
  assertKnownPermissions(input.permissions);
  const definition: RoleDefinition = {
    permissions: [...new Set(input.permissions)],
    inherits: [...new Set(input.inherits)],
    ...(input.description !== undefined ? { description: input.description } : {}),
  };
  const next: CustomRoles = { ...current, [roleId]: definition };
  try {
    validateRoleGraph(next);
  } catch (error) {
    if (error instanceof RoleGraphError)
      throw graphError(error, error.reason === "unknown-permission" ? "permissions" : "inherits");
    throw error;
  }
  if (mode === "update") assertWithin(closure([roleId], current), caller, `Changing role ${roleId}`, "outranked");
  assertWithin(closure([roleId], next), caller, `Role ${roleId}`);
  return next;
}

/**
 * Plans deleting custom role `roleId`. A role another role inherits is refused (deleting it
 * would leave a dangling parent); members still holding it are checked by the caller of this
 * function, which sees the members collection.
 */
export function planRoleDelete(current: CustomRoles, roleId: string, caller: ReadonlySet<Permission>): CustomRoles {
  if (isBuiltInRole(roleId)) {
    throw invalid(`Built-in role ${roleId} cannot be deleted.`, "reserved-role-id", { roleId: ["built-in role"] });
  }
  if (!Object.prototype.hasOwnProperty.call(current, roleId)) throw notFound(`Role ${roleId} not found.`);
  const inheritedBy = Object.entries(current)
    .filter(([id, def]) => id !== roleId && def.inherits.includes(roleId))
    .map(([id]) => id)
    .sort();
  if (inheritedBy.length > 0) {
    throw new AppError(
      "failed-precondition",
      `Role ${roleId} is inherited by ${inheritedBy.join(", ")}; change those roles first.`,
      { reason: "role-in-use", inheritedBy },
    );
  }
  assertWithin(closure([roleId], current), caller, `Deleting role ${roleId}`, "outranked");
  const next: Record<string, RoleDefinition> = { ...current };
  delete next[roleId];
  return next;
}

/**
 * Plans setting a member's roles from `before` to `after`: every role must exist, the caller
 * must hold everything the new roles grant (no escalation) and everything the member already
 * holds (no demoting someone who outranks you).
 */
export function planAssignment(
  current: CustomRoles,
  before: readonly string[],
  after: readonly string[],
  caller: ReadonlySet<Permission>,
): string[] {
  const roles = [...new Set(after)];
  const fields: Record<string, string[]> = {};
  after.forEach((role, i) => {
    if (!isBuiltInRole(role) && !Object.prototype.hasOwnProperty.call(current, role)) {
      fields[`roles.${i}`] = [`Unknown role "${role}"`];
    }
  });
  if (Object.keys(fields).length > 0) {
    throw invalid(`Unknown role(s): ${Object.values(fields).flat().join(", ")}.`, "unknown-role", fields);
  }
  assertWithin(closure(before, current), caller, "Changing this member's roles", "outranked");
  assertWithin(closure(roles, current), caller, "These roles");
  return roles;
}

/** True when `roles` make their holder an owner (directly or through inheritance). */
export function isOwner(roles: readonly string[], custom: CustomRoles): boolean {
  return ancestors(roles, custom).has("owner");
}

/** Every role id (built-in "owner" and custom roles inheriting it) that makes its holder an owner. */
export function ownerRoleIds(custom: CustomRoles): string[] {
  return ["owner", ...Object.keys(custom).filter((id) => isOwner([id], custom))].sort();
}

export interface MemberRoles {
  uid: string;
  roles: readonly string[];
}

/**
 * Throws `failed-precondition` (reason `last-owner`) when a change would take a tenant that has
 * an owner to none. `owners` are the members who are owners before the change; `after` is the
 * role graph after it and `override` a member whose roles change with it.
 */
export function assertOwnerRemains(owners: readonly MemberRoles[], after: CustomRoles, override?: MemberRoles): void {
  if (owners.length === 0) return; // nothing to protect (e.g. a tenant being set up)
  const remaining = owners.filter((m) =>
    isOwner(override && override.uid === m.uid ? override.roles : m.roles, after),
  ).length;
  // A member who becomes an owner through this very change also counts.
  const promoted = override && !owners.some((m) => m.uid === override.uid) && isOwner(override.roles, after) ? 1 : 0;
  if (remaining + promoted === 0) {
    throw failedPrecondition("This change would leave the tenant without an owner.", "last-owner");
  }
}
