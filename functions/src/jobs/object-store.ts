/**
 * Where jobs put files: a small port over the tenant bucket, so `tenant.export` and
 * `tenant.purge` can be tested without Cloud Storage (there is no Storage emulator here). The
 * default writes through @google-cloud/storage and signs V4 download URLs with the storage
 * module's signer; tests install their own store with `setJobObjectStore`.
 */
import { intValue, params } from "../platform/config";
import { signDownloadUrl, type SignedUrl } from "../storage/service";
import { tenantBucket } from "../storage/signer";

export interface JobObjectStore {
  /** Writes `content` at the full object path `path` (under `tenants/{tid}/`). */
  write(path: string, content: Buffer, contentType: string): Promise<void>;
  /** A signed GET URL for an object of `tenantId`. */
  signedDownloadUrl(tenantId: string, path: string): Promise<SignedUrl>;
  /** Deletes every object under `prefix`; returns how many were deleted. */
  deletePrefix(prefix: string): Promise<number>;
}

/** The production store: the tenant bucket, with the storage module's V4 signer. */
export const bucketObjectStore: JobObjectStore = {
  async write(path, content, contentType) {
    const bucket = await tenantBucket();
    await bucket.file(path).save(content, { contentType, resumable: false });
  },
  async signedDownloadUrl(tenantId, path) {
    const bucket = await tenantBucket();
    const expirySeconds = intValue(params.storageUrlExpirySeconds);
    return signDownloadUrl(
      { tenantId, path },
      { bucket, policy: { expirySeconds, maxUploadBytes: 0, allowedContentTypes: [] } },
    );
  },
  async deletePrefix(prefix) {
    const bucket = await tenantBucket();
    const [files] = await bucket.getFiles({ prefix });
    await Promise.all(files.map((file) => file.delete({ ignoreNotFound: true })));
    return files.length;
  },
};

let store: JobObjectStore = bucketObjectStore;

/** Replaces the object store (tests); `undefined` restores the bucket. */
export function setJobObjectStore(next: JobObjectStore | undefined): void {
  store = next ?? bucketObjectStore;
}

export function jobObjectStore(): JobObjectStore {
  return store;
}
