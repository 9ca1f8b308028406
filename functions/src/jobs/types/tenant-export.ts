/**
 * `tenant.export`: every document of the caller's tenant as NDJSON, one line per document
 * `{"path": "<tenant-relative path>", "data": {…}}` (the tenant document itself has path ""),
 * written to Storage at `tenants/{tid}/exports/{jobId}.ndjson`; the result carries a signed
 * download URL (valid STORAGE_URL_EXPIRY_SECONDS; `getDownloadUrl` with the same path issues a
 * fresh one).
 *
 * Left out: secrets (webhook endpoints' encrypted `secrets`) and server bookkeeping that is not
 * the tenant's data (idempotency records, the event outbox). Firestore values become JSON:
 * timestamps as ISO strings, bytes as base64, references as paths, geopoints as objects.
 */
import type { CollectionReference } from "firebase-admin/firestore";
import { z } from "zod";
import { AppError } from "../../platform/errors";
import { FieldPath, isTimestamp } from "../../platform/firestore-sdk";
import { defineJob } from "../../platform/jobs";
import { jobObjectStore } from "../object-store";

const SKIPPED_COLLECTIONS = new Set(["idempotency", "eventOutbox"]);
const STRIPPED_FIELDS: ReadonlyMap<string, readonly string[]> = new Map([["webhookEndpoints", ["secrets"]]]);
const PAGE = 500;
/** The export is built in memory; a tenant larger than this needs a streaming export. */
export const MAX_EXPORT_BYTES = 256 * 1024 * 1024;

/** A Firestore value as plain JSON. */
export function plain(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (isTimestamp(value)) return value.toDate().toISOString();
  if (Array.isArray(value)) return value.map(plain);
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  const v = value as Record<string, unknown>;
  if (typeof v.path === "string" && typeof v.id === "string" && typeof v.get === "function") return v.path;
  if (typeof v.latitude === "number" && typeof v.longitude === "number")
    return { latitude: v.latitude, longitude: v.longitude };
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(v)) out[key] = plain(inner);
  return out;
}

export const tenantExport = defineJob({
  type: "tenant.export",
  description: "Exports the tenant's documents as NDJSON to Storage and returns a signed download URL (owners).",
  input: z.strictObject({}),
  access: { permission: "tenant:manage" },
  retry: { maxAttempts: 3 },
  timeoutSeconds: 1740,
  handler: async ({ db, jobId, progress, signal }) => {
    const lines: string[] = [];
    let bytes = 0;
    const add = (path: string, data: Record<string, unknown>) => {
      const line = `${JSON.stringify({ path, data: plain(data) })}\n`;
      bytes += Buffer.byteLength(line);
      if (bytes > MAX_EXPORT_BYTES) throw new AppError("out-of-range", "The tenant is too large to export at once.");
      lines.push(line);
    };
    const relative = (path: string) => path.slice(db.root.length + 1);

    const walk = async (collection: CollectionReference, topLevel: boolean): Promise<void> => {
      if (topLevel && SKIPPED_COLLECTIONS.has(collection.id)) return;
      const stripped = topLevel ? (STRIPPED_FIELDS.get(collection.id) ?? []) : [];
      let after: string | undefined;
      for (;;) {
        signal.throwIfAborted();
        let query = collection.orderBy(FieldPath.documentId()).limit(PAGE);
        if (after) query = query.startAfter(after);
        const page = await query.get();
        for (const doc of page.docs) {
          const data = { ...doc.data() };
          for (const field of stripped) delete data[field];
          add(relative(doc.ref.path), data);
          for (const sub of await doc.ref.listCollections()) await walk(sub, false);
        }
        await progress({ done: lines.length, message: relative(collection.path) });
        if (page.size < PAGE) return;
        after = page.docs[page.docs.length - 1].id;
      }
    };

    const tenant = await db.tenantDoc().get();
    if (tenant.exists) add("", tenant.data() ?? {});
    for (const collection of await db.tenantDoc().listCollections()) await walk(collection, true);

    const store = jobObjectStore();
    const path = `${db.root}/exports/${jobId}.ndjson`;
    await store.write(path, Buffer.from(lines.join("")), "application/x-ndjson");
    const signed = await store.signedDownloadUrl(db.tenantId, path);
    await progress({ done: lines.length, total: lines.length, message: "written" });
    return { path, url: signed.url, expiresAt: signed.expiresAt, documents: lines.length, bytes };
  },
});
