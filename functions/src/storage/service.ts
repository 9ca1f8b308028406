/**
 * Signed upload and download URLs for tenant objects (V4 signing).
 *
 * An upload URL is bound to one object name, one content type and one exact length: the
 * `content-type` and `x-goog-content-length-range` headers are part of the signature, so Cloud
 * Storage refuses an upload with any other type or size. The content type must be on the
 * STORAGE_ALLOWED_CONTENT_TYPES allow-list and the size at most STORAGE_MAX_UPLOAD_BYTES. Both
 * kinds of URL expire after STORAGE_URL_EXPIRY_SECONDS.
 */
import type { Bucket } from "@google-cloud/storage";
import { AppError, notFound } from "../platform/errors";
import { metrics } from "../platform/metrics";
import { withSpan } from "../platform/tracing-port";
import { generateObjectName, nameInTenant, ObjectNameError, tenantObjectPath, validateObjectName } from "./paths";

export interface StoragePolicy {
  expirySeconds: number;
  maxUploadBytes: number;
  allowedContentTypes: readonly string[];
}

export interface SigningDeps {
  bucket: Bucket;
  policy: StoragePolicy;
  /** Wall clock in ms (tests pass their own). */
  now?: () => number;
  uuid?: () => string;
}

export interface UploadRequest {
  tenantId: string;
  contentType: string;
  size: number;
  /** Tenant-relative name; generated when absent. */
  name?: string;
}

export interface SignedUrl {
  url: string;
  method: "PUT" | "GET";
  /** Headers the client must send with the request, exactly as given. */
  headers: Record<string, string>;
  /** Full object path, `tenants/{tid}/…`. */
  path: string;
  expiresAt: string;
}

function refuse(field: string, message: string, reason: string): AppError {
  return new AppError("invalid-argument", `${field}: ${message}`, { reason, fields: { [field]: [message] } });
}

function checkedName(name: string): string {
  try {
    return validateObjectName(name);
  } catch (error) {
    if (error instanceof ObjectNameError) throw refuse("name", error.message, "invalid-object-name");
    throw error;
  }
}

/** Signs a PUT URL for one upload into the tenant's prefix. */
export async function signUploadUrl(request: UploadRequest, deps: SigningDeps): Promise<SignedUrl> {
  const { policy } = deps;
  const now = deps.now ?? Date.now;
  // Media types are case-insensitive; the signed header carries the normalised form.
  const contentType = request.contentType.trim().toLowerCase();
  if (!policy.allowedContentTypes.map((t) => t.toLowerCase()).includes(contentType)) {
    metrics.inc("storage_signed_urls_total", { action: "upload", outcome: "content-type-not-allowed" });
    throw refuse("contentType", `must be one of ${policy.allowedContentTypes.join(", ")}`, "content-type-not-allowed");
  }
  if (!Number.isInteger(request.size) || request.size < 1 || request.size > policy.maxUploadBytes) {
    metrics.inc("storage_signed_urls_total", { action: "upload", outcome: "too-large" });
    throw refuse("size", `must be an integer from 1 to ${policy.maxUploadBytes} bytes`, "too-large");
  }
  const name = request.name === undefined ? generateObjectName(contentType, deps.uuid) : checkedName(request.name);
  const path = tenantObjectPath(request.tenantId, name);
  const issued = now();
  const expires = issued + policy.expirySeconds * 1000;
  const headers = { "content-type": contentType, "x-goog-content-length-range": `${request.size},${request.size}` };
  const [url] = await withSpan("storage.sign", () =>
    deps.bucket.file(path).getSignedUrl({
      version: "v4",
      action: "write",
      accessibleAt: new Date(issued),
      expires,
      contentType,
      extensionHeaders: { "x-goog-content-length-range": headers["x-goog-content-length-range"] },
    }),
  );
  metrics.inc("storage_signed_urls_total", { action: "upload", outcome: "ok" });
  return { url, method: "PUT", headers, path, expiresAt: new Date(expires).toISOString() };
}

export interface DownloadRequest {
  tenantId: string;
  /** Full object path as returned by an upload, `tenants/{tid}/…`. */
  path: string;
  disposition?: "attachment" | "inline";
}

/**
 * Signs a GET URL for an object of the caller's tenant. A path under another tenant gets
 * `not-found`, the same answer as for a tenant the caller cannot see. The object's existence is
 * not checked (that would cost a Storage request per URL): a URL for a missing object returns
 * 404 from Cloud Storage.
 */
export async function signDownloadUrl(request: DownloadRequest, deps: SigningDeps): Promise<SignedUrl> {
  const now = deps.now ?? Date.now;
  const relative = nameInTenant(request.tenantId, request.path);
  if (relative === undefined) {
    metrics.inc("storage_signed_urls_total", { action: "download", outcome: "wrong-tenant" });
    throw notFound("Object not found.");
  }
  const path = tenantObjectPath(request.tenantId, checkedName(relative));
  const issued = now();
  const expires = issued + deps.policy.expirySeconds * 1000;
  const [url] = await withSpan("storage.sign", () =>
    deps.bucket.file(path).getSignedUrl({
      version: "v4",
      action: "read",
      accessibleAt: new Date(issued),
      expires,
      // Served as a download unless asked otherwise, so an uploaded file never renders as a page.
      responseDisposition: request.disposition === "inline" ? "inline" : "attachment",
    }),
  );
  metrics.inc("storage_signed_urls_total", { action: "download", outcome: "ok" });
  return { url, method: "GET", headers: {}, path, expiresAt: new Date(expires).toISOString() };
}
