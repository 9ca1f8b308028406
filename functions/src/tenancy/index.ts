/**
 * Tenancy: tenants, memberships, invitations, tenant switching, and the service API other modules use after
 * they change a membership (`bumpConfigVersion`, `evictLocal`, `syncClaims`).
 */
export {
  createTenant,
  getTenant,
  updateTenant,
  suspendTenant,
  reactivateTenant,
  removeMember,
  listMembers,
  switchTenant,
} from "./functions";
export {
  inviteMember,
  listMyInvitations,
  acceptInvitation,
  declineInvitation,
  listInvitations,
  revokeInvitation,
} from "./invitations";
