/**
 * Files through the real pipeline (Auth emulator ID tokens, records and usage in the Firestore
 * emulator): every callable, the quota under concurrency, the Storage trigger's handler driven by
 * firebase-functions-test storage events, and the sweeper.
 *
 * Not executed against Cloud Storage (there is no Storage emulator here): URLs are signed by a key
 * generated for this run and their V4 signatures verified against its public key, and object
 * deletions go to a recording object store in place of the Admin SDK's Storage client.
 */
import type { KeyObject } from "node:crypto";
import functionsTest from "firebase-functions-test";
import { HttpsError } from "firebase-functions/v2/https";
import { rootFirestore } from "../../src/platform/admin";
import {
  deleteFile,
  finalizeFileUpload,
  getDownloadUrl,
  getFile,
  getUploadUrl,
  listFiles,
  updateFile,
  type FileView,
  type SignedUrl,
  type UploadUrl,
} from "../../src/storage";
import { setObjectStore } from "../../src/storage/objects";
import { quotaOf } from "../../src/storage/plans";
import { readUsage } from "../../src/storage/records";
import { setBucketFactory } from "../../src/storage/signer";
import { tenantDbFor } from "../../src/storage/store";
import { runFileSweep } from "../../src/storage/sweeper";
import { RecordingObjectStore, useThrowawaySigner, verifyV4 } from "../support/storage";
import { callAs, countOps, createTestUser, expectHttpsError, seedTenant, type TestUser } from "../support/firebase";

jest.setTimeout(60_000);

const BUCKET = "demo-saas-core.appspot.com";
const fft = functionsTest({ projectId: process.env.GCLOUD_PROJECT, storageBucket: BUCKET });

let publicKey: KeyObject;
let store: RecordingObjectStore;
let owner: TestUser;
let admin: TestUser;
let member: TestUser;
let viewer: TestUser;
let outsider: TestUser;
let tid: string;
let otherTid: string;

beforeAll(async () => {
  publicKey = useThrowawaySigner().publicKey;
  [owner, admin, member, viewer, outsider] = await Promise.all(Array.from({ length: 5 }, () => createTestUser()));
  tid = await seedTenant({
    owner: { user: owner, roles: ["owner"] },
    admin: { user: admin, roles: ["admin"] },
    member: { user: member, roles: ["member"] },
    viewer: { user: viewer, roles: ["viewer"] },
  });
  otherTid = await seedTenant({ outsider: { user: outsider, roles: ["owner"] } });
});

beforeEach(() => {
  store = new RecordingObjectStore();
  setObjectStore(store);
});

afterAll(() => {
  setBucketFactory(undefined);
  setObjectStore(undefined);
  fft.cleanup();
});

/** A new tenant with a new member (seeding switches the member's active tenant, so users are not shared). */
async function freshTenant(): Promise<{ t: string; user: TestUser }> {
  const user = await createTestUser();
  return { t: await seedTenant({ user: { user, roles: ["member"] } }), user };
}

const record = async (t: string, fileId: string) =>
  (await rootFirestore().doc(`tenants/${t}/files/${fileId}`).get()).data();
const usage = (t: string) => readUsage(tenantDbFor(t));

/** Delivers a Storage "object finalized" event to the deployed trigger, as Eventarc would. */
async function finalize(object: Record<string, unknown>): Promise<void> {
  await fft.wrap(finalizeFileUpload as never)({ data: { bucket: BUCKET, ...object } } as never);
}

/** Uploads (as far as Firestore can see): a signed upload whose object then finalizes as declared. */
async function uploaded(user: TestUser, input: Record<string, unknown>): Promise<UploadUrl> {
  const signed = await callAs<UploadUrl>(getUploadUrl, user, input);
  await finalize({
    name: signed.path,
    size: String(input.size),
    contentType: String(input.contentType),
    generation: "1700000000000001",
    md5Hash: "md5-of-it",
    crc32c: "crc-of-it",
  });
  return signed;
}

describe("getUploadUrl", () => {
  it("creates a pending record, reserves its size, and signs a create-only PUT bound to type and size", async () => {
    const { t, user } = await freshTenant();
    const { result, ops } = await countOps(() =>
      callAs<UploadUrl>(getUploadUrl, user, {
        contentType: "image/png",
        size: 2048,
        name: "avatars/me.png",
        tags: ["avatar", "avatar", "profile"],
      }),
    );
    expect(result.fileId).toMatch(/^[0-9a-f]{32}$/);
    expect(result.path).toBe(`tenants/${t}/files/${result.fileId}`);
    expect(result.headers).toEqual({
      "content-type": "image/png",
      "x-goog-content-length-range": "2048,2048",
      "x-goog-if-generation-match": "0",
    });
    const q = verifyV4(result.url, "PUT", result.headers, publicKey);
    expect(q.get("X-Goog-SignedHeaders")).toBe(
      "content-type;host;x-goog-content-length-range;x-goog-if-generation-match",
    );
    expect(q.get("X-Goog-Expires")).toBe("900");
    expect(new URL(result.url).pathname).toBe(`/${BUCKET}/${result.path}`);

    const stored = await record(t, result.fileId);
    expect(stored).toMatchObject({
      name: "avatars/me.png",
      contentType: "image/png",
      size: 2048,
      status: "pending",
      tags: ["avatar", "profile"],
      uploadedBy: user.uid,
      objectPath: result.path,
    });
    // The sweeper may act an hour after the URL expires; Firestore's TTL is a later backstop.
    const sweepAt = stored!.sweepAt.toMillis();
    expect(sweepAt - Date.parse(result.expiresAt)).toBeGreaterThanOrEqual(3_599_000);
    expect(stored!.expireAt.toMillis()).toBeGreaterThan(sweepAt);
    expect(await usage(t)).toEqual({ bytes: 2048, files: 1 });
    // One transaction: the usage counter read, the counter and the record written.
    const own = ops.log.filter((e) => e.path.startsWith(`tenants/${t}/`) && !e.path.includes("/members/"));
    expect(
      own
        .filter((e) => e.kind === "write")
        .map((e) => e.path)
        .sort(),
    ).toEqual([`tenants/${t}/files/${result.fileId}`, `tenants/${t}/usage/files`].sort());
  });

  it("with an idempotency key, a retry gets the same file and URL and reserves nothing twice", async () => {
    const { t, user } = await freshTenant();
    const input = { contentType: "image/png", size: 64, idempotencyKey: "upload-retry-1" };
    const first = await callAs<UploadUrl>(getUploadUrl, user, input);
    const retry = await callAs<UploadUrl>(getUploadUrl, user, input);
    expect(retry).toEqual(first);
    expect(await usage(t)).toEqual({ bytes: 64, files: 1 });
    expect((await rootFirestore().collection(`tenants/${t}/files`).get()).size).toBe(1);
  });

  it("names the file after its id when no name is given", async () => {
    const signed = await callAs<UploadUrl>(getUploadUrl, member, { contentType: "application/pdf", size: 5 });
    expect((await record(tid, signed.fileId))?.name).toBe(`${signed.fileId}.pdf`);
  });

  it.each([
    ["a name with '..'", { contentType: "image/png", size: 1, name: "../x.png" }, "invalid-object-name"],
    ["a name with '..' inside", { contentType: "image/png", size: 1, name: "a/../../b.png" }, "invalid-object-name"],
    [
      "a name with a control character",
      { contentType: "image/png", size: 1, name: "a\u0007.png" },
      "invalid-object-name",
    ],
    ["a name with a newline", { contentType: "image/png", size: 1, name: "a\nb.png" }, "invalid-object-name"],
    ["an oversize name", { contentType: "image/png", size: 1, name: "a".repeat(513) }, undefined],
    ["an oversize file", { contentType: "image/png", size: 10 * 1024 * 1024 + 1 }, "too-large"],
    ["a disallowed type", { contentType: "text/html", size: 10 }, "content-type-not-allowed"],
    ["an unknown field", { contentType: "image/png", size: 1, bucket: "other" }, undefined],
    ["a bad tag", { contentType: "image/png", size: 1, tags: ["../x"] }, undefined],
  ])("refuses %s with invalid-argument: no record, no reservation, no URL", async (_label, input, reason) => {
    const { t, user } = await freshTenant();
    const { result: error, ops } = await countOps(() =>
      expectHttpsError(callAs(getUploadUrl, user, input), "invalid-argument"),
    );
    if (reason) expect(error.details).toMatchObject({ reason });
    expect(Object.keys((error.details as { fields?: object }).fields ?? {}).length).toBeGreaterThan(0);
    expect(ops.log.filter((e) => e.kind !== "read" && e.path.startsWith(`tenants/${t}`))).toEqual([]);
    expect((await rootFirestore().collection(`tenants/${t}/files`).get()).size).toBe(0);
    expect(await usage(t)).toEqual({ bytes: 0, files: 0 });
  });

  it("is refused to a viewer (no files:write) and to anonymous callers", async () => {
    await expectHttpsError(callAs(getUploadUrl, viewer, { contentType: "image/png", size: 1 }), "permission-denied");
    await expectHttpsError(callAs(getUploadUrl, null, { contentType: "image/png", size: 1 }), "unauthenticated");
  });
});

describe("quotas", () => {
  // A safety limit, not a speed claim: contended transactions on the emulator retry with backoff,
  // which takes long on a loaded machine.
  jest.setTimeout(300_000);

  let user: TestUser;

  async function tenantWithUsage(plan: string | undefined, seeded: { bytes: number; files: number }) {
    const fresh = await freshTenant();
    user = fresh.user;
    // Set before the tenant is first resolved, so no instance has cached it without its plan.
    if (plan) await rootFirestore().doc(`tenants/${fresh.t}`).update({ plan });
    await rootFirestore().doc(`tenants/${fresh.t}/usage/files`).set(seeded);
    return fresh.t;
  }

  /**
   * `n` concurrent uploads, each retried as the client guide says when it answers `aborted`
   * (contention: every transaction attempt lost, nothing written), so each ends in a URL or a
   * quota refusal.
   */
  async function race(n: number, size: number) {
    const caller = user;
    const attempt = async (): Promise<UploadUrl> => {
      for (let i = 0; ; i++) {
        try {
          return await callAs<UploadUrl>(getUploadUrl, caller, { contentType: "text/csv", size });
        } catch (error) {
          if (!(error instanceof HttpsError && error.code === "aborted" && i < 20)) throw error;
          expect(error.details).toMatchObject({ reason: "contention" });
        }
      }
    };
    return Promise.allSettled(Array.from({ length: n }, attempt));
  }

  it("lets exactly the remaining file count through 20 concurrent calls at the edge of the quota", async () => {
    const { maxFiles } = quotaOf("free");
    const t = await tenantWithUsage(undefined, { bytes: 0, files: maxFiles - 7 });
    const results = await race(20, 100);
    const ok = results.filter((r): r is PromiseFulfilledResult<UploadUrl> => r.status === "fulfilled");
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(ok).toHaveLength(7);
    for (const r of refused) {
      expect(r.reason.code).toBe("resource-exhausted");
      expect(r.reason.details).toMatchObject({
        reason: "quota-exceeded",
        plan: "free",
        quota: { maxFiles },
      });
    }
    expect(await usage(t)).toEqual({ bytes: 700, files: maxFiles });
    const files = await rootFirestore().collection(`tenants/${t}/files`).get();
    expect(files.docs.map((d) => d.id).sort()).toEqual(ok.map((r) => r.value.fileId).sort());
  });

  it("lets exactly the remaining bytes through 20 concurrent calls, by the tenant's plan", async () => {
    const { maxBytes } = quotaOf("pro");
    expect(maxBytes).toBeGreaterThan(quotaOf("free").maxBytes);
    // 5 uploads of 1000 bytes fit; a free tenant with the same usage would fit none.
    const t = await tenantWithUsage("pro", { bytes: maxBytes - 5_500, files: 3 });
    const results = await race(20, 1000);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(5);
    for (const r of results.filter((r): r is PromiseRejectedResult => r.status === "rejected")) {
      expect(r.reason.code).toBe("resource-exhausted");
      expect(r.reason.details).toMatchObject({ reason: "quota-exceeded", plan: "pro" });
    }
    expect(await usage(t)).toEqual({ bytes: maxBytes - 500, files: 8 });
    expect((await rootFirestore().collection(`tenants/${t}/files`).get()).size).toBe(5);
  });

  it("refuses before signing and gives the quota back when a file is deleted or fails", async () => {
    const { maxFiles } = quotaOf("free");
    const t = await tenantWithUsage(undefined, { bytes: 0, files: maxFiles - 1 });
    const signed = await callAs<UploadUrl>(getUploadUrl, user, { contentType: "text/csv", size: 10 });
    const { result: error, ops } = await countOps(() =>
      expectHttpsError(callAs(getUploadUrl, user, { contentType: "text/csv", size: 10 }), "resource-exhausted"),
    );
    expect(error.details).toMatchObject({ reason: "quota-exceeded", usage: { files: maxFiles, bytes: 10 } });
    expect(ops.log.filter((e) => e.kind !== "read")).toEqual([]);
    // A mismatching object releases the reservation.
    await finalize({ name: signed.path, size: "11", contentType: "text/csv", generation: "7" });
    expect(await usage(t)).toEqual({ bytes: 0, files: maxFiles - 1 });
    await callAs<UploadUrl>(getUploadUrl, user, { contentType: "text/csv", size: 10 });
    expect(await usage(t)).toEqual({ bytes: 10, files: maxFiles });
  });
});

describe("the onObjectFinalized trigger", () => {
  it("marks the record ready with the checksums Storage reports, once, when size and type match", async () => {
    const signed = await callAs<UploadUrl>(getUploadUrl, member, { contentType: "image/png", size: 300 });
    const before = await usage(tid);
    const event = {
      name: signed.path,
      size: "300",
      contentType: "image/png",
      generation: "1700000000000123",
      md5Hash: "rL0Y20zC+Fzt72VPzMSk2A==",
      crc32c: "AAAAAA==",
    };
    await finalize(event);
    const stored = await record(tid, signed.fileId);
    expect(stored).toMatchObject({
      status: "ready",
      generation: "1700000000000123",
      checksum: { md5Hash: "rL0Y20zC+Fzt72VPzMSk2A==", crc32c: "AAAAAA==" },
    });
    expect(stored).not.toHaveProperty("sweepAt");
    expect(stored).not.toHaveProperty("expireAt");
    // Events arrive at least once: the same event again changes nothing and deletes nothing.
    const { ops } = await countOps(() => finalize(event));
    expect(ops.log.filter((e) => e.kind !== "read")).toEqual([]);
    expect(await record(tid, signed.fileId)).toEqual(stored);
    expect(await usage(tid)).toEqual(before);
    expect(store.deleted).toEqual([]);
  });

  it.each([
    ["a different size", { size: "301" }, "size-mismatch"],
    ["a different content type", { contentType: "text/html" }, "content-type-mismatch"],
  ])("deletes an object with %s and marks the record failed", async (_label, change, reason) => {
    const signed = await callAs<UploadUrl>(getUploadUrl, member, { contentType: "image/png", size: 300 });
    const before = await usage(tid);
    await finalize({ name: signed.path, size: "300", contentType: "image/png", generation: "42", ...change });
    expect(store.deleted).toEqual([{ path: signed.path, generation: "42" }]);
    const stored = await record(tid, signed.fileId);
    expect(stored).toMatchObject({ status: "failed", failure: { reason } });
    expect(stored!.expireAt.toMillis()).toBeGreaterThan(Date.now());
    expect(await usage(tid)).toEqual({ bytes: before.bytes - 300, files: before.files - 1 });
    const view = await callAs<FileView>(getFile, viewer, { fileId: signed.fileId });
    expect(view).toMatchObject({ status: "failed", failure: { reason } });
  });

  it("deletes an object that no pending record wants (never signed, or deleted before it arrived)", async () => {
    const stray = `tenants/${tid}/files/${"ab".repeat(16)}`;
    await finalize({ name: stray, size: "5", contentType: "image/png", generation: "9" });
    expect(store.deleted).toEqual([{ path: stray, generation: "9" }]);
    expect(await record(tid, "ab".repeat(16))).toBeUndefined();
  });

  it("ignores objects outside tenant file paths and other buckets, touching nothing", async () => {
    const signed = await callAs<UploadUrl>(getUploadUrl, member, { contentType: "image/png", size: 3 });
    const { ops } = await countOps(async () => {
      await finalize({ name: `tenants/${tid}/avatars/x.png`, size: "3", contentType: "image/png", generation: "1" });
      await finalize({ name: "public/readme.txt", size: "3", contentType: "text/plain", generation: "1" });
      await finalize({
        bucket: "someone-elses",
        name: signed.path,
        size: "3",
        contentType: "image/png",
        generation: "1",
      });
    });
    expect(ops.log).toEqual([]);
    expect(store.deleted).toEqual([]);
    expect((await record(tid, signed.fileId))?.status).toBe("pending");
  });
});

describe("getDownloadUrl", () => {
  it("signs a GET for a ready file, as an attachment named after the file, for a viewer", async () => {
    const { fileId, path } = await uploaded(member, { contentType: "application/pdf", size: 9, name: "r/q1.pdf" });
    const signed = await callAs<SignedUrl>(getDownloadUrl, viewer, { fileId });
    expect(signed.method).toBe("GET");
    expect(signed.path).toBe(path);
    const q = verifyV4(signed.url, "GET", {}, publicKey);
    expect(q.get("response-content-disposition")).toBe('attachment; filename="q1.pdf"');
    const inline = await callAs<SignedUrl>(getDownloadUrl, viewer, { fileId, disposition: "inline" });
    expect(verifyV4(inline.url, "GET", {}, publicKey).get("response-content-disposition")).toBe(
      'inline; filename="q1.pdf"',
    );
  });

  it("refuses a file whose upload has not completed", async () => {
    const { fileId } = await callAs<UploadUrl>(getUploadUrl, member, { contentType: "image/png", size: 1 });
    const error = await expectHttpsError(callAs(getDownloadUrl, viewer, { fileId }), "failed-precondition");
    expect(error.details).toMatchObject({ reason: "file-not-ready" });
  });

  it("answers not-found for another tenant's file and invalid-argument for a path instead of an id", async () => {
    const theirs = await uploaded(outsider, { contentType: "image/png", size: 4 });
    await expectHttpsError(callAs(getDownloadUrl, member, { fileId: theirs.fileId }), "not-found");
    await expectHttpsError(callAs(getDownloadUrl, member, { path: theirs.path }), "invalid-argument");
    await expectHttpsError(callAs(getDownloadUrl, member, { fileId: `../${otherTid}` }), "invalid-argument");
    const own = await callAs<SignedUrl>(getDownloadUrl, outsider, { fileId: theirs.fileId });
    expect(own.path).toBe(`tenants/${otherTid}/files/${theirs.fileId}`);
  });
});

describe("getFile, updateFile, listFiles", () => {
  let t: string;
  let member: TestUser;
  let viewer: TestUser;
  const ids: string[] = [];

  beforeAll(async () => {
    [member, viewer] = await Promise.all([createTestUser(), createTestUser()]);
    t = await seedTenant({ member: { user: member, roles: ["member"] }, viewer: { user: viewer, roles: ["viewer"] } });
    // Sequential, so creation order is the list order.
    for (const [name, tags] of [
      ["reports/2026/q1.pdf", ["finance"]],
      ["reports/2026/q2.pdf", ["finance", "draft"]],
      ["reports/2025/q4.pdf", ["finance"]],
      ["avatars/me.png", []],
      ["notes.csv", ["draft"]],
    ] as const) {
      const contentType = name.endsWith(".pdf") ? "application/pdf" : name.endsWith(".png") ? "image/png" : "text/csv";
      ids.push((await uploaded(member, { contentType, size: 10, name, tags: [...tags] })).fileId);
    }
    // One pending upload too.
    ids.push(
      (await callAs<UploadUrl>(getUploadUrl, member, { contentType: "text/csv", size: 1, name: "wip.csv" })).fileId,
    );
  });

  it("getFile returns the record as clients see it", async () => {
    const view = await callAs<FileView>(getFile, viewer, { fileId: ids[1] });
    expect(view).toMatchObject({
      fileId: ids[1],
      name: "reports/2026/q2.pdf",
      contentType: "application/pdf",
      size: 10,
      status: "ready",
      tags: ["finance", "draft"],
      uploadedBy: member.uid,
      checksum: { md5Hash: "md5-of-it", crc32c: "crc-of-it" },
      failure: null,
    });
    expect(Date.parse(view.readyAt!)).not.toBeNaN();
    expect(view).not.toHaveProperty("objectPath");
    await expectHttpsError(callAs(getFile, viewer, { fileId: "0".repeat(32) }), "not-found");
  });

  it("listFiles pages through the tenant's files newest first", async () => {
    const seen: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 10; page++) {
      const res = await callAs<{ items: FileView[]; next: string | null }>(listFiles, viewer, {
        limit: 4,
        ...(after ? { after } : {}),
      });
      seen.push(...res.items.map((f) => f.fileId));
      if (!res.next) break;
      after = res.next;
    }
    expect(seen).toEqual([...ids].reverse());
  });

  it("listFiles filters by tag, by status, and by name prefix (then ordered by name)", async () => {
    type Page = { items: FileView[]; next: string | null };
    const byTag = await callAs<Page>(listFiles, viewer, { tag: "draft" });
    expect(byTag.items.map((f) => f.name)).toEqual(["notes.csv", "reports/2026/q2.pdf"]);
    const pending = await callAs<Page>(listFiles, viewer, { status: "pending" });
    expect(pending.items.map((f) => f.name)).toEqual(["wip.csv"]);
    const prefix = await callAs<Page>(listFiles, viewer, { namePrefix: "reports/" });
    expect(prefix.items.map((f) => f.name)).toEqual([
      "reports/2025/q4.pdf",
      "reports/2026/q1.pdf",
      "reports/2026/q2.pdf",
    ]);
    const both = await callAs<Page>(listFiles, viewer, { namePrefix: "reports/2026/", tag: "draft", limit: 1 });
    expect(both).toEqual({ items: [expect.objectContaining({ name: "reports/2026/q2.pdf" })], next: null });
    await expectHttpsError(callAs(listFiles, viewer, { namePrefix: "a\u0000" }), "invalid-argument");
  });

  it("updateFile renames and retags without touching the object, and refuses bad names", async () => {
    const updated = await callAs<FileView>(updateFile, member, {
      fileId: ids[3],
      name: "avatars/me-2026.png",
      tags: ["profile"],
    });
    expect(updated).toMatchObject({ name: "avatars/me-2026.png", tags: ["profile"], status: "ready" });
    expect(await callAs<FileView>(getFile, viewer, { fileId: ids[3] })).toMatchObject({
      name: "avatars/me-2026.png",
      tags: ["profile"],
    });
    expect((await record(t, ids[3]))?.objectPath).toBe(`tenants/${t}/files/${ids[3]}`);
    for (const name of ["../escape.png", "a\u0000.png", "x".repeat(513)]) {
      await expectHttpsError(callAs(updateFile, member, { fileId: ids[3], name }), "invalid-argument");
    }
    await expectHttpsError(callAs(updateFile, member, { fileId: ids[3] }), "invalid-argument");
    await expectHttpsError(callAs(updateFile, viewer, { fileId: ids[3], tags: [] }), "permission-denied");
    await expectHttpsError(callAs(updateFile, member, { fileId: "0".repeat(32), tags: [] }), "not-found");
    expect((await record(t, ids[3]))?.name).toBe("avatars/me-2026.png");
  });
});

describe("deleteFile", () => {
  it("releases the quota, deletes the object and then the record; only with files:delete", async () => {
    const { fileId, path } = await uploaded(member, { contentType: "image/png", size: 77 });
    const before = await usage(tid);
    await expectHttpsError(callAs(deleteFile, member, { fileId }), "permission-denied");
    expect(await callAs(deleteFile, admin, { fileId })).toEqual({ fileId, deleted: true });
    expect(store.deleted).toEqual([{ path }]);
    expect(await record(tid, fileId)).toBeUndefined();
    expect(await usage(tid)).toEqual({ bytes: before.bytes - 77, files: before.files - 1 });
    await expectHttpsError(callAs(deleteFile, admin, { fileId }), "not-found");
    await expectHttpsError(callAs(getFile, viewer, { fileId }), "not-found");
  });

  it("answers not-found for another tenant's file and leaves it alone", async () => {
    const theirs = await uploaded(outsider, { contentType: "image/png", size: 4 });
    await expectHttpsError(callAs(deleteFile, owner, { fileId: theirs.fileId }), "not-found");
    expect((await record(otherTid, theirs.fileId))?.status).toBe("ready");
    expect(store.deleted).toEqual([]);
  });

  it("leaves a hidden tombstone for the sweeper when Storage fails, and the sweeper finishes it", async () => {
    const { fileId, path } = await uploaded(member, { contentType: "image/png", size: 5 });
    const before = await usage(tid);
    store.failWith = new Error("storage unavailable");
    expect(await callAs(deleteFile, owner, { fileId })).toEqual({ fileId, deleted: true });
    expect(await record(tid, fileId)).toMatchObject({ status: "deleted" });
    expect(await usage(tid)).toEqual({ bytes: before.bytes - 5, files: before.files - 1 });
    await expectHttpsError(callAs(getFile, viewer, { fileId }), "not-found");
    const listed = await callAs<{ items: FileView[] }>(listFiles, viewer, { limit: 100 });
    expect(listed.items.map((f) => f.fileId)).not.toContain(fileId);

    store.failWith = undefined;
    await runFileSweep({ store, batchSize: 500 });
    expect(store.deleted).toContainEqual({ path });
    expect(await record(tid, fileId)).toBeUndefined();
    // The reservation was given back once, not again by the sweeper.
    expect(await usage(tid)).toEqual({ bytes: before.bytes - 5, files: before.files - 1 });
  });
});

describe("the sweeper", () => {
  it("expires pending uploads past their time: reservation back, object and record removed", async () => {
    const { t, user } = await freshTenant();
    const stale = await callAs<UploadUrl>(getUploadUrl, user, { contentType: "image/png", size: 40 });
    const done = await uploaded(user, { contentType: "image/png", size: 2 });
    const sweepAt = (await record(t, stale.fileId))!.sweepAt.toMillis();

    // Before its time nothing happens to it.
    await runFileSweep({ store, now: () => sweepAt - 1, batchSize: 500 });
    expect((await record(t, stale.fileId))?.status).toBe("pending");
    expect(store.deleted.map((d) => d.path)).not.toContain(stale.path);

    const result = await runFileSweep({ store, now: () => sweepAt + 1, batchSize: 500 });
    expect(result.expired).toBeGreaterThanOrEqual(1);
    expect(store.deleted).toContainEqual({ path: stale.path });
    expect(await record(t, stale.fileId)).toBeUndefined();
    expect((await record(t, done.fileId))?.status).toBe("ready");
    expect(await usage(t)).toEqual({ bytes: 2, files: 1 });

    // An upload that completes after the sweep finds no record: its object is deleted.
    await finalize({ name: stale.path, size: "40", contentType: "image/png", generation: "5" });
    expect(store.deleted).toContainEqual({ path: stale.path, generation: "5" });
    expect(await usage(t)).toEqual({ bytes: 2, files: 1 });
  });

  it("retries a record whose object cannot be deleted an hour later, without releasing twice", async () => {
    const { t, user } = await freshTenant();
    const signed = await callAs<UploadUrl>(getUploadUrl, user, { contentType: "image/png", size: 6 });
    const sweepAt = (await record(t, signed.fileId))!.sweepAt.toMillis();
    store.failWith = new Error("permission denied by Storage");
    const failed = await runFileSweep({ store, now: () => sweepAt + 1, batchSize: 500 });
    expect(failed.failed).toBeGreaterThanOrEqual(1);
    const tombstone = await record(t, signed.fileId);
    expect(tombstone).toMatchObject({ status: "deleted" });
    expect(tombstone!.sweepAt.toMillis()).toBe(sweepAt + 1 + 3_600_000);
    expect(await usage(t)).toEqual({ bytes: 0, files: 0 });

    store.failWith = undefined;
    await runFileSweep({ store, now: () => sweepAt + 2, batchSize: 500 });
    expect(await record(t, signed.fileId)).toMatchObject({ status: "deleted" });
    await runFileSweep({ store, now: () => sweepAt + 1 + 3_600_000, batchSize: 500 });
    expect(await record(t, signed.fileId)).toBeUndefined();
    expect(store.deleted).toContainEqual({ path: signed.path });
    expect(await usage(t)).toEqual({ bytes: 0, files: 0 });
  });

  it("does not expire an upload that completed after the query saw it pending", async () => {
    const { t, user } = await freshTenant();
    const signed = await callAs<UploadUrl>(getUploadUrl, user, { contentType: "image/png", size: 8 });
    const sweepAt = (await record(t, signed.fileId))!.sweepAt.toMillis();
    await finalize({ name: signed.path, size: "8", contentType: "image/png", generation: "3" });
    await runFileSweep({ store, now: () => sweepAt + 1, batchSize: 500 });
    expect((await record(t, signed.fileId))?.status).toBe("ready");
    expect(store.deleted.map((d) => d.path)).not.toContain(signed.path);
    expect(await usage(t)).toEqual({ bytes: 8, files: 1 });
  });
});
