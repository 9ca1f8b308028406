/**
 * Wiring only: global options, then every function of every module.
 *
 * Exports are wired lazily: each is a getter that requires its module on first access. A
 * deployed instance serves one function and the runtime reads only that export, so the instance
 * loads only that function's module and what it imports; cold start does not grow as modules are
 * added (bench/cold-start.mjs). The Firebase CLI reads every export to discover functions, and
 * tests enumerate them the same way.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- the lazy requires are the point */
import { setGlobalOptions } from "firebase-functions/v2/options";
import { params } from "./platform/config";
// Every instance flushes its counters to the shared store behind the `metrics` endpoint.
import "./observability/metrics-flush";

setGlobalOptions({ region: params.region, maxInstances: 10 });

/** Defines `names` as exports of this module, each loading `load()` on first access. */
function wire(load: () => Record<string, unknown>, names: readonly string[]): void {
  for (const name of names) {
    Object.defineProperty(exports, name, {
      enumerable: true,
      get: () => {
        const fn = load()[name];
        // A misspelt name must fail loudly, not deploy nothing.
        if (fn === undefined) throw new Error(`index.ts wires ${name}, but its module does not export it`);
        return fn;
      },
    });
  }
}

// platform
wire(() => require("./health"), ["health"]);
wire(() => require("./auth"), ["whoami"]);
// tenancy
wire(
  () => require("./tenancy"),
  [
    "createTenant",
    "getTenant",
    "updateTenant",
    "suspendTenant",
    "reactivateTenant",
    "setTenantPlan",
    "inviteMember",
    "removeMember",
    "listMembers",
    "switchTenant",
    "listMyInvitations",
    "acceptInvitation",
    "declineInvitation",
    "listInvitations",
    "revokeInvitation",
  ],
);
// rbac
wire(() => require("./rbac"), ["listRoles", "createRole", "updateRole", "deleteRole", "assignRoles"]);
// sessions and mfa
wire(
  () => require("./sessions"),
  ["startSession", "refreshSession", "listSessions", "revokeSession", "revokeAllSessions"],
);
wire(
  () => require("./mfa"),
  [
    "enrollMfa",
    "confirmMfa",
    "verifyMfa",
    "getMfaStatus",
    "regenerateRecoveryCodes",
    "disableMfa",
    "setTenantMfaPolicy",
  ],
);
// payments and webhooks
wire(
  () => require("./payments"),
  ["createPayment", "getPayment", "listPayments", "paymentWebhook", "processPaymentEvent"],
);
wire(
  () => require("./webhooks"),
  [
    "adminListDeadLetters",
    "adminReplayDeadLetters",
    "createWebhookEndpoint",
    "deleteWebhookEndpoint",
    "deliverWebhook",
    "listDeadLetters",
    "listWebhookDeliveries",
    "listWebhookEndpoints",
    "replayDeadLetters",
    "rotateWebhookEndpointSecret",
    "sendTestWebhook",
    "setWebhookEndpointStatus",
    "updateWebhookEndpoint",
  ],
);
// jobs
wire(() => require("./jobs"), ["enqueueJob", "getJob", "listJobs", "cancelJob", "retryJob", "runJob"]);
// storage
wire(
  () => require("./storage"),
  [
    "getUploadUrl",
    "getDownloadUrl",
    "listFiles",
    "getFile",
    "updateFile",
    "deleteFile",
    "finalizeFileUpload",
    "sweepFiles",
  ],
);
// observability
wire(() => require("./observability/metrics"), ["metrics"]);
