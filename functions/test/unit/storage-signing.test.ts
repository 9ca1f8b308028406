/**
 * Signed storage URLs, signed for real: a service-account key generated for the test run signs
 * through the real @google-cloud/storage V4 signer, and the test rebuilds the canonical request
 * from the URL and verifies the RSA signature with the public key. So scope (object path), expiry
 * and the signed headers are checked as Cloud Storage would check them.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { Storage, type Bucket } from "@google-cloud/storage";
import { listValue, params } from "../../src/platform/config";
import { AppError } from "../../src/platform/errors";
import { metrics } from "../../src/platform/metrics";
import { generateObjectName, nameInTenant, validateObjectName } from "../../src/storage/paths";
import { signDownloadUrl, signUploadUrl, type SigningDeps } from "../../src/storage/service";
import { verifyV4Signature } from "../support/storage";

const CLIENT_EMAIL = "signer@demo-saas-core.iam.gserviceaccount.com";
// A fixed clock in the future: the Storage client refuses expiries before its own wall clock.
const NOW = Date.UTC(2099, 0, 15, 6, 0, 0);
const TID = "t-alpha";

let bucket: Bucket;
let publicKey: KeyObject;

beforeAll(() => {
  const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  publicKey = pair.publicKey;
  const storage = new Storage({
    projectId: "demo-saas-core",
    credentials: {
      client_email: CLIENT_EMAIL,
      private_key: pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    },
  });
  bucket = storage.bucket("demo-saas-core.appspot.com");
});

function deps(overrides: Partial<SigningDeps["policy"]> = {}): SigningDeps {
  return {
    bucket,
    now: () => NOW,
    uuid: () => "3f2b8a4e-9c1d-4e5f-8a7b-1c2d3e4f5a6b",
    policy: {
      expirySeconds: 900,
      maxUploadBytes: 1_000_000,
      allowedContentTypes: ["image/png", "application/pdf"],
      ...overrides,
    },
  };
}

/** Verifies a V4 signature against this run's public key (see test/support/storage.ts). */
function verifyV4(url: string, method: string, sentHeaders: Record<string, string>): URLSearchParams {
  return verifyV4Signature(url, method, sentHeaders, publicKey);
}

async function refused(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("expected the request to be refused");
}

describe("upload URLs", () => {
  it("are V4 URLs for a generated name under the tenant prefix, bound to content type and exact size", async () => {
    const signed = await signUploadUrl({ tenantId: TID, contentType: "image/png", size: 4096 }, deps());
    expect(signed.method).toBe("PUT");
    expect(signed.path).toBe(`tenants/${TID}/uploads/3f2b8a4e-9c1d-4e5f-8a7b-1c2d3e4f5a6b.png`);
    expect(signed.headers).toEqual({ "content-type": "image/png", "x-goog-content-length-range": "4096,4096" });
    expect(signed.expiresAt).toBe(new Date(NOW + 900_000).toISOString());

    const url = new URL(signed.url);
    expect(url.pathname).toBe(`/demo-saas-core.appspot.com/${signed.path}`);
    const q = verifyV4(signed.url, "PUT", signed.headers);
    expect(q.get("X-Goog-Algorithm")).toBe("GOOG4-RSA-SHA256");
    expect(q.get("X-Goog-Expires")).toBe("900");
    expect(q.get("X-Goog-Date")).toBe("20990115T060000Z");
    expect(q.get("X-Goog-Credential")).toBe(`${CLIENT_EMAIL}/20990115/auto/storage/goog4_request`);
    expect(q.get("X-Goog-SignedHeaders")!.split(";")).toEqual(
      expect.arrayContaining(["content-type", "host", "x-goog-content-length-range"]),
    );
  });

  it("do not verify for a different content type or size than the one signed", async () => {
    const signed = await signUploadUrl({ tenantId: TID, contentType: "image/png", size: 4096 }, deps());
    expect(() => verifyV4(signed.url, "PUT", { ...signed.headers, "content-type": "text/html" })).toThrow(
      "signature does not verify",
    );
    expect(() =>
      verifyV4(signed.url, "PUT", { ...signed.headers, "x-goog-content-length-range": "0,5000000000" }),
    ).toThrow("signature does not verify");
    expect(() => verifyV4(signed.url.replace("uploads/", "uploads2/"), "PUT", signed.headers)).toThrow(
      "signature does not verify",
    );
  });

  it("use the configured expiry", async () => {
    const signed = await signUploadUrl(
      { tenantId: TID, contentType: "application/pdf", size: 10 },
      deps({ expirySeconds: 60 }),
    );
    expect(verifyV4(signed.url, "PUT", signed.headers).get("X-Goog-Expires")).toBe("60");
  });

  it("accept a valid client-chosen name, normalising the content type's case", async () => {
    const signed = await signUploadUrl(
      { tenantId: TID, contentType: "Image/PNG", size: 1, name: "avatars/user-1/photo.v2.png" },
      deps(),
    );
    expect(signed.path).toBe(`tenants/${TID}/avatars/user-1/photo.v2.png`);
    expect(signed.headers["content-type"]).toBe("image/png");
    verifyV4(signed.url, "PUT", signed.headers);
  });

  it("refuse a content type that is not on the allow-list", async () => {
    const before = metrics.value("storage_signed_urls_total", {
      action: "upload",
      outcome: "content-type-not-allowed",
    });
    for (const contentType of ["text/html", "image/svg+xml", "image/png; charset=utf-8", "application/x-msdownload"]) {
      const error = await refused(signUploadUrl({ tenantId: TID, contentType, size: 10 }, deps()));
      expect(error.code).toBe("invalid-argument");
      expect(error.details.reason).toBe("content-type-not-allowed");
      expect(error.details.fields).toHaveProperty("contentType");
    }
    expect(metrics.value("storage_signed_urls_total", { action: "upload", outcome: "content-type-not-allowed" })).toBe(
      before + 4,
    );
  });

  it.each([
    ["one byte over the limit", 1_000_001],
    ["zero bytes", 0],
    ["negative", -5],
    ["fractional", 10.5],
  ])("refuse a size that is %s", async (_name, size) => {
    const error = await refused(signUploadUrl({ tenantId: TID, contentType: "image/png", size }, deps()));
    expect(error.code).toBe("invalid-argument");
    expect(error.details.reason).toBe("too-large");
    expect(error.details.fields).toHaveProperty("size");
  });

  it("accept exactly the maximum size", async () => {
    const signed = await signUploadUrl({ tenantId: TID, contentType: "image/png", size: 1_000_000 }, deps());
    expect(signed.headers["x-goog-content-length-range"]).toBe("1000000,1000000");
  });

  it.each([
    ["parent segment", "../t-beta/x.png"],
    ["nested parent segment", "a/../../t-beta/x.png"],
    ["dot segment", "./x.png"],
    ["absolute path", "/tenants/t-beta/x.png"],
    ["percent-encoded dots", "%2e%2e/t-beta/x.png"],
    ["percent-encoded slash", "a%2fb.png"],
    ["backslash", "..\\t-beta\\x.png"],
    ["control character", "a\u0000b.png"],
    ["newline", "a\nb.png"],
    ["trailing slash", "a/"],
    ["empty segment", "a//b.png"],
    ["hidden file", ".htaccess"],
    ["space", "my file.png"],
    ["unicode dot lookalike", "\u2024\u2024/x.png"],
    ["too deep", "a/b/c/d/e/f/g/h/i.png"],
    ["too long", `${"a".repeat(513)}`],
  ])("refuse a name with a %s", async (_name, name) => {
    const error = await refused(signUploadUrl({ tenantId: TID, contentType: "image/png", size: 1, name }, deps()));
    expect(error.code).toBe("invalid-argument");
    expect(error.details.reason).toBe("invalid-object-name");
    expect(error.details.fields).toHaveProperty("name");
  });
});

describe("download URLs", () => {
  it("are V4 GET URLs for the tenant's object with the configured expiry, served as attachments", async () => {
    const signed = await signDownloadUrl({ tenantId: TID, path: `tenants/${TID}/uploads/a.pdf` }, deps());
    expect(signed.method).toBe("GET");
    expect(new URL(signed.url).pathname).toBe(`/demo-saas-core.appspot.com/tenants/${TID}/uploads/a.pdf`);
    const q = verifyV4(signed.url, "GET", {});
    expect(q.get("X-Goog-Expires")).toBe("900");
    expect(q.get("response-content-disposition")).toBe("attachment");
    expect(q.get("X-Goog-SignedHeaders")).toBe("host");
  });

  it("refuse another tenant's object with not-found", async () => {
    for (const path of [
      "tenants/t-beta/uploads/a.pdf",
      `tenants/${TID}-evil/uploads/a.pdf`,
      `tenants/${TID}`,
      "uploads/a.pdf",
      `/tenants/${TID}/uploads/a.pdf`,
    ]) {
      const error = await refused(signDownloadUrl({ tenantId: TID, path }, deps()));
      expect(error.code).toBe("not-found");
    }
  });

  it("refuse a path that climbs out of the tenant prefix after it", async () => {
    for (const path of [`tenants/${TID}/../t-beta/a.pdf`, `tenants/${TID}/%2e%2e/t-beta/a.pdf`, `tenants/${TID}/`]) {
      const error = await refused(signDownloadUrl({ tenantId: TID, path }, deps()));
      expect(error.code).toBe("invalid-argument");
      expect(error.details.reason).toBe("invalid-object-name");
    }
  });
});

describe("object names", () => {
  it("generates unguessable names with an extension from the content type", () => {
    expect(generateObjectName("application/pdf", () => "u")).toBe("uploads/u.pdf");
    expect(generateObjectName("application/x-unknown", () => "u")).toBe("uploads/u");
    expect(generateObjectName("image/png")).toMatch(/^uploads\/[0-9a-f-]{36}\.png$/);
  });

  it("maps full paths to tenant-relative names only inside the tenant", () => {
    expect(nameInTenant("t1", "tenants/t1/a/b.png")).toBe("a/b.png");
    expect(nameInTenant("t1", "tenants/t10/a.png")).toBeUndefined();
    expect(validateObjectName("a/b-c_d.e")).toBe("a/b-c_d.e");
  });
});

describe("content-type allow-list param", () => {
  const saved = process.env.STORAGE_ALLOWED_CONTENT_TYPES;
  afterEach(() => {
    if (saved === undefined) delete process.env.STORAGE_ALLOWED_CONTENT_TYPES;
    else process.env.STORAGE_ALLOWED_CONTENT_TYPES = saved;
  });

  it("is read in the deployed JSON form and in the emulator's comma-separated form", () => {
    process.env.STORAGE_ALLOWED_CONTENT_TYPES = JSON.stringify(["image/png", "text/csv"]);
    expect(listValue(params.storageAllowedContentTypes)).toEqual(["image/png", "text/csv"]);
    process.env.STORAGE_ALLOWED_CONTENT_TYPES = "image/png, application/pdf,";
    expect(listValue(params.storageAllowedContentTypes)).toEqual(["image/png", "application/pdf"]);
  });
});
