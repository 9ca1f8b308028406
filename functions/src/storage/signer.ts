/**
 * Where signed URLs get their bucket, and so their signer.
 *
 * Production: the Admin SDK's Cloud Storage client with application default credentials. The
 * runtime service account has no private key, so the client signs through the IAM Credentials
 * `signBlob` API; the account needs `roles/iam.serviceAccountTokenCreator` on itself
 * (docs/operations.md). Under the emulators, where there are no credentials, an ephemeral key
 * generated per instance signs instead (the Storage emulator does not check signatures), and
 * URLs point at FIREBASE_STORAGE_EMULATOR_HOST. Tests inject a bucket built on a key they
 * generate, so they can verify the signature itself.
 *
 * `@google-cloud/storage` is loaded only when a URL is first signed.
 */
import type { Bucket } from "@google-cloud/storage";
import { adminApp } from "../platform/admin";
import { params, runtime } from "../platform/config";

export type BucketFactory = (name: string | undefined) => Promise<Bucket>;

let override: BucketFactory | undefined;
const buckets = new Map<string, Promise<Bucket>>();

/** Replaces how buckets are obtained (tests); `undefined` restores the default. */
export function setBucketFactory(factory: BucketFactory | undefined): void {
  override = factory;
  buckets.clear();
}

async function emulatorBucket(name: string | undefined): Promise<Bucket> {
  const { generateKeyPairSync } = await import("node:crypto");
  const { Storage } = await import("@google-cloud/storage");
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const project = runtime.projectId() || "demo-project";
  const storage = new Storage({
    projectId: project,
    apiEndpoint: runtime.storageEmulatorHost() ? `http://${runtime.storageEmulatorHost()}` : undefined,
    credentials: {
      client_email: `emulator-signer@${project}.iam.gserviceaccount.com`,
      private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    },
  });
  return storage.bucket(name ?? adminApp().options.storageBucket ?? `${project}.appspot.com`);
}

async function adminBucket(name: string | undefined): Promise<Bucket> {
  const { getStorage } = await import("firebase-admin/storage");
  return getStorage(adminApp()).bucket(name);
}

/** The bucket for tenant objects: STORAGE_BUCKET, or the project's default bucket. */
export function tenantBucket(): Promise<Bucket> {
  const name = params.storageBucket.value() || undefined;
  const key = name ?? "";
  let bucket = buckets.get(key);
  if (!bucket) {
    const factory: BucketFactory = override ?? (runtime.isEmulator() ? emulatorBucket : adminBucket);
    bucket = factory(name);
    buckets.set(key, bucket);
    // A failed creation is not cached, so the next call retries.
    bucket.catch(() => buckets.delete(key));
  }
  return bucket;
}
