/**
 * File records `tenants/{tid}/files/{fileId}` and the tenant's usage counter
 * `tenants/{tid}/usage/files` ({bytes, files}).
 *
 *   pending ──finalize (size and type match)──▶ ready
 *      │  └──finalize (mismatch)──▶ failed (object deleted)
 *      └──expired (sweeper)──┐
 *   ready ──deleteFile───────┴──▶ deleted (tombstone) ──object deleted──▶ record removed
 *
 * The usage counter includes pending uploads: `getUploadUrl` reserves the declared size and one
 * file in the same transaction that creates the pending record, after checking the plan's quota
 * against the counter it read, so concurrent uploads can never overshoot it (the transaction
 * that loses the race re-reads the counter). Every transition that leaves pending or ready
 * (failed, deleted) gives the reservation back in the transaction that makes it, so a record's
 * reservation is released exactly once. Cost: one counter read and two writes per upload, one
 * read and write per finalize, and the counter is one document per tenant — sustained uploads
 * per tenant are bounded by Firestore's write rate on one document (about one per second
 * sustained, more in bursts).
 */
import type { DocumentData, DocumentReference, Transaction } from "firebase-admin/firestore";
import { AppError, notFound } from "../platform/errors";
import { FieldValue, Timestamp, isoTime, isTimestamp } from "../platform/firestore-sdk";
import type { TenantDb } from "../tenancy/db";
import type { FileQuota, Plan } from "./plans";

export const FILE_STATUSES = ["pending", "ready", "failed", "deleted"] as const;
export type FileStatus = (typeof FILE_STATUSES)[number];

/** How long failed records and deletion tombstones are kept before Firestore's TTL removes them. */
export const RETENTION_MS = 7 * 86_400_000;

const USAGE = "usage/files";

export interface Usage {
  bytes: number;
  files: number;
}

/** A file record as clients see it. */
export interface FileView {
  fileId: string;
  name: string;
  contentType: string;
  size: number;
  status: Exclude<FileStatus, "deleted">;
  tags: string[];
  uploadedBy: string;
  checksum: { md5Hash?: string; crc32c?: string } | null;
  failure: { reason: string } | null;
  createdAt: string | null;
  updatedAt: string | null;
  readyAt: string | null;
}

type Run = <T>(fn: (tx: Transaction) => Promise<T>) => Promise<T>;

function statusOf(data: DocumentData): FileStatus {
  return (FILE_STATUSES as readonly string[]).includes(data.status) ? (data.status as FileStatus) : "deleted";
}

/** True for a record that a client may see (not a deletion tombstone). */
export function isVisible(data: DocumentData | undefined): data is DocumentData {
  return data !== undefined && statusOf(data) !== "deleted";
}

/** The client's view of a stored record. */
export function fileView(fileId: string, data: DocumentData): FileView {
  const checksum = data.checksum && typeof data.checksum === "object" ? (data.checksum as FileView["checksum"]) : null;
  return {
    fileId,
    name: String(data.name ?? ""),
    contentType: String(data.contentType ?? ""),
    size: Number(data.size ?? 0),
    status: statusOf(data) as FileView["status"],
    tags: Array.isArray(data.tags) ? data.tags.map(String) : [],
    uploadedBy: String(data.uploadedBy ?? ""),
    checksum,
    failure: typeof data.failure?.reason === "string" ? { reason: data.failure.reason } : null,
    createdAt: isoTime(data.createdAt),
    updatedAt: isoTime(data.updatedAt),
    readyAt: isoTime(data.readyAt),
  };
}

function usageOf(data: DocumentData | undefined): Usage {
  return { bytes: Number(data?.bytes ?? 0), files: Number(data?.files ?? 0) };
}

/** The tenant's current usage (outside any transaction; for display and tests). */
export async function readUsage(db: TenantDb): Promise<Usage> {
  return usageOf((await db.doc(USAGE).get()).data());
}

/** Gives back one record's reservation (call only for a record leaving pending or ready). */
async function release(tx: Transaction, db: TenantDb, size: number): Promise<void> {
  const ref = db.doc(USAGE);
  const usage = usageOf((await tx.get(ref)).data());
  tx.set(ref, { bytes: usage.bytes - size, files: usage.files - 1, updatedAt: FieldValue.serverTimestamp() });
}

function holdsReservation(status: FileStatus): boolean {
  return status === "pending" || status === "ready";
}

export interface PendingFile {
  fileId: string;
  name: string;
  contentType: string;
  size: number;
  tags: string[];
  uploadedBy: string;
  objectPath: string;
  /** When the sweeper may remove the upload if it never completed (URL expiry plus a grace). */
  sweepAt: number;
}

/**
 * Creates a pending record and reserves its size in the usage counter, or throws
 * `resource-exhausted` (reason `quota-exceeded`) when the plan's quota would be exceeded.
 */
export async function reservePendingFile(
  db: TenantDb,
  run: Run,
  file: PendingFile,
  quota: FileQuota & { plan: Plan },
): Promise<void> {
  try {
    await reserve(db, run, file, quota);
  } catch (error) {
    // gRPC ABORTED: the SDK's transaction retries all lost to concurrent uploads of this tenant.
    // Nothing was written; the client may simply retry.
    if ((error as { code?: unknown })?.code === 10) {
      throw new AppError("aborted", "Too many uploads at once for this tenant; retry.", {
        reason: "contention",
        retryAfterSeconds: 1,
      });
    }
    throw error;
  }
}

async function reserve(db: TenantDb, run: Run, file: PendingFile, quota: FileQuota & { plan: Plan }): Promise<void> {
  await run(async (tx) => {
    const usageRef = db.doc(USAGE);
    const usage = usageOf((await tx.get(usageRef)).data());
    if (usage.files + 1 > quota.maxFiles || usage.bytes + file.size > quota.maxBytes) {
      throw new AppError("resource-exhausted", "The tenant's file quota is used up.", {
        reason: "quota-exceeded",
        plan: quota.plan,
        quota: { maxBytes: quota.maxBytes, maxFiles: quota.maxFiles },
        usage,
      });
    }
    const now = Timestamp.now();
    tx.set(usageRef, {
      bytes: usage.bytes + file.size,
      files: usage.files + 1,
      updatedAt: FieldValue.serverTimestamp(),
    });
    tx.create(db.doc(`files/${file.fileId}`), {
      name: file.name,
      contentType: file.contentType,
      size: file.size,
      status: "pending",
      tags: file.tags,
      uploadedBy: file.uploadedBy,
      objectPath: file.objectPath,
      createdAt: now,
      updatedAt: now,
      sweepAt: Timestamp.fromMillis(file.sweepAt),
      // Firestore's TTL is only the backstop: the sweeper gives the reservation back long before.
      expireAt: Timestamp.fromMillis(file.sweepAt + RETENTION_MS),
    });
  });
}

/** What Cloud Storage reports about a finalized object. */
export interface FinalizedObject {
  size: number;
  contentType: string;
  generation: string;
  md5Hash?: string;
  crc32c?: string;
}

export type FinalizeOutcome =
  | "ready"
  | "size-mismatch"
  | "content-type-mismatch"
  /** The same generation again (events arrive at least once). */
  | "duplicate"
  /** No pending record for it: never signed, deleted, or swept before the upload finished. */
  | "orphan"
  /** A record that already finished with another generation; left alone and logged. */
  | "unexpected";

/**
 * Applies a finalized object to its record: `ready` when its size and content type are the
 * signed ones, `failed` otherwise (the caller then deletes the object).
 */
export async function finalizeFile(db: TenantDb, fileId: string, object: FinalizedObject): Promise<FinalizeOutcome> {
  const ref = db.doc(`files/${fileId}`);
  return db.runTransaction(async (tx): Promise<FinalizeOutcome> => {
    const snap = await tx.get(ref);
    const data = snap.data();
    if (!data) return "orphan";
    const status = statusOf(data);
    if (status === "deleted") return "orphan";
    if (status !== "pending") return data.generation === object.generation ? "duplicate" : "unexpected";
    const outcome: FinalizeOutcome =
      object.size !== Number(data.size)
        ? "size-mismatch"
        : object.contentType.toLowerCase() !== String(data.contentType)
          ? "content-type-mismatch"
          : "ready";
    const now = Timestamp.now();
    if (outcome === "ready") {
      tx.update(ref, {
        status: "ready",
        generation: object.generation,
        checksum: {
          ...(object.md5Hash ? { md5Hash: object.md5Hash } : {}),
          ...(object.crc32c ? { crc32c: object.crc32c } : {}),
        },
        readyAt: now,
        updatedAt: now,
        sweepAt: FieldValue.delete(),
        expireAt: FieldValue.delete(),
      });
      return outcome;
    }
    await release(tx, db, Number(data.size));
    tx.update(ref, {
      status: "failed",
      generation: object.generation,
      failure: { reason: outcome, size: object.size, contentType: object.contentType },
      updatedAt: now,
      sweepAt: FieldValue.delete(),
      expireAt: Timestamp.fromMillis(now.toMillis() + RETENTION_MS),
    });
    return outcome;
  });
}

/**
 * Turns a record into a deletion tombstone and gives back its reservation: `deleteFile` (any
 * visible record) or the sweeper (`onlyExpiredPendingAt`: a pending record whose sweep time has
 * passed). Returns the record as it was, or undefined when there was nothing to do. The caller
 * then deletes the object and the tombstone; a tombstone left by a failure there is swept again.
 */
export async function tombstone(
  db: TenantDb,
  fileId: string,
  options: { onlyExpiredPendingAt?: number } = {},
): Promise<DocumentData | undefined> {
  const ref = db.doc(`files/${fileId}`);
  return db.runTransaction(async (tx) => {
    const data = (await tx.get(ref)).data();
    if (!isVisible(data)) return undefined;
    const status = statusOf(data);
    if (options.onlyExpiredPendingAt !== undefined) {
      const sweepAt = isTimestamp(data.sweepAt) ? data.sweepAt.toMillis() : Infinity;
      if (status !== "pending" || sweepAt > options.onlyExpiredPendingAt) return undefined;
    }
    if (holdsReservation(status)) await release(tx, db, Number(data.size));
    const now = Timestamp.now();
    tx.update(ref, {
      status: "deleted",
      deletedFrom: status,
      updatedAt: now,
      sweepAt: now,
      expireAt: Timestamp.fromMillis(now.toMillis() + RETENTION_MS),
    });
    return data;
  });
}

/** Removes a deletion tombstone once its object is gone (a record in any other state stays). */
export async function removeTombstone(db: TenantDb, fileId: string): Promise<void> {
  const ref = db.doc(`files/${fileId}`);
  await db.runTransaction(async (tx) => {
    const data = (await tx.get(ref)).data();
    if (data && statusOf(data) === "deleted") tx.delete(ref);
  });
}

/**
 * Moves a due record's `sweepAt` to `until` after a failed sweep, so records that keep failing
 * (say, an object Storage refuses to delete) do not hold the head of the sweeper's queue.
 */
export async function postponeSweep(db: TenantDb, fileId: string, until: number): Promise<void> {
  const ref = db.doc(`files/${fileId}`);
  await db.runTransaction(async (tx) => {
    const data = (await tx.get(ref)).data();
    if (data && isTimestamp(data.sweepAt)) tx.update(ref, { sweepAt: Timestamp.fromMillis(until) });
  });
}

/** Updates a visible record's name and/or tags; `not-found` for a missing or deleted one. */
export async function updateFileRecord(
  db: TenantDb,
  fileId: string,
  patch: { name?: string; tags?: string[] },
): Promise<FileView> {
  const ref: DocumentReference = db.doc(`files/${fileId}`);
  return db.runTransaction(async (tx) => {
    const data = (await tx.get(ref)).data();
    if (!isVisible(data)) throw notFound("File not found.");
    const changes = { ...patch, updatedAt: Timestamp.now() };
    tx.update(ref, changes);
    return fileView(fileId, { ...data, ...changes });
  });
}
