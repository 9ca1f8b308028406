/**
 * The admission pipeline shared by the callable and HTTPS wrappers, as one ordered list of
 * stages (`STAGES` below):
 *
 *   authenticate → session + revocation → platform admin → sensitive (recent sign-in, MFA) →
 *   tenant + membership → MFA policy → permission → function MFA requirement
 *
 * Each stage either enriches the call or throws an `AppError`; nothing here writes. A new
 * cross-cutting admission concern is a new entry in `STAGES`, never code in a handler.
 */
import type { DecodedIdToken } from "firebase-admin/auth";
import { rootFirestore } from "./admin";
import { currentInvocation } from "./context";
import { AppError, failedPrecondition, permissionDenied, unauthenticated } from "./errors";
import { log } from "./logger";
import type { FunctionSpec } from "./spec";
import { checkSensitive, checkSession, checkTenantMfaPolicy, type SessionVerdict } from "./session-guard";
import { customRoles, effectivePermissions, logDenial, satisfies, type PermissionRequirement } from "../rbac/effective";
import type { Permission } from "../rbac/permissions";
import { isBuiltInRole } from "../rbac/permissions";
import { ancestors } from "../rbac/resolve";
import { TenantDb } from "../tenancy/db";
import { resolveTenant, type Member, type Tenant } from "../tenancy/resolver";

/** The authenticated caller. */
export interface Principal {
  uid: string;
  token: DecodedIdToken;
  /** Filled by the session stage: the caller's session and MFA level, from the server's state. */
  session?: SessionVerdict;
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

/** One call walking through the stages; each stage reads and fills what it needs. */
interface Call {
  spec: FunctionSpec;
  principal?: Principal;
  tenant?: TenantAdmission;
}

type Stage = readonly [name: string, run: (call: Call) => void | Promise<void>];

/** True when the caller is the platform admin: the stored `platformAdmin` claim, as of the session stage. */
export function isPlatformAdmin(principal: Principal | undefined): boolean {
  return principal?.session?.platformAdmin === true;
}

/** True when the caller acts through a session verified with a second factor (server state, not the token). */
export function hasMfa(principal: Principal | undefined): boolean {
  return principal?.session?.mfa === true;
}

const authenticate: Stage = [
  "authenticate",
  ({ spec, principal }) => {
    if (spec.auth === "required" && !principal) throw unauthenticated();
    const invocation = currentInvocation();
    if (invocation && principal) invocation.uid = principal.uid;
  },
];

// Every signed-in call, whatever the function: the session is the authority (session-guard.ts).
const session: Stage = [
  "session",
  async ({ spec, principal }) => {
    if (!principal) return;
    principal.session = await checkSession(principal.uid, principal.token, { sessionless: spec.sessionless });
  },
];

const platformAdmin: Stage = [
  "platform-admin",
  ({ spec, principal }) => {
    if (spec.platformAdmin && !isPlatformAdmin(principal)) {
      log.warn("platform admin required", { permission: "platformAdmin" });
      throw permissionDenied();
    }
  },
];

const sensitive: Stage = [
  "sensitive",
  ({ spec, principal }) => {
    if (spec.sensitive && principal?.session) checkSensitive(principal.session);
  },
];

const tenant: Stage = [
  "tenant",
  async (call) => {
    const { spec, principal } = call;
    if (!spec.tenant) return;
    if (!principal) throw unauthenticated();
    const tid = typeof principal.token.tid === "string" ? principal.token.tid : undefined;
    if (!tid) throw failedPrecondition("Select a tenant first (switchTenant).", "no-active-tenant");
    const invocation = currentInvocation();
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
    const permissions = await effectivePermissions(resolved.tenant, resolved.member.roles);
    call.tenant = { ...resolved, permissions, db: new TenantDb(tid, rootFirestore()) };
  },
];

const mfaPolicy: Stage = [
  "mfa-policy",
  async ({ principal, tenant }) => {
    if (!tenant || !principal?.session) return;
    const required = tenant.tenant.mfaRequiredRoles;
    if (!required?.length || principal.session.mfa) return;
    const roles = tenant.member.roles;
    // Inherited roles count: a custom role that inherits `admin` is covered by an `admin` policy.
    const custom = roles.every(isBuiltInRole) ? {} : await customRoles(tenant.tenant);
    checkTenantMfaPolicy(principal.session, required, ancestors(roles, custom));
  },
];

const permission: Stage = [
  "permission",
  ({ spec, principal, tenant }) => {
    if (tenant && spec.permission)
      requirePermission(tenant.permissions, spec.permission, principal?.uid, tenant.tenant.id);
  },
];

// Last, so a non-member learns nothing about the function.
const requireMfa: Stage = [
  "require-mfa",
  ({ spec, principal }) => {
    if (spec.requireMfa && !hasMfa(principal)) {
      throw failedPrecondition("This action needs a session verified with a second factor.", "mfa-required");
    }
  },
];

/** The stages in the order every call walks them. */
export const STAGES: readonly Stage[] = [
  authenticate,
  session,
  platformAdmin,
  sensitive,
  tenant,
  mfaPolicy,
  permission,
  requireMfa,
];

/** Runs every admission stage the spec asks for; a tenant function acts in the `tid` claim's tenant. */
export async function admit(spec: FunctionSpec, principal: Principal | undefined): Promise<Admission> {
  const call: Call = { spec, principal };
  for (const [, run] of STAGES) await run(call);
  return { principal, tenant: call.tenant };
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
