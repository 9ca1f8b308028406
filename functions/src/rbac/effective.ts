/**
 * Effective permissions per (tenant, configVersion, role set), cached per instance.
 *
 * The tenant's configVersion is part of every key: any role or membership change bumps it, so a
 * stale entry is simply never looked up again (and ages out of the LRU). A warm check is a map
 * lookup and a set membership test: zero Firestore reads.
 *
 * With REDIS_URL set, closures that need custom roles (a Firestore query) are also shared through
 * the L2 under the same versioned key, so one instance's query serves the others; built-in roles
 * alone need neither. An unavailable L2 is a miss.
 */
import type { Firestore } from "firebase-admin/firestore";
import { LRUCache } from "lru-cache";
import { rootFirestore } from "../platform/admin";
import { currentInvocation } from "../platform/context";
import { log } from "../platform/logger";
import { metrics } from "../platform/metrics";
import { sharedCache, type SharedCache } from "../platform/shared-cache";
import type { Tenant } from "../tenancy/resolver";
import type { Permission, RoleDefinition } from "./permissions";
import { isBuiltInRole, isPermission } from "./permissions";
import { MAX_CUSTOM_ROLES } from "./policy";
import { closure, type CustomRoles } from "./resolve";

const customRolesCache = new LRUCache<string, CustomRoles>({ max: 1000 });
const permissionCache = new LRUCache<string, ReadonlySet<Permission>>({ max: 10_000 });
/** Versioned L2 entries never go stale; the TTL only bounds how long Redis keeps them. */
const L2_TTL_SECONDS = 3600;

/** A custom role as stored in `tenants/{tid}/roles/{roleId}`; permissions no longer in the catalogue are dropped. */
export function parseRoleDoc(data: FirebaseFirestore.DocumentData): RoleDefinition {
  const permissions = (Array.isArray(data.permissions) ? data.permissions : []).filter(
    (p: unknown): p is Permission => typeof p === "string" && isPermission(p),
  );
  const inherits = (Array.isArray(data.inherits) ? data.inherits : []).map(String);
  return {
    permissions,
    inherits,
    ...(typeof data.description === "string" ? { description: data.description } : {}),
  };
}

/** Reads a tenant's custom roles (one query per tenant configVersion per instance). */
export async function customRoles(tenant: Tenant, firestore: Firestore = rootFirestore()): Promise<CustomRoles> {
  const key = `${tenant.id}@${tenant.configVersion}`;
  const cached = customRolesCache.get(key);
  if (cached) return cached;
  // Bounded like every read: createRole keeps a tenant at MAX_CUSTOM_ROLES.
  const snap = await firestore
    .collection(`tenants/${tenant.id}/roles`)
    .limit(MAX_CUSTOM_ROLES + 1)
    .get();
  const roles: Record<string, RoleDefinition> = {};
  for (const doc of snap.docs) roles[doc.id] = parseRoleDoc(doc.data());
  customRolesCache.set(key, roles);
  return roles;
}

/** The permissions granted to `roles` in `tenant`, cached by configVersion. */
export async function effectivePermissions(
  tenant: Tenant,
  roles: readonly string[],
  firestore?: Firestore,
  l2: SharedCache | null | undefined = sharedCache(),
): Promise<ReadonlySet<Permission>> {
  const key = `${tenant.id}@${tenant.configVersion}:${[...roles].sort().join(",")}`;
  const cached = permissionCache.get(key);
  if (cached) return cached;
  // Built-in roles alone need no Firestore read at all.
  const needsCustom = roles.some((r) => !isBuiltInRole(r));
  const shared = needsCustom ? await l2?.get<string[]>(`p:${key}`) : undefined;
  let granted: ReadonlySet<Permission>;
  if (shared) {
    granted = new Set(shared.filter(isPermission));
  } else {
    granted = closure(roles, needsCustom ? await customRoles(tenant, firestore) : {});
    if (needsCustom) await l2?.set(`p:${key}`, [...granted], L2_TTL_SECONDS);
  }
  permissionCache.set(key, granted);
  return granted;
}

/** Drops every cached entry (tests, and the instance that just changed roles). */
export function clearPermissionCaches(): void {
  customRolesCache.clear();
  permissionCache.clear();
}

/**
 * Drops one tenant's entries. Not needed for correctness (a configVersion bump already makes
 * them unreachable) but frees their slots at once instead of waiting for LRU eviction.
 */
export function evictTenantPermissions(tenantId: string): void {
  const prefix = `${tenantId}@`;
  for (const cache of [customRolesCache, permissionCache] as LRUCache<string, object>[]) {
    for (const key of [...cache.keys()]) if (key.startsWith(prefix)) cache.delete(key);
  }
}

/** Number of cached role sets (tests and the benchmark check that a warm check hits). */
export function permissionCacheSize(): number {
  return permissionCache.size;
}

export type PermissionRequirement = Permission | { anyOf: readonly Permission[] } | { allOf: readonly Permission[] };

/** True when `granted` satisfies `requirement`. */
export function satisfies(granted: ReadonlySet<Permission>, requirement: PermissionRequirement): boolean {
  if (typeof requirement === "string") return granted.has(requirement);
  if ("anyOf" in requirement) return requirement.anyOf.some((p) => granted.has(p));
  return requirement.allOf.every((p) => granted.has(p));
}

/** A requirement as one short string for logs and metrics: `a`, `anyOf(a|b)`, `allOf(a&b)`. */
export function describeRequirement(requirement: PermissionRequirement): string {
  if (typeof requirement === "string") return requirement;
  if ("anyOf" in requirement) return `anyOf(${requirement.anyOf.join("|")})`;
  return `allOf(${requirement.allOf.join("&")})`;
}

/**
 * Logs a denial with everything an operator needs: uid, tenant, the permission and (from the
 * invocation context) the function. None of it is shown to the caller.
 */
export function logDenial(requirement: PermissionRequirement, fields: { uid?: string; tenantId?: string }): void {
  const permission = describeRequirement(requirement);
  log.warn("permission denied", { ...fields, permission });
  // The catalogue is closed, so the permission label stays low-cardinality.
  metrics.inc("rbac_denials_total", { fn: currentInvocation()?.fn ?? "unknown", permission });
}
