/**
 * Signed storage URLs, signed for real: a service-account key generated for the test run signs
 * through the real @google-cloud/storage V4 signer, and the test rebuilds the canonical request
 * from the URL and verifies the RSA signature with the public key. So scope (object path), expiry
 * and the signed headers (content type, exact length, create-only `x-goog-if-generation-match: 0`)
 * are checked as Cloud Storage would check them. No request reaches Cloud Storage itself.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { Storage, type Bucket } from "@google-cloud/storage";
import { listValue, params } from "../../src/platform/config";
import { AppError } from "../../src/platform/errors";
import { metrics } from "../../src/platform/metrics";
import {
  defaultFileName,
  fileObjectPath,
  newFileId,
  parseFileObjectPath,
  validateObjectName,
} from "../../src/storage/paths";
import { checkUpload, signDownloadUrl, signUploadUrl, type SigningDeps } from "../../src/storage/service";
import { verifyV4 as verifySignature } from "../support/storage";

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
    policy: {
      expirySeconds: 900,
      maxUploadBytes: 1_000_000,
      allowedContentTypes: ["image/png", "application/pdf"],
      ...overrides,
    },
  };
}

/** Verifies a URL's V4 signature as Cloud Storage would, with the headers the client sends. */
function verifyV4(url: string, method: string, sentHeaders: Record<string, string>): URLSearchParams {
  return verifySignature(url, method, sentHeaders, publicKey);
}

function refused(fn: () => unknown): AppError {
  try {
    fn();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("expected the request to be refused");
}

const FILE_ID = "3f2b8a4e9c1d4e5f8a7b1c2d3e4f5a6b";
const PATH = fileObjectPath(TID, FILE_ID);

describe("upload URLs", () => {
  it("are create-only V4 URLs for the file's object, bound to content type and exact size", async () => {
    const signed = await signUploadUrl(PATH, { contentType: "image/png", size: 4096 }, deps());
    expect(signed.method).toBe("PUT");
    expect(signed.path).toBe(`tenants/${TID}/files/${FILE_ID}`);
    expect(signed.headers).toEqual({
      "content-type": "image/png",
      "x-goog-content-length-range": "4096,4096",
      "x-goog-if-generation-match": "0",
    });
    expect(signed.expiresAt).toBe(new Date(NOW + 900_000).toISOString());

    const url = new URL(signed.url);
    expect(url.pathname).toBe(`/demo-saas-core.appspot.com/${signed.path}`);
    const q = verifyV4(signed.url, "PUT", signed.headers);
    expect(q.get("X-Goog-Algorithm")).toBe("GOOG4-RSA-SHA256");
    expect(q.get("X-Goog-Expires")).toBe("900");
    expect(q.get("X-Goog-Date")).toBe("20990115T060000Z");
    expect(q.get("X-Goog-Credential")).toBe(`${CLIENT_EMAIL}/20990115/auto/storage/goog4_request`);
    expect(q.get("X-Goog-SignedHeaders")).toBe(
      "content-type;host;x-goog-content-length-range;x-goog-if-generation-match",
    );
  });

  it("do not verify for another content type, size, object, or without the create-only precondition", async () => {
    const signed = await signUploadUrl(PATH, { contentType: "image/png", size: 4096 }, deps());
    expect(() => verifyV4(signed.url, "PUT", { ...signed.headers, "content-type": "text/html" })).toThrow(
      "signature does not verify",
    );
    expect(() =>
      verifyV4(signed.url, "PUT", { ...signed.headers, "x-goog-content-length-range": "0,5000000000" }),
    ).toThrow("signature does not verify");
    // Dropping the precondition (an overwrite) or asking to replace a given generation breaks it too.
    const { "x-goog-if-generation-match": _dropped, ...withoutPrecondition } = signed.headers;
    expect(() => verifyV4(signed.url, "PUT", withoutPrecondition)).toThrow("signature does not verify");
    expect(() => verifyV4(signed.url, "PUT", { ...signed.headers, "x-goog-if-generation-match": "17" })).toThrow(
      "signature does not verify",
    );
    expect(() => verifyV4(signed.url.replace(FILE_ID, "0".repeat(32)), "PUT", signed.headers)).toThrow(
      "signature does not verify",
    );
  });

  it("use the configured expiry", async () => {
    const signed = await signUploadUrl(PATH, { contentType: "application/pdf", size: 10 }, deps({ expirySeconds: 60 }));
    expect(verifyV4(signed.url, "PUT", signed.headers).get("X-Goog-Expires")).toBe("60");
  });
});

describe("upload checks (before any record or URL)", () => {
  const policy = deps().policy;

  it("accept a valid name and normalise the content type's case", () => {
    expect(checkUpload({ contentType: "Image/PNG", size: 1, name: "avatars/user-1/photo.v2.png" }, policy)).toEqual({
      contentType: "image/png",
      size: 1,
      name: "avatars/user-1/photo.v2.png",
    });
  });

  it("refuse a content type that is not on the allow-list", async () => {
    const before = await metrics.value("storage_signed_urls_total", {
      action: "upload",
      outcome: "content-type-not-allowed",
    });
    for (const contentType of ["text/html", "image/svg+xml", "image/png; charset=utf-8", "application/x-msdownload"]) {
      const error = refused(() => checkUpload({ contentType, size: 10 }, policy));
      expect(error.code).toBe("invalid-argument");
      expect(error.details.reason).toBe("content-type-not-allowed");
      expect(error.details.fields).toHaveProperty("contentType");
    }
    expect(
      await metrics.value("storage_signed_urls_total", { action: "upload", outcome: "content-type-not-allowed" }),
    ).toBe(before + 4);
  });

  it.each([
    ["one byte over the limit", 1_000_001],
    ["zero bytes", 0],
    ["negative", -5],
    ["fractional", 10.5],
  ])("refuse a size that is %s", (_name, size) => {
    const error = refused(() => checkUpload({ contentType: "image/png", size }, policy));
    expect(error.code).toBe("invalid-argument");
    expect(error.details.reason).toBe("too-large");
    expect(error.details.fields).toHaveProperty("size");
  });

  it("accept exactly the maximum size", () => {
    expect(checkUpload({ contentType: "image/png", size: 1_000_000 }, policy).size).toBe(1_000_000);
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
    ["quote (header injection)", 'a".png'],
    ["trailing slash", "a/"],
    ["empty segment", "a//b.png"],
    ["hidden file", ".htaccess"],
    ["space", "my file.png"],
    ["unicode dot lookalike", "\u2024\u2024/x.png"],
    ["too deep", "a/b/c/d/e/f/g/h/i.png"],
    ["too long", `${"a".repeat(513)}`],
  ])("refuse a name with a %s", (_name, name) => {
    const error = refused(() => checkUpload({ contentType: "image/png", size: 1, name }, policy));
    expect(error.code).toBe("invalid-argument");
    expect(error.details.reason).toBe("invalid-object-name");
    expect(error.details.fields).toHaveProperty("name");
  });
});

describe("download URLs", () => {
  it("are V4 GET URLs for the file's object with the configured expiry, served as named attachments", async () => {
    const signed = await signDownloadUrl(PATH, { filename: "q1.pdf" }, deps());
    expect(signed.method).toBe("GET");
    expect(new URL(signed.url).pathname).toBe(`/demo-saas-core.appspot.com/${PATH}`);
    const q = verifyV4(signed.url, "GET", {});
    expect(q.get("X-Goog-Expires")).toBe("900");
    expect(q.get("response-content-disposition")).toBe('attachment; filename="q1.pdf"');
    expect(q.get("X-Goog-SignedHeaders")).toBe("host");
  });

  it("are inline only when asked, and the disposition is part of the signature", async () => {
    const signed = await signDownloadUrl(PATH, { filename: "a.png", disposition: "inline" }, deps());
    expect(verifyV4(signed.url, "GET", {}).get("response-content-disposition")).toBe('inline; filename="a.png"');
    const tampered = signed.url.replace("inline", "attachment");
    expect(() => verifyV4(tampered, "GET", {})).toThrow("signature does not verify");
  });
});

describe("file ids, names and object paths", () => {
  it("gives every file a fresh 32-hex id, and a default name with an extension from the content type", () => {
    expect(newFileId()).toMatch(/^[0-9a-f]{32}$/);
    expect(newFileId()).not.toBe(newFileId());
    expect(defaultFileName("f1", "application/pdf")).toBe("f1.pdf");
    expect(defaultFileName("f1", "application/x-unknown")).toBe("f1");
    expect(defaultFileName("f1", "constructor")).toBe("f1");
  });

  it("maps object paths back to tenant and file only for file objects", () => {
    expect(parseFileObjectPath(PATH)).toEqual({ tenantId: TID, fileId: FILE_ID });
    for (const path of [
      `tenants/${TID}/files/${FILE_ID}/x`,
      `tenants/${TID}/uploads/${FILE_ID}`,
      `tenants/${TID}/files/../${FILE_ID}`,
      `tenants/../files/${FILE_ID}`,
      `x/tenants/${TID}/files/${FILE_ID}`,
      `tenants/${TID}/files/${FILE_ID.toUpperCase()}`,
    ]) {
      expect(parseFileObjectPath(path)).toBeUndefined();
    }
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
