/**
 * The Firestore entry points the files module needs outside a caller's tenant: the Storage
 * trigger and the sweeper act for a tenant named in an object path or a record path that this
 * module wrote itself, and the sweeper finds due records across tenants.
 */
import type { QueryDocumentSnapshot } from "firebase-admin/firestore";
// Triggers and schedules have no caller and no admission pipeline; they build the tenant-scoped
// db here from tenant ids that this module wrote into object and record paths.
// eslint-disable-next-line no-restricted-imports
import { rootFirestore } from "../platform/admin";
import { Timestamp } from "../platform/firestore-sdk";
import { TenantDb } from "../tenancy/db";

/** The tenant-scoped data layer for a tenant named in a path this module wrote. */
export function tenantDbFor(tenantId: string): TenantDb {
  return new TenantDb(tenantId, rootFirestore());
}

const RECORD_PATH = /^tenants\/([^/]+)\/files\/([^/]+)$/;

/** A file record due for the sweeper: a pending upload past its time, or a deletion tombstone. */
export interface DueRecord {
  tenantId: string;
  fileId: string;
  snapshot: QueryDocumentSnapshot;
}

/**
 * Up to `limit` file records whose `sweepAt` has passed, oldest first, across all tenants. Only
 * pending records and tombstones carry `sweepAt`, so ready files never enter this index.
 */
export async function dueRecords(now: number, limit: number): Promise<DueRecord[]> {
  const snap = await rootFirestore()
    .collectionGroup("files")
    .where("sweepAt", "<=", Timestamp.fromMillis(now))
    .orderBy("sweepAt")
    .limit(limit)
    .get();
  const due: DueRecord[] = [];
  for (const doc of snap.docs) {
    // Another collection named "files" elsewhere in the database is not ours.
    const match = RECORD_PATH.exec(doc.ref.path);
    if (match) due.push({ tenantId: match[1], fileId: match[2], snapshot: doc });
  }
  return due;
}
