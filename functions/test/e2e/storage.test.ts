/**
 * The file callables over HTTP in the functions emulator, with real ID tokens: the deployed
 * bundle loads the Storage client lazily and signs without credentials (emulator signer), the
 * pending record is visible through listFiles, and tenant scoping and refusals reach the client
 * as the callable protocol's errors. No upload reaches Cloud Storage (there is none here).
 */
import type { FileView, UploadUrl } from "../../src/storage";
import { createTestUser, seedTenant, type TestUser } from "../support/firebase";
import { callCallable } from "../support/http";

jest.setTimeout(60_000);

let member: TestUser;
let tid: string;

beforeAll(async () => {
  member = await createTestUser();
  tid = await seedTenant({ member: { user: member, roles: ["member"] } });
});

describe("storage over HTTP", () => {
  it("returns a create-only signed upload URL scoped to the caller's tenant, and records the pending file", async () => {
    const res = await callCallable<UploadUrl>(
      "getUploadUrl",
      { contentType: "image/png", size: 123, name: "e2e/pic.png" },
      member.idToken,
    );
    expect(res.status).toBe(200);
    const signed = res.result!;
    expect(signed.path).toBe(`tenants/${tid}/files/${signed.fileId}`);
    const url = new URL(signed.url);
    expect(url.pathname.endsWith(`/${signed.path}`)).toBe(true);
    expect(url.searchParams.get("X-Goog-Algorithm")).toBe("GOOG4-RSA-SHA256");
    expect(url.searchParams.get("X-Goog-SignedHeaders")).toBe(
      "content-type;host;x-goog-content-length-range;x-goog-if-generation-match",
    );
    expect(signed.headers).toMatchObject({
      "x-goog-content-length-range": "123,123",
      "x-goog-if-generation-match": "0",
    });

    const list = await callCallable<{ items: FileView[] }>("listFiles", { status: "pending" }, member.idToken);
    expect(list.status).toBe(200);
    expect(list.result!.items).toEqual([
      expect.objectContaining({ fileId: signed.fileId, name: "e2e/pic.png", status: "pending", size: 123 }),
    ]);
  });

  it("answers another tenant's file with not-found and a traversal name with invalid-argument", async () => {
    const other = await callCallable("getDownloadUrl", { fileId: "0123456789abcdef0123456789abcdef" }, member.idToken);
    expect(other.status).toBe(404);
    expect(other.error?.status).toBe("NOT_FOUND");
    const traversal = await callCallable(
      "getUploadUrl",
      { contentType: "image/png", size: 1, name: "../escape.png" },
      member.idToken,
    );
    expect(traversal.status).toBe(400);
    expect(traversal.error?.details).toMatchObject({ reason: "invalid-object-name" });
  });

  it("refuses an anonymous caller", async () => {
    const res = await callCallable("getUploadUrl", { contentType: "image/png", size: 1 });
    expect(res.status).toBe(401);
  });
});
