/**
 * The admission pipeline shared by the callable and HTTPS wrappers:
 * authentication → platform-admin check → sensitive-session check → tenant → permission → MFA.
 *
 * Each step either enriches the admission or throws an `AppError`; nothing here writes.
 */
import type { DecodedIdToken } from "firebase-admin/auth";
import { rootFirestore } from "./admin";
import { currentInvocation } from "./context";
import { AppError, failedPrecondition, permissionDenied, unauthenticated } from "./errors";
import { log } from "./logger";
import type { FunctionSpec } from "./spec";
import { checkSensitiveSession, checkTenantMfaPolicy } from "./session-guard";
import { effectivePermissions, logDenial, satisfies, type PermissionRequirement } from "../rbac/effective";
import type { Permission } from "../rbac/permissions";
import { TenantDb } from "../tenancy/db";
import { resolveTenant, type Member, type Tenant } from "../tenancy/resolver";

/** The authenticated caller. */
export interface Principal {
  uid: string;
  token: DecodedIdToken;
  /** The raw ID token, kept only to re-verify with revocation checking. Never logged. */
  rawToken?: string;
}

export interface TenantAdmission {
  tenant: Tenant;
  member: Member;
  permissions: ReadonlySet<Permission>;
  db: TenantDb;
}

export interface Admission {
  principal?: Principal;
  tenant?: TenantAdmission;
}

/** True when the caller's token carries the platform-admin claim (set only via the Admin SDK). */
export function isPlatformAdmin(principal: Principal | undefined): boolean {
  return principal?.token.platformAdmin === true;
}

/** The caller's MFA level for this session, from the session custom-token claims. */
export function hasMfa(principal: Principal | undefined): boolean {
  return principal?.token.mfa === true;
}

/** Runs every admission check the spec asks for; a tenant function acts in the `tid` claim's tenant. */
export async function admit(spec: FunctionSpec, principal: Principal | undefined): Promise<Admission> {
  if (spec.auth === "required" && !principal) throw unauthenticated();
  const invocation = currentInvocation();
  if (invocation && principal) invocation.uid = principal.uid;

  if (spec.platformAdmin && !isPlatformAdmin(principal)) {
    log.warn("platform admin required", { permission: "platformAdmin" });
    throw permissionDenied();
  }
  if (spec.sensitive && principal) await checkSensitiveSession(principal);
  if (!spec.tenant) {
    requireMfaIfAsked(spec, principal);
    return { principal };
  }

  if (!principal) throw unauthenticated();
  const tid = typeof principal.token.tid === "string" ? principal.token.tid : undefined;
  if (!tid) throw failedPrecondition("Select a tenant first (switchTenant).", "no-active-tenant");
  if (invocation) invocation.tenantId = tid;
  let resolved;
  try {
    resolved = await resolveTenant(tid, principal.uid);
  } catch (error) {
    if (error instanceof AppError && error.code === "not-found") {
      // Someone asked for a tenant they do not belong to: worth a security log line.
      log.security("tenant-access-denied", { requestedTenant: tid });
    }
    throw error;
  }
  await checkTenantMfaPolicy(principal, resolved.tenant.mfaRequiredRoles, resolved.member.roles);
  const permissions = await effectivePermissions(resolved.tenant, resolved.member.roles);
  if (spec.permission) requirePermission(permissions, spec.permission, principal.uid, tid);
  // MFA comes after tenant and permission, so a non-member learns nothing about the function.
  requireMfaIfAsked(spec, principal);
  return {
    principal,
    tenant: { ...resolved, permissions, db: new TenantDb(tid, rootFirestore()) },
  };
}

function requireMfaIfAsked(spec: FunctionSpec, principal: Principal | undefined): void {
  if (spec.requireMfa && !hasMfa(principal)) {
    throw failedPrecondition("This action needs a session verified with a second factor.", "mfa-required");
  }
}

/**
 * Throws `permission-denied` unless `granted` satisfies `requirement`. The caller is told only
 * that they lack permission, not which one; the log line says which.
 */
export function requirePermission(
  granted: ReadonlySet<Permission>,
  requirement: PermissionRequirement,
  uid?: string,
  tenantId?: string,
): void {
  if (!satisfies(granted, requirement)) {
    logDenial(requirement, { uid, tenantId });
    throw permissionDenied();
  }
}
