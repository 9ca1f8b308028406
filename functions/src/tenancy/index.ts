/**
 * Tenancy: tenants, memberships, tenant switching, and the service API other modules use after
 * they change a membership (`bumpConfigVersion`, `evictLocal`, `syncClaims`).
 */
export {
  createTenant,
  getTenant,
  updateTenant,
  suspendTenant,
  reactivateTenant,
  setTenantPlan,
  inviteMember,
  removeMember,
  listMembers,
  switchTenant,
} from "./functions";
