/**
 * RBAC callables: list roles, manage a tenant's custom roles, assign roles to members.
 *
 * The rules (escalation, cycles, last owner, roles in use) live in policy.ts; the transactions
 * in service.ts. Every change bumps the tenant's configVersion, so cached permissions on every
 * instance are looked up under a new key.
 */
import { z } from "zod";
import { tenantCallable } from "../platform/callable";
import { DocId, NoInput } from "../platform/validation";
import { customRoles } from "./effective";
import { PERMISSIONS } from "./permissions";
import { MAX_ROLES_PER_MEMBER } from "./policy";
import * as service from "./service";

/** A role id: short, URL-safe, usable as a document id and cheap in custom claims. */
export const RoleId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "must be 1-64 letters, digits, '-' or '_'");

// Permissions are checked against the catalogue in policy.ts, so an unknown one gets its own
// `reason` (unknown-permission) instead of a generic schema message.
const PermissionList = z.array(z.string().max(64)).max(PERMISSIONS.length * 2);
const ParentList = z.array(RoleId).max(20);
const Description = z.string().trim().max(200);

const CreateRoleInput = z.strictObject({
  roleId: RoleId,
  permissions: PermissionList,
  inherits: ParentList.default([]),
  description: Description.optional(),
});

const UpdateRoleInput = z
  .strictObject({
    roleId: RoleId,
    permissions: PermissionList.optional(),
    inherits: ParentList.optional(),
    description: Description.optional(),
  })
  .refine((v) => v.permissions !== undefined || v.inherits !== undefined || v.description !== undefined, {
    message: "give at least one of permissions, inherits, description",
    path: ["permissions"],
  });

const DeleteRoleInput = z.strictObject({ roleId: RoleId });

const AssignRolesInput = z.strictObject({
  uid: DocId,
  roles: z.array(RoleId).min(1).max(MAX_ROLES_PER_MEMBER),
});

/** `listRoles`: built-in and custom roles with their direct and effective permissions. */
export const listRoles = tenantCallable(
  {
    name: "listRoles",
    description: "Lists the tenant's built-in and custom roles with their effective permissions.",
    input: NoInput,
    permission: "roles:read",
  },
  // Read through the per-configVersion cache: a warm call costs no Firestore read.
  async ({ tenant }) => ({
    configVersion: tenant.configVersion,
    roles: service.listRoleViews(await customRoles(tenant)),
  }),
);

/** `createRole`: creates a custom role; it may not grant more than the caller holds. */
export const createRole = tenantCallable(
  {
    name: "createRole",
    description: "Creates a custom role with permissions and parent roles (never more than the caller holds).",
    input: CreateRoleInput,
    permission: "roles:manage",
  },
  async ({ data, db, uid, runTransaction }) =>
    service.createRole({ db, uid, runTransaction }, data.roleId, {
      permissions: data.permissions,
      inherits: data.inherits,
      description: data.description,
    }),
);

/** `updateRole`: replaces the given fields of a custom role. */
export const updateRole = tenantCallable(
  {
    name: "updateRole",
    description: "Changes a custom role's permissions, parents or description; omitted fields are kept.",
    input: UpdateRoleInput,
    permission: "roles:manage",
  },
  async ({ data, db, uid, runTransaction }) => {
    const { roleId, ...patch } = data;
    return service.updateRole({ db, uid, runTransaction }, roleId, patch);
  },
);

/** `deleteRole`: deletes a custom role that no member holds and no role inherits. */
export const deleteRole = tenantCallable(
  {
    name: "deleteRole",
    description: "Deletes a custom role; refused while a member holds it or another role inherits it.",
    input: DeleteRoleInput,
    permission: "roles:manage",
  },
  async ({ data, db, uid, runTransaction }) => service.deleteRole({ db, uid, runTransaction }, data.roleId),
);

/** `assignRoles`: sets a member's roles and, where this tenant is active for them, their claims. */
export const assignRoles = tenantCallable(
  {
    name: "assignRoles",
    description: "Sets a member's roles (no escalation, never the last owner) and updates their claims.",
    input: AssignRolesInput,
    permission: "roles:manage",
  },
  async ({ data, db, uid, runTransaction }) => service.assignRoles({ db, uid, runTransaction }, data.uid, data.roles),
);
