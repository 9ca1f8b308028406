/**
 * The quota reservation's error mapping, without Firestore: when every transaction attempt lost
 * to concurrent uploads (gRPC ABORTED), the client gets a retryable `aborted`, not `internal`.
 * (The reservation itself is tested against the Firestore emulator in
 * test/integration/storage.test.ts.)
 */
import type { Firestore, Transaction } from "firebase-admin/firestore";
import { AppError } from "../../src/platform/errors";
import { reservePendingFile, type PendingFile } from "../../src/storage/records";
import { TenantDb } from "../../src/tenancy/db";

const db = new TenantDb("t1", {} as Firestore);
const file: PendingFile = {
  fileId: "0123456789abcdef0123456789abcdef",
  name: "a.png",
  contentType: "image/png",
  size: 1,
  tags: [],
  uploadedBy: "u1",
  objectPath: "tenants/t1/files/0123456789abcdef0123456789abcdef",
  sweepAt: 0,
};
const quota = { plan: "free" as const, maxBytes: 10, maxFiles: 10 };

function failingRun(error: unknown) {
  return async <T>(_fn: (tx: Transaction) => Promise<T>): Promise<T> => {
    throw error;
  };
}

describe("reservePendingFile under contention", () => {
  it("answers a transaction that kept aborting with a retryable aborted", async () => {
    const aborted = Object.assign(new Error("10 ABORTED: Transaction lock timeout"), { code: 10 });
    const error = await reservePendingFile(db, failingRun(aborted), file, quota).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: "aborted", details: { reason: "contention", retryAfterSeconds: 1 } });
  });

  it("passes any other failure through unchanged", async () => {
    const other = Object.assign(new Error("14 UNAVAILABLE"), { code: 14 });
    await expect(reservePendingFile(db, failingRun(other), file, quota)).rejects.toBe(other);
  });
});
