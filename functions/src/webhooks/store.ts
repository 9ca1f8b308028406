/**
 * The few Firestore entry points the webhook framework needs outside a caller's tenant: task
 * handlers act for a tenant named in a task payload they created themselves, and inbound events
 * are de-duplicated in a root collection before any tenant is known.
 */
import type { CollectionReference, DocumentReference, Transaction } from "firebase-admin/firestore";
// Task handlers have no caller and no admission pipeline; they build the tenant-scoped db here,
// from tenant ids that this codebase wrote into the task payload.
// eslint-disable-next-line no-restricted-imports
import { rootFirestore } from "../platform/admin";
import { withSpan } from "../platform/tracing-port";
import { TenantDb, assertSafeSegment } from "../tenancy/db";

/** The tenant-scoped data layer for a tenant named in a trusted task payload. */
export function tenantDbFor(tenantId: string): TenantDb {
  return new TenantDb(tenantId, rootFirestore());
}

/** `inboundEvents/{provider}:{eventId}`: the de-duplication record of an inbound event. */
export function inboundEventRef(provider: string, eventId: string): DocumentReference {
  const id = `${provider}:${eventId}`;
  assertSafeSegment(id);
  return rootFirestore().collection("inboundEvents").doc(id);
}

/** Platform-level dead letters: inbound events that could not be routed to any tenant. */
export function platformDeadLetters(): CollectionReference {
  return rootFirestore().collection("deadLetters");
}

/** A transaction over root documents (inbound records, platform dead letters). */
export function runRootTransaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
  return withSpan("firestore.transaction", () => rootFirestore().runTransaction(fn));
}
