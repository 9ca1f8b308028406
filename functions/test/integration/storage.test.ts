/**
 * The storage callables through the real pipeline (Auth emulator ID tokens, tenants in the
 * Firestore emulator): permissions, tenant scoping and input refusal. URLs are signed by a key
 * generated for this run (no Storage emulator or service-account key on this machine); the
 * unit test storage-signing.test.ts verifies the signatures themselves.
 */
import { getDownloadUrl, getUploadUrl, type SignedUrl } from "../../src/storage";
import { setBucketFactory } from "../../src/storage/signer";
import { useThrowawaySigner } from "../support/storage";
import { callAs, countOps, createTestUser, expectHttpsError, seedTenant, type TestUser } from "../support/firebase";

jest.setTimeout(30_000);

let member: TestUser;
let viewer: TestUser;
let outsider: TestUser;
let tid: string;
let otherTid: string;

beforeAll(async () => {
  useThrowawaySigner();
  [member, viewer, outsider] = await Promise.all([createTestUser(), createTestUser(), createTestUser()]);
  tid = await seedTenant({ member: { user: member, roles: ["member"] }, viewer: { user: viewer, roles: ["viewer"] } });
  otherTid = await seedTenant({ outsider: { user: outsider, roles: ["owner"] } });
});

afterAll(() => setBucketFactory(undefined));

describe("getUploadUrl", () => {
  it("signs a PUT under the caller's tenant, bound to content type and size, with the default 15 min expiry", async () => {
    const { result, ops } = await countOps(() =>
      callAs<SignedUrl>(getUploadUrl, member, { contentType: "image/png", size: 2048 }),
    );
    expect(result.method).toBe("PUT");
    expect(result.path).toMatch(new RegExp(`^tenants/${tid}/uploads/[0-9a-f-]{36}\\.png$`));
    expect(result.headers).toEqual({ "content-type": "image/png", "x-goog-content-length-range": "2048,2048" });
    const url = new URL(result.url);
    expect(url.pathname).toBe(`/demo-saas-core.appspot.com/${result.path}`);
    expect(url.searchParams.get("X-Goog-Expires")).toBe("900");
    expect(url.searchParams.get("X-Goog-SignedHeaders")).toBe("content-type;host;x-goog-content-length-range");
    // Signing writes nothing to the tenant (the log is shared with concurrently running suites).
    expect(ops.log.filter((e) => e.kind !== "read" && e.path.includes(tid))).toEqual([]);
  });

  it("is refused to a viewer (no storage:write)", async () => {
    await expectHttpsError(callAs(getUploadUrl, viewer, { contentType: "image/png", size: 1 }), "permission-denied");
  });

  it("is refused without a signed-in user", async () => {
    await expectHttpsError(callAs(getUploadUrl, null, { contentType: "image/png", size: 1 }), "unauthenticated");
  });

  it("refuses a disallowed content type with a field error", async () => {
    const error = await expectHttpsError(
      callAs(getUploadUrl, member, { contentType: "text/html", size: 10 }),
      "invalid-argument",
    );
    expect(error.details).toMatchObject({
      reason: "content-type-not-allowed",
      fields: { contentType: [expect.any(String)] },
    });
  });

  it("refuses an object over STORAGE_MAX_UPLOAD_BYTES", async () => {
    const error = await expectHttpsError(
      callAs(getUploadUrl, member, { contentType: "image/png", size: 10 * 1024 * 1024 + 1 }),
      "invalid-argument",
    );
    expect(error.details).toMatchObject({ reason: "too-large", fields: { size: [expect.any(String)] } });
  });

  it.each(["../" + "x.png", "/abs.png", "%2e%2e/x.png", "a\\b.png", "a\u0007.png"])(
    "refuses the traversal name %j",
    async (name) => {
      const error = await expectHttpsError(
        callAs(getUploadUrl, member, { contentType: "image/png", size: 1, name }),
        "invalid-argument",
      );
      expect(error.details).toMatchObject({ reason: "invalid-object-name" });
    },
  );

  it("refuses unknown fields (strict input)", async () => {
    await expectHttpsError(
      callAs(getUploadUrl, member, { contentType: "image/png", size: 1, bucket: "other" }),
      "invalid-argument",
    );
  });
});

describe("getDownloadUrl", () => {
  it("signs a GET for the tenant's object, readable by a viewer", async () => {
    const signed = await callAs<SignedUrl>(getDownloadUrl, viewer, { path: `tenants/${tid}/uploads/report.pdf` });
    expect(signed.method).toBe("GET");
    expect(new URL(signed.url).pathname).toBe(`/demo-saas-core.appspot.com/tenants/${tid}/uploads/report.pdf`);
  });

  it("answers not-found for another tenant's object, even one that tenant's owner can read", async () => {
    await expectHttpsError(
      callAs(getDownloadUrl, member, { path: `tenants/${otherTid}/uploads/report.pdf` }),
      "not-found",
    );
    const own = await callAs<SignedUrl>(getDownloadUrl, outsider, { path: `tenants/${otherTid}/uploads/report.pdf` });
    expect(own.path).toBe(`tenants/${otherTid}/uploads/report.pdf`);
  });

  it("refuses a path that climbs out of the tenant prefix", async () => {
    await expectHttpsError(
      callAs(getDownloadUrl, member, { path: `tenants/${tid}/../${otherTid}/uploads/report.pdf` }),
      "invalid-argument",
    );
  });
});

describe("default signer under the emulators", () => {
  const saved = process.env.FIREBASE_STORAGE_EMULATOR_HOST;
  beforeAll(() => {
    process.env.FIREBASE_STORAGE_EMULATOR_HOST = "127.0.0.1:9199";
    setBucketFactory(undefined);
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.FIREBASE_STORAGE_EMULATOR_HOST;
    else process.env.FIREBASE_STORAGE_EMULATOR_HOST = saved;
  });

  it("signs without credentials, with a URL pointing at the Storage emulator", async () => {
    const signed = await callAs<SignedUrl>(getUploadUrl, member, { contentType: "application/pdf", size: 5 });
    const url = new URL(signed.url);
    expect(url.host).toBe("127.0.0.1:9199");
    expect(url.pathname).toMatch(new RegExp(`/tenants/${tid}/uploads/[0-9a-f-]{36}\\.pdf$`));
    expect(url.searchParams.get("X-Goog-Signature")).toMatch(/^[0-9a-f]{512}$/);
  });
});
