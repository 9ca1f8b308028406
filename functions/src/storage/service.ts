/**
 * Signed upload and download URLs for file objects (V4 signing).
 *
 * An upload URL is bound to one object, one content type and one exact length, and is
 * create-only: `content-type`, `x-goog-content-length-range` and `x-goog-if-generation-match: 0`
 * are signed headers, so Cloud Storage refuses an upload with any other type or size, and refuses
 * it outright when the object already exists (an upload never replaces anything). The content
 * type must be on STORAGE_ALLOWED_CONTENT_TYPES and the size at most STORAGE_MAX_UPLOAD_BYTES.
 * Both kinds of URL expire after STORAGE_URL_EXPIRY_SECONDS.
 */
import type { Bucket } from "@google-cloud/storage";
import { AppError } from "../platform/errors";
import { metrics } from "../platform/metrics";
import { withSpan } from "../platform/tracing-port";
import { ObjectNameError, validateObjectName } from "./paths";

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
}

export interface UploadRequest {
  contentType: string;
  size: number;
  /** The file's name (a label on its record). */
  name?: string;
}

export interface SignedUrl {
  url: string;
  method: "PUT" | "GET";
  /** Headers the client must send with the request, exactly as given. */
  headers: Record<string, string>;
  /** Full object path, `tenants/{tid}/files/{fileId}`. */
  path: string;
  expiresAt: string;
}

function refuse(field: string, message: string, reason: string): AppError {
  return new AppError("invalid-argument", `${field}: ${message}`, { reason, fields: { [field]: [message] } });
}

/** Checks a file name, or throws `invalid-argument` (reason `invalid-object-name`). */
export function checkedName(name: string): string {
  try {
    return validateObjectName(name);
  } catch (error) {
    if (error instanceof ObjectNameError) throw refuse("name", error.message, "invalid-object-name");
    throw error;
  }
}

/**
 * Checks an upload request against the policy before anything is written or signed, and returns
 * it with the content type normalised (media types are case-insensitive; the signed header
 * carries the lower-case form).
 */
export function checkUpload(request: UploadRequest, policy: StoragePolicy): UploadRequest {
  const contentType = request.contentType.trim().toLowerCase();
  if (!policy.allowedContentTypes.map((t) => t.toLowerCase()).includes(contentType)) {
    metrics.inc("storage_signed_urls_total", { action: "upload", outcome: "content-type-not-allowed" });
    throw refuse("contentType", `must be one of ${policy.allowedContentTypes.join(", ")}`, "content-type-not-allowed");
  }
  if (!Number.isInteger(request.size) || request.size < 1 || request.size > policy.maxUploadBytes) {
    metrics.inc("storage_signed_urls_total", { action: "upload", outcome: "too-large" });
    throw refuse("size", `must be an integer from 1 to ${policy.maxUploadBytes} bytes`, "too-large");
  }
  if (request.name !== undefined) {
    try {
      checkedName(request.name);
    } catch (error) {
      metrics.inc("storage_signed_urls_total", { action: "upload", outcome: "invalid-object-name" });
      throw error;
    }
  }
  return { ...request, contentType };
}

/** When a URL signed now expires, in ms. */
export function expiryOf(deps: Pick<SigningDeps, "now" | "policy">): { issued: number; expires: number } {
  const issued = (deps.now ?? Date.now)();
  return { issued, expires: issued + deps.policy.expirySeconds * 1000 };
}

/** Signs a create-only PUT URL for the object at `path` (a checked upload: see `checkUpload`). */
export async function signUploadUrl(
  path: string,
  upload: { contentType: string; size: number },
  deps: SigningDeps,
): Promise<SignedUrl> {
  const { issued, expires } = expiryOf(deps);
  const extensionHeaders = {
    "x-goog-content-length-range": `${upload.size},${upload.size}`,
    // Generation 0 means "no live object": Cloud Storage answers 412 if the name is taken.
    "x-goog-if-generation-match": "0",
  };
  const [url] = await withSpan("storage.sign", () =>
    deps.bucket.file(path).getSignedUrl({
      version: "v4",
      action: "write",
      accessibleAt: new Date(issued),
      expires,
      contentType: upload.contentType,
      extensionHeaders,
    }),
  );
  metrics.inc("storage_signed_urls_total", { action: "upload", outcome: "ok" });
  return {
    url,
    method: "PUT",
    headers: { "content-type": upload.contentType, ...extensionHeaders },
    path,
    expiresAt: new Date(expires).toISOString(),
  };
}

/**
 * Signs a GET URL for the object at `path`, served as `disposition` with `filename` (a checked
 * name, so it needs no escaping). Served as a download unless asked otherwise, so an uploaded
 * file never renders as a page on the storage origin.
 */
export async function signDownloadUrl(
  path: string,
  options: { filename: string; disposition?: "attachment" | "inline" },
  deps: SigningDeps,
): Promise<SignedUrl> {
  const { issued, expires } = expiryOf(deps);
  const disposition = options.disposition === "inline" ? "inline" : "attachment";
  const [url] = await withSpan("storage.sign", () =>
    deps.bucket.file(path).getSignedUrl({
      version: "v4",
      action: "read",
      accessibleAt: new Date(issued),
      expires,
      responseDisposition: `${disposition}; filename="${options.filename}"`,
    }),
  );
  metrics.inc("storage_signed_urls_total", { action: "download", outcome: "ok" });
  return { url, method: "GET", headers: {}, path, expiresAt: new Date(expires).toISOString() };
}
