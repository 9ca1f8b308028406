/**
 * Permissions are data: a closed catalogue of `resource:action` strings and the built-in role
 * table. A misspelt permission anywhere in the code is a type error.
 */

export const PERMISSIONS = [
  "tenant:read",
  "tenant:manage",
  "tenant:update",
  "members:read",
  "members:invite",
  "members:remove",
  "roles:read",
  "roles:manage",
  "payments:read",
  "payments:create",
  "webhooks:read",
  "webhooks:manage",
  "storage:read",
  "storage:write",
  "jobs:read",
  "jobs:manage",
] as const;

export type Permission = (typeof PERMISSIONS)[number];

const PERMISSION_SET: ReadonlySet<string> = new Set(PERMISSIONS);

/** Narrows a string to a catalogue permission. */
export function isPermission(value: string): value is Permission {
  return PERMISSION_SET.has(value);
}

export const BUILT_IN_ROLES = ["owner", "admin", "member", "viewer"] as const;
export type BuiltInRole = (typeof BUILT_IN_ROLES)[number];

export interface RoleDefinition {
  /** Permissions granted directly by this role. */
  permissions: readonly Permission[];
  /** Roles whose permissions this role also has. */
  inherits: readonly string[];
  /** Custom roles only: a short human description shown by listRoles. */
  description?: string;
}

/**
 * owner > admin > member > viewer. Each role lists only what it adds; inheritance supplies the
 * rest. firestore.rules mirrors the hierarchy (a test keeps the two in step).
 */
export const BUILT_IN_ROLE_DEFINITIONS: Readonly<Record<BuiltInRole, RoleDefinition>> = {
  viewer: {
    permissions: ["tenant:read", "members:read", "roles:read", "payments:read", "storage:read"],
    inherits: [],
  },
  member: {
    permissions: ["payments:create", "storage:write"],
    inherits: ["viewer"],
  },
  admin: {
    permissions: [
      "tenant:update",
      "members:invite",
      "members:remove",
      "roles:manage",
      "webhooks:read",
      "webhooks:manage",
      "jobs:read",
      "jobs:manage",
    ],
    inherits: ["member"],
  },
  owner: {
    permissions: ["tenant:manage"],
    inherits: ["admin"],
  },
};

export function isBuiltInRole(role: string): role is BuiltInRole {
  return (BUILT_IN_ROLES as readonly string[]).includes(role);
}
