/**
 * Files: metadata records with create-only signed uploads, per-plan quotas, CRUD callables,
 * the Storage trigger that completes uploads and the sweeper that removes abandoned ones.
 */
import { onObjectFinalized } from "firebase-functions/v2/storage";
import { onSchedule } from "firebase-functions/v2/scheduler";
import { z } from "zod";
import { tenantCallable } from "../platform/callable";
import { intValue, listValue, params } from "../platform/config";
import { withInvocation } from "../platform/context";
import { AppError, failedPrecondition, notFound } from "../platform/errors";
import { describeError, log } from "../platform/logger";
import { metrics } from "../platform/metrics";
import { handleObjectFinalized } from "./finalize";
import { objectStore } from "./objects";
import { quotaOf } from "./plans";
import { defaultFileName, fileObjectPath, newFileId } from "./paths";
import {
  fileView,
  isVisible,
  removeTombstone,
  reservePendingFile,
  tombstone,
  updateFileRecord,
  type FileView,
} from "./records";
import {
  checkedName,
  checkUpload,
  signDownloadUrl,
  signUploadUrl,
  type SigningDeps,
  type StoragePolicy,
} from "./service";
import { tenantBucket } from "./signer";
import { runFileSweep } from "./sweeper";

/**
 * How long after its URL expires a pending upload is left alone: an upload that started just
 * before expiry may still be streaming, and its finalize event may take a moment to arrive.
 */
const PENDING_GRACE_MS = 60 * 60 * 1000;

function policy(): StoragePolicy {
  return {
    expirySeconds: intValue(params.storageUrlExpirySeconds),
    maxUploadBytes: intValue(params.storageMaxUploadBytes),
    allowedContentTypes: listValue(params.storageAllowedContentTypes),
  };
}

async function deps(): Promise<SigningDeps> {
  return { bucket: await tenantBucket(), policy: policy() };
}

const FileId = z.string().regex(/^[0-9a-f]{32}$/, "must be a file id");
const Tag = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, "must be 1-64 letters, digits, '.', '_', ':' or '-'");
const Tags = z
  .array(Tag)
  .max(20)
  .transform((tags) => [...new Set(tags)])
  .describe("Up to 20 tags; duplicates are dropped");
const FileName = z
  .string()
  .min(1)
  .max(512)
  .describe(
    "The file's name, e.g. reports/2026-q1.pdf: up to 8 '/'-separated segments of letters, digits, '.', '_', '-'",
  );

const SignedUrlOutput = z.object({
  url: z.string().url(),
  method: z.enum(["PUT", "GET"]),
  headers: z.record(z.string(), z.string()),
  path: z.string(),
  expiresAt: z.string().datetime(),
});

const UploadUrlOutput = SignedUrlOutput.extend({ fileId: FileId });

/** What getUploadUrl returns. */
export type UploadUrl = z.infer<typeof UploadUrlOutput>;
/** What getDownloadUrl returns. */
export type SignedUrl = z.infer<typeof SignedUrlOutput>;
export type { FileView };

const FileOutput = z.object({
  fileId: z.string(),
  name: z.string(),
  contentType: z.string(),
  size: z.number(),
  status: z.enum(["pending", "ready", "failed"]),
  tags: z.array(z.string()),
  uploadedBy: z.string(),
  checksum: z.object({ md5Hash: z.string().optional(), crc32c: z.string().optional() }).nullable(),
  failure: z.object({ reason: z.string() }).nullable(),
  createdAt: z.string().nullable(),
  updatedAt: z.string().nullable(),
  readyAt: z.string().nullable(),
});

export const GetUploadUrlInput = z.strictObject({
  contentType: z.string().min(1).max(127).describe("Media type of the file; must be on the allow-list"),
  size: z.number().int().positive().describe("Exact size of the file in bytes"),
  name: FileName.optional().describe("The file's name; `{fileId}{.ext}` when omitted"),
  tags: Tags.optional(),
});

/**
 * `getUploadUrl`: creates the pending file record, reserving its size in the tenant's quota, and
 * returns a create-only PUT URL bound to the content type and exact size.
 */
export const getUploadUrl = tenantCallable(
  {
    name: "getUploadUrl",
    description:
      "Creates a pending file record (counted against the tenant's plan quota) and returns its fileId with a create-only V4 signed PUT URL bound to the content type and exact size; send the returned headers with the upload.",
    input: GetUploadUrlInput,
    output: UploadUrlOutput,
    permission: "files:write",
    idempotent: true,
    rateLimits: ["getUploadUrl"],
  },
  async ({ data, tenant, uid, db, runTransaction }): Promise<UploadUrl> => {
    const signing = await deps();
    // Everything about the input is checked before anything is written or signed.
    const upload = checkUpload(data, signing.policy);
    const fileId = newFileId();
    const path = fileObjectPath(tenant.id, fileId);
    try {
      await reservePendingFile(
        db,
        runTransaction,
        {
          fileId,
          name: upload.name ?? defaultFileName(fileId, upload.contentType),
          contentType: upload.contentType,
          size: upload.size,
          tags: data.tags ?? [],
          uploadedBy: uid,
          objectPath: path,
          sweepAt: Date.now() + signing.policy.expirySeconds * 1000 + PENDING_GRACE_MS,
        },
        { plan: tenant.plan, ...quotaOf(tenant.plan) },
      );
    } catch (error) {
      if (error instanceof AppError && error.details.reason === "quota-exceeded") {
        metrics.inc("storage_signed_urls_total", { action: "upload", outcome: "quota-exceeded" });
      }
      throw error;
    }
    return { fileId, ...(await signUploadUrl(path, upload, signing)) };
  },
);

export const GetDownloadUrlInput = z.strictObject({
  fileId: FileId,
  disposition: z.enum(["attachment", "inline"]).optional().describe("Content-Disposition of the response"),
});

/** `getDownloadUrl`: a GET URL for a ready file of the caller's tenant. */
export const getDownloadUrl = tenantCallable(
  {
    name: "getDownloadUrl",
    description:
      "Returns a V4 signed GET URL for a ready file of the caller's tenant, served as an attachment named after the file unless `inline` is asked for.",
    input: GetDownloadUrlInput,
    output: SignedUrlOutput,
    permission: "files:read",
  },
  async ({ data, db, tenant }): Promise<SignedUrl> => {
    const record = (await db.doc(`files/${data.fileId}`).get()).data();
    if (!isVisible(record)) throw notFound("File not found.");
    if (record.status !== "ready") throw failedPrecondition("The file's upload has not completed.", "file-not-ready");
    const name = String(record.name);
    return signDownloadUrl(
      fileObjectPath(tenant.id, data.fileId),
      { filename: name.slice(name.lastIndexOf("/") + 1), disposition: data.disposition },
      await deps(),
    );
  },
);

const NamePrefix = z
  .string()
  .regex(/^[A-Za-z0-9._/-]{1,512}$/, "must be the start of a file name")
  .describe("Only files whose name starts with this; the list is then ordered by name");

export const ListFilesInput = z.strictObject({
  limit: z.number().int().min(1).max(100).default(25),
  after: FileId.optional().describe("The last fileId of the previous page (`next`)"),
  tag: Tag.optional().describe("Only files carrying this tag"),
  namePrefix: NamePrefix.optional(),
  status: z.enum(["pending", "ready", "failed"]).optional().describe("Only files in this status"),
});

/** `listFiles`: the tenant's files, newest first (or by name with a prefix), paginated. */
export const listFiles = tenantCallable(
  {
    name: "listFiles",
    description:
      "Lists the tenant's files, newest first or by name when filtered by name prefix; optional tag and status filters; paginated with `after`.",
    input: ListFilesInput,
    output: z.object({ items: z.array(FileOutput), next: z.string().nullable() }),
    permission: "files:read",
  },
  async ({ data, db }) => {
    let query = db
      .collection("files")
      .where("status", "in", data.status ? [data.status] : ["pending", "ready", "failed"]);
    if (data.tag) query = query.where("tags", "array-contains", data.tag);
    if (data.namePrefix) {
      // Names use a small ASCII alphabet, so "\x7f" sorts after every name with the prefix.
      query = query.where("name", ">=", data.namePrefix).where("name", "<", `${data.namePrefix}\x7f`).orderBy("name");
    } else {
      query = query.orderBy("createdAt", "desc");
    }
    if (data.after) {
      const cursor = await db.doc(`files/${data.after}`).get();
      if (cursor.exists) query = query.startAfter(cursor);
    }
    const snap = await query.limit(data.limit + 1).get();
    const docs = snap.docs.slice(0, data.limit);
    return {
      items: docs.map((d) => fileView(d.id, d.data())),
      next: snap.docs.length > data.limit ? docs[docs.length - 1].id : null,
    };
  },
);

/** `getFile`: one file record. */
export const getFile = tenantCallable(
  {
    name: "getFile",
    description: "Returns one file record of the caller's tenant.",
    input: z.strictObject({ fileId: FileId }),
    output: FileOutput,
    permission: "files:read",
  },
  async ({ data, db }): Promise<FileView> => {
    const record = (await db.doc(`files/${data.fileId}`).get()).data();
    if (!isVisible(record)) throw notFound("File not found.");
    return fileView(data.fileId, record);
  },
);

/** `updateFile`: renames a file and/or replaces its tags (the object itself never moves). */
export const updateFile = tenantCallable(
  {
    name: "updateFile",
    description: "Renames a file and/or replaces its tags; the stored object is not touched.",
    input: z
      .strictObject({ fileId: FileId, name: FileName.optional(), tags: Tags.optional() })
      .refine((d) => d.name !== undefined || d.tags !== undefined, { message: "give name and/or tags" }),
    output: FileOutput,
    permission: "files:write",
  },
  async ({ data, db }): Promise<FileView> => {
    const patch = {
      ...(data.name !== undefined ? { name: checkedName(data.name) } : {}),
      ...(data.tags !== undefined ? { tags: data.tags } : {}),
    };
    return updateFileRecord(db, data.fileId, patch);
  },
);

/** `deleteFile`: gives back the file's quota, deletes its object, then its record. */
export const deleteFile = tenantCallable(
  {
    name: "deleteFile",
    description:
      "Deletes a file: its quota is released and it disappears from listings at once; the object and the record follow (the sweeper finishes if Storage is unavailable).",
    input: z.strictObject({ fileId: FileId }),
    output: z.object({ fileId: z.string(), deleted: z.literal(true) }),
    permission: "files:delete",
  },
  async ({ data, db, tenant }) => {
    if (!(await tombstone(db, data.fileId))) throw notFound("File not found.");
    try {
      await objectStore().delete(fileObjectPath(tenant.id, data.fileId));
      await removeTombstone(db, data.fileId);
    } catch (error) {
      // The tombstone is due for the sweeper, which retries; the client's delete has happened.
      log.warn("file object deletion deferred to the sweeper", { fileId: data.fileId, ...describeError(error) });
    }
    return { fileId: data.fileId, deleted: true as const };
  },
);

/**
 * Completes uploads: listens to the project's default bucket (see docs/core-modules.md, Files,
 * for STORAGE_BUCKET) and hands each finalized object to `handleObjectFinalized`.
 */
export const finalizeFileUpload = onObjectFinalized({ retry: true }, (event) =>
  withInvocation({ fn: "finalizeFileUpload" }, async () => {
    await handleObjectFinalized(event.data, { bucket: (await tenantBucket()).name });
  }),
);

/** Removes abandoned pending uploads and finishes deferred deletions. */
export const sweepFiles = onSchedule({ schedule: "every 15 minutes", timeoutSeconds: 300 }, () =>
  withInvocation({ fn: "sweepFiles" }, async () => {
    await runFileSweep();
  }),
);
