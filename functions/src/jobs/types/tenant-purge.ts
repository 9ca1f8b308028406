/**
 * `tenant.purge` (platform admin): deletes everything of a tenant that has been suspended for at
 * least TENANT_PURGE_GRACE_DAYS: every subcollection with `recursiveDelete`, its Storage objects
 * under `tenants/{tid}/`, and the tenant document last (so an interrupted purge is resumed by its
 * retry: the tenant document still says it is suspended).
 *
 * The job record lives in the tenant the operator runs it from, never in the purged one, so the
 * purge can leave no document of its target behind and still report its outcome.
 */
import { z } from "zod";
// recursiveDelete and bulkWriter live on the Firestore client; the target tenant is checked below.
import { rootFirestore } from "../../platform/admin";
import { intValue, params } from "../../platform/config";
import { failedPrecondition } from "../../platform/errors";
import { isTimestamp } from "../../platform/firestore-sdk";
import { defineJob } from "../../platform/jobs";
import { TenantId } from "../../platform/validation";
import { TenantDb } from "../../tenancy/db";
import { evictLocal } from "../../tenancy/service";
import { jobObjectStore } from "../object-store";

const DAY_MS = 86_400_000;

export const tenantPurge = defineJob({
  type: "tenant.purge",
  description: "Deletes all data of a tenant suspended for longer than the grace period (platform admin).",
  input: z.strictObject({ tenantId: TenantId }),
  access: { platformAdmin: true },
  retry: { maxAttempts: 5 },
  timeoutSeconds: 1740,
  handler: async ({ input, db, progress, signal }) => {
    if (input.tenantId === db.tenantId) {
      throw failedPrecondition("Run tenant.purge from another tenant: it deletes its own job record.", "purge-self");
    }
    const firestore = rootFirestore();
    const target = new TenantDb(input.tenantId, firestore);
    const tenant = await target.tenantDoc().get();
    if (tenant.exists) {
      if (tenant.get("status") !== "suspended")
        throw failedPrecondition("Only a suspended tenant can be purged.", "not-suspended");
      const since = tenant.get("suspendedAt");
      const graceMs = intValue(params.tenantPurgeGraceDays) * DAY_MS;
      if (!isTimestamp(since) || since.toMillis() + graceMs > Date.now()) {
        throw failedPrecondition("The tenant's suspension grace period has not ended.", "grace-period");
      }
    }
    const collections = await target.tenantDoc().listCollections();
    const total = collections.length + 2;
    let documents = 0;
    // One writer for the whole purge, closed however it ends: an open BulkWriter is never freed.
    const writer = firestore.bulkWriter();
    writer.onWriteResult(() => {
      documents += 1;
    });
    try {
      for (const [i, collection] of collections.entries()) {
        signal.throwIfAborted();
        await firestore.recursiveDelete(collection, writer);
        await progress({ done: i + 1, total, message: `deleted ${documents} documents` });
      }
    } finally {
      await writer.close();
    }
    signal.throwIfAborted();
    const objects = await jobObjectStore().deletePrefix(`tenants/${input.tenantId}/`);
    await progress({ done: total - 1, total, message: `deleted ${documents} documents, ${objects} objects` });
    if (tenant.exists) {
      await target.tenantDoc().delete();
      documents += 1;
    }
    evictLocal(input.tenantId);
    await progress({ done: total, total, message: "purged" });
    return { tenantId: input.tenantId, documents, objects };
  },
});
