/**
 * The Cloud Storage operations the files module performs besides signing: deleting an object.
 * They go through this small port so the trigger, the sweeper and `deleteFile` can be tested
 * without a Storage emulator (there is none on the test machines); production uses the Admin
 * SDK's Storage client on the tenant bucket.
 */
import { tenantBucket } from "./signer";

export interface ObjectStore {
  /**
   * Deletes `path`; with `generation`, only that generation (so a newer object of the same name
   * is never removed by a stale decision). An object that is already gone is not an error.
   */
  delete(path: string, generation?: string): Promise<void>;
}

const bucketStore: ObjectStore = {
  async delete(path, generation) {
    const bucket = await tenantBucket();
    await bucket.file(path, generation !== undefined ? { generation } : {}).delete({ ignoreNotFound: true });
  },
};

let override: ObjectStore | undefined;

/** Replaces the object store (tests); `undefined` restores the Admin SDK's. */
export function setObjectStore(store: ObjectStore | undefined): void {
  override = store;
}

/** The object store in use. */
export function objectStore(): ObjectStore {
  return override ?? bucketStore;
}
