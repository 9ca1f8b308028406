/**
 * Role and assignment changes: one Firestore transaction each, read → check (policy.ts) → write.
 *
 * Every transaction reads the tenant document and bumps its configVersion, so any two role
 * changes in a tenant conflict and are serialised by Firestore: checks that look at the whole
 * role graph or at every owner (cycles, last owner) cannot be raced past by a concurrent change.
 * The caller's own permissions are recomputed inside the transaction from their membership, not
 * taken from the (possibly cached) admission, so a caller demoted a moment ago cannot use the
 * rights they just lost.
 */
import type { Transaction } from "firebase-admin/firestore";
import { AppError, notFound, permissionDenied } from "../platform/errors";
import { describeError, log } from "../platform/logger";
import type { TenantDb } from "../tenancy/db";
import { bumpConfigVersion, evictLocal, syncClaims } from "../tenancy/service";
import { evictTenantPermissions, parseRoleDoc } from "./effective";
import { BUILT_IN_ROLES, isBuiltInRole, type Permission, type RoleDefinition } from "./permissions";
import {
  assertOwnerRemains,
  MAX_CUSTOM_ROLES,
  ownerRoleIds,
  planAssignment,
  planRoleDelete,
  planRoleUpsert,
  sortPermissions,
  type MemberRoles,
  type RoleInput,
} from "./policy";
import { closure, definition, rolesCovering, type CustomRoles } from "./resolve";
import { emitEvent } from "../webhooks/events";

/** What a role change needs from the invocation. */
export interface RbacActor {
  db: TenantDb;
  /** The caller. */
  uid: string;
  /** The wrapper's transaction runner (keeps idempotency hooks working); defaults to `db.runTransaction`. */
  runTransaction?: <T>(fn: (tx: Transaction) => Promise<T>) => Promise<T>;
  now?: () => Date;
}

/** A role as clients see it. */
export interface RoleView {
  id: string;
  builtIn: boolean;
  description?: string;
  /** Permissions granted directly. */
  permissions: Permission[];
  inherits: string[];
  /** Everything the role grants, inheritance included. */
  effectivePermissions: Permission[];
}

/** Describes role `id` within `custom` (built-in or custom). */
export function roleView(id: string, custom: CustomRoles): RoleView {
  const builtIn = isBuiltInRole(id);
  const def = definition(id, custom);
  if (!def) throw notFound(`Role ${id} not found.`);
  return {
    id,
    builtIn,
    ...(def.description !== undefined ? { description: def.description } : {}),
    permissions: sortPermissions(def.permissions),
    inherits: [...def.inherits],
    effectivePermissions: sortPermissions(closure([id], custom)),
  };
}

/** Built-in roles (highest first), then custom roles by id. */
export function listRoleViews(custom: CustomRoles): RoleView[] {
  return [...BUILT_IN_ROLES, ...Object.keys(custom).sort()].map((id) => roleView(id, custom));
}

/** A tenant's role graph and the caller's permissions, as read inside one transaction. */
export interface RoleState {
  configVersion: number;
  /** The tenant's MFA policy (setTenantMfaPolicy); a role change re-derives who it covers. */
  mfaRequiredRoles: string[];
  custom: CustomRoles;
  /** The caller's permissions as of this transaction. */
  caller: ReadonlySet<Permission>;
}

function activeRolesOf(data: FirebaseFirestore.DocumentData | undefined): string[] | null {
  if (!data || (data.status && data.status !== "active")) return null;
  return Array.isArray(data.roles) ? data.roles.map(String) : [];
}

/**
 * Reads, inside `tx`, the tenant document (for its configVersion, and so that every role change
 * conflicts with every other), the custom roles and the caller's membership. Other modules that
 * change memberships (removeMember) can use it to apply the same rules.
 */
export async function readRoleState(tx: Transaction, actor: Pick<RbacActor, "db" | "uid">): Promise<RoleState> {
  const { db } = actor;
  const [tenant, roles, caller] = await Promise.all([
    tx.get(db.tenantDoc()),
    // Bounded: createRole keeps a tenant at MAX_CUSTOM_ROLES; one more lets the cap check see it.
    tx.get(db.collection("roles").limit(MAX_CUSTOM_ROLES + 1)),
    tx.get(db.doc(`members/${actor.uid}`)),
  ]);
  if (!tenant.exists) throw notFound("Tenant not found.");
  // Admission may have used a cached, still-active tenant; a write must not outlive suspension.
  if (tenant.get("status") === "suspended") throw permissionDenied("This tenant is suspended.", "tenant-suspended");
  const custom: Record<string, RoleDefinition> = {};
  for (const doc of roles.docs) custom[doc.id] = parseRoleDoc(doc.data());
  const callerRoles = activeRolesOf(caller.data());
  // Removed since admission (the cache may be up to a TTL old): same answer as the resolver's.
  if (!callerRoles) throw notFound("Tenant not found.");
  return {
    configVersion: Number(tenant.get("configVersion") ?? 0),
    mfaRequiredRoles: Array.isArray(tenant.get("mfaRequiredRoles")) ? tenant.get("mfaRequiredRoles").map(String) : [],
    custom,
    caller: closure(callerRoles, custom),
  };
}

/**
 * Active members who are owners under `custom` (directly or through a custom role). Unbounded on
 * purpose: every owner must be seen for the last-owner check, and owners are few.
 */
export async function readOwners(tx: Transaction, db: TenantDb, custom: CustomRoles): Promise<MemberRoles[]> {
  const ids = ownerRoleIds(custom);
  const owners = new Map<string, MemberRoles>();
  // array-contains-any takes at most 30 values per query.
  for (let i = 0; i < ids.length; i += 30) {
    const snap = await tx.get(db.collection("members").where("roles", "array-contains-any", ids.slice(i, i + 30)));
    for (const doc of snap.docs) {
      const roles = activeRolesOf(doc.data());
      if (roles) owners.set(doc.id, { uid: doc.id, roles });
    }
  }
  return [...owners.values()];
}

/** How many holders deleteRole reads to report "still assigned to N members" (a bounded read). */
const ROLE_IN_USE_SAMPLE = 20;

function run<T>(actor: RbacActor, fn: (tx: Transaction) => Promise<T>): Promise<T> {
  return actor.runTransaction ? actor.runTransaction(fn) : actor.db.runTransaction(fn);
}

/** After a commit: this instance serves the new state at once (others within the tenant cache TTL). */
function evictAfterChange(tid: string, uids: readonly string[] = []): void {
  evictLocal(tid, uids);
  evictTenantPermissions(tid);
}

function roleDoc(def: RoleDefinition, actor: RbacActor, created: boolean): Record<string, unknown> {
  const now = (actor.now ?? (() => new Date()))();
  return {
    permissions: [...def.permissions],
    inherits: [...def.inherits],
    description: def.description ?? null,
    updatedAt: now,
    updatedBy: actor.uid,
    ...(created ? { createdAt: now, createdBy: actor.uid } : {}),
  };
}

/** A role that inherits a role the MFA policy names is covered too (rules read `mfaPolicyRoles`). */
function policyRoles(state: RoleState, next: CustomRoles): Record<string, unknown> {
  return state.mfaRequiredRoles.length > 0 ? { mfaPolicyRoles: rolesCovering(state.mfaRequiredRoles, next) } : {};
}

export interface RoleChange {
  role: RoleView;
  configVersion: number;
}

/** Creates custom role `roleId`. */
export async function createRole(actor: RbacActor, roleId: string, input: RoleInput): Promise<RoleChange> {
  const result = await run(actor, async (tx) => {
    const state = await readRoleState(tx, actor);
    const next = planRoleUpsert(state.custom, roleId, input, state.caller, "create");
    tx.set(actor.db.doc(`roles/${roleId}`), roleDoc(next[roleId], actor, true));
    bumpConfigVersion(tx, actor.db.tenantId, undefined, policyRoles(state, next));
    return { role: roleView(roleId, next), configVersion: state.configVersion + 1 };
  });
  evictAfterChange(actor.db.tenantId);
  log.info("role created", { roleId });
  return result;
}

/** Replaces the given fields of custom role `roleId`; fields left out keep their value. */
export async function updateRole(actor: RbacActor, roleId: string, patch: Partial<RoleInput>): Promise<RoleChange> {
  const result = await run(actor, async (tx) => {
    const state = await readRoleState(tx, actor);
    const existing = definition(roleId, state.custom);
    const input: RoleInput = {
      permissions: patch.permissions ?? existing?.permissions ?? [],
      inherits: patch.inherits ?? existing?.inherits ?? [],
      description: patch.description ?? existing?.description,
    };
    const next = planRoleUpsert(state.custom, roleId, input, state.caller, "update");
    // Dropping `owner` from a role's ancestry demotes everyone who holds it.
    assertOwnerRemains(await readOwners(tx, actor.db, state.custom), next);
    tx.update(actor.db.doc(`roles/${roleId}`), roleDoc(next[roleId], actor, false));
    bumpConfigVersion(tx, actor.db.tenantId, undefined, policyRoles(state, next));
    return { role: roleView(roleId, next), configVersion: state.configVersion + 1 };
  });
  evictAfterChange(actor.db.tenantId);
  log.info("role updated", { roleId });
  return result;
}

/**
 * Deletes custom role `roleId`. Refused (`failed-precondition`, reason `role-in-use`) while a
 * member holds it or another role inherits it: silently stripping it could demote many
 * members at once, or the last owner, in a change that only meant to tidy the role list.
 */
export async function deleteRole(actor: RbacActor, roleId: string): Promise<{ configVersion: number }> {
  const result = await run(actor, async (tx) => {
    const state = await readRoleState(tx, actor);
    planRoleDelete(state.custom, roleId, state.caller);
    // Any holder counts, active or not: a suspended member reactivated later would otherwise
    // carry a dangling role that a new role with the same id would silently fill.
    const holders = await tx.get(
      actor.db.collection("members").where("roles", "array-contains", roleId).limit(ROLE_IN_USE_SAMPLE),
    );
    if (!holders.empty) {
      const count = holders.size < ROLE_IN_USE_SAMPLE ? String(holders.size) : `at least ${holders.size}`;
      throw new AppError(
        "failed-precondition",
        `Role ${roleId} is still assigned to ${count} member(s); assign them other roles first.`,
        { reason: "role-in-use", members: holders.size },
      );
    }
    tx.delete(actor.db.doc(`roles/${roleId}`));
    bumpConfigVersion(tx, actor.db.tenantId);
    return { configVersion: state.configVersion + 1 };
  });
  evictAfterChange(actor.db.tenantId);
  log.info("role deleted", { roleId });
  return result;
}

export interface Assignment {
  uid: string;
  roles: string[];
  configVersion: number;
  /** True when the member's claims now carry the new roles: their client should refresh its ID token. */
  claimsUpdated: boolean;
}

/** Sets member `uid`'s roles (replacing the previous set). */
export async function assignRoles(actor: RbacActor, uid: string, roles: readonly string[]): Promise<Assignment> {
  const result = await run(actor, async (tx) => {
    const state = await readRoleState(tx, actor);
    const memberRef = actor.db.doc(`members/${uid}`);
    const member = await tx.get(memberRef);
    const before = activeRolesOf(member.data());
    if (!before) throw notFound("Member not found.");
    const after = planAssignment(state.custom, before, roles, state.caller);
    const unchanged = before.length === after.length && before.every((r) => after.includes(r));
    if (unchanged) return { roles: after, configVersion: state.configVersion, changed: false };
    assertOwnerRemains(await readOwners(tx, actor.db, state.custom), state.custom, { uid, roles: after });
    tx.update(memberRef, { roles: after, updatedAt: (actor.now ?? (() => new Date()))() });
    bumpConfigVersion(tx, actor.db.tenantId);
    return { roles: after, configVersion: state.configVersion + 1, changed: true };
  });
  if (!result.changed) return { uid, roles: result.roles, configVersion: result.configVersion, claimsUpdated: false };
  evictAfterChange(actor.db.tenantId, [uid]);
  log.info("roles assigned", { member: uid, roles: result.roles });
  await emitEvent(actor.db.tenantId, "member.roles_changed", { uid, roles: result.roles, by: actor.uid });
  let claimsUpdated = false;
  try {
    // Claims follow the membership only where this tenant is the member's active one.
    const claims = await syncClaims(uid);
    claimsUpdated = claims.tid === actor.db.tenantId;
  } catch (error) {
    // The change is committed and the server never reads roles from claims; the next claims
    // sync (switchTenant, sign-in) repairs them, so report rather than fail the call.
    log.error("claims sync after role assignment failed", { member: uid, ...describeError(error) });
  }
  return { uid, roles: result.roles, configVersion: result.configVersion, claimsUpdated };
}
