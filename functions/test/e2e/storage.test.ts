/**
 * The storage callables over HTTP in the functions emulator, with real ID tokens: the deployed
 * bundle loads the Storage client lazily and signs without credentials (emulator signer), and
 * tenant scoping and refusals reach the client as the callable protocol's errors.
 */
import type { SignedUrl } from "../../src/storage";
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
  it("returns a signed upload URL scoped to the caller's tenant", async () => {
    const res = await callCallable<SignedUrl>("getUploadUrl", { contentType: "image/png", size: 123 }, member.idToken);
    expect(res.status).toBe(200);
    const signed = res.result!;
    expect(signed.path).toMatch(new RegExp(`^tenants/${tid}/uploads/[0-9a-f-]{36}\\.png$`));
    const url = new URL(signed.url);
    expect(url.pathname.endsWith(`/${signed.path}`)).toBe(true);
    expect(url.searchParams.get("X-Goog-Algorithm")).toBe("GOOG4-RSA-SHA256");
    expect(url.searchParams.get("X-Goog-SignedHeaders")).toBe("content-type;host;x-goog-content-length-range");
    expect(signed.headers["x-goog-content-length-range"]).toBe("123,123");
  });

  it("answers another tenant's object with not-found and a traversal name with invalid-argument", async () => {
    const other = await callCallable("getDownloadUrl", { path: "tenants/someone-else/uploads/x.pdf" }, member.idToken);
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
