/**
 * Wiring only: global options, then every function of every module.
 */
import { setGlobalOptions } from "firebase-functions/v2/options";
import { params } from "./platform/config";

setGlobalOptions({ region: params.region, maxInstances: 10 });

// platform
export { health } from "./health";
export { whoami } from "./auth";
// tenancy
export {
  createTenant,
  getTenant,
  updateTenant,
  suspendTenant,
  reactivateTenant,
  inviteMember,
  removeMember,
  listMembers,
  switchTenant,
} from "./tenancy";
// rbac
export { listRoles, createRole, updateRole, deleteRole, assignRoles } from "./rbac";
// idempotency
// sessions and mfa
export { startSession, refreshSession, listSessions, revokeSession, revokeAllSessions } from "./sessions";
export {
  enrollMfa,
  confirmMfa,
  verifyMfa,
  getMfaStatus,
  regenerateRecoveryCodes,
  disableMfa,
  setTenantMfaPolicy,
} from "./mfa";
// payments and webhooks
export { createPayment, getPayment, listPayments, paymentWebhook, processPaymentEvent } from "./payments";
export {
  adminListDeadLetters,
  adminReplayDeadLetters,
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  deliverWebhook,
  listDeadLetters,
  listWebhookDeliveries,
  listWebhookEndpoints,
  replayDeadLetters,
  rotateWebhookEndpointSecret,
  sendTestWebhook,
  setWebhookEndpointStatus,
  updateWebhookEndpoint,
} from "./webhooks";
// storage
export { getUploadUrl, getDownloadUrl } from "./storage";
// observability
export { metrics } from "./observability/metrics";
