/**
 * Storage callables: V4 signed URLs for objects under the caller's tenant prefix.
 */
import { z } from "zod";
import { tenantCallable } from "../platform/callable";
import { intValue, listValue, params } from "../platform/config";
import { tenantBucket } from "./signer";
import { signDownloadUrl, signUploadUrl, type SigningDeps, type StoragePolicy } from "./service";

function policy(): StoragePolicy {
  return {
    expirySeconds: intValue(params.storageUrlExpirySeconds),
    maxUploadBytes: intValue(params.storageMaxUploadBytes),
    allowedContentTypes: listValue(params.storageAllowedContentTypes),
  };
}

async function deps(): Promise<SigningDeps> {
  return { bucket: await tenantBucket(), policy: policy() };
}

const SignedUrlOutput = z.object({
  url: z.string().url(),
  method: z.enum(["PUT", "GET"]),
  headers: z.record(z.string(), z.string()),
  path: z.string(),
  expiresAt: z.string().datetime(),
});

/** What getUploadUrl and getDownloadUrl return. */
export type SignedUrl = z.infer<typeof SignedUrlOutput>;

export const GetUploadUrlInput = z.strictObject({
  contentType: z.string().min(1).max(127).describe("Media type of the file; must be on the allow-list"),
  size: z.number().int().positive().describe("Exact size of the file in bytes"),
  name: z
    .string()
    .min(1)
    .max(512)
    .optional()
    .describe("Tenant-relative object name, e.g. avatars/u1.png; a unique name is generated when omitted"),
});

export const GetDownloadUrlInput = z.strictObject({
  path: z.string().min(1).max(600).describe("Full object path as returned by getUploadUrl: tenants/{tid}/…"),
  disposition: z.enum(["attachment", "inline"]).optional().describe("Content-Disposition of the response"),
});

/** `getUploadUrl`: a PUT URL bound to the object name, content type and exact size. */
export const getUploadUrl = tenantCallable(
  {
    name: "getUploadUrl",
    description:
      "Returns a V4 signed PUT URL for one object under the caller's tenant, bound to its content type and exact size; send the returned headers with the upload.",
    input: GetUploadUrlInput,
    output: SignedUrlOutput,
    permission: "storage:write",
    rateLimits: ["getUploadUrl"],
  },
  async ({ data, tenant }) => signUploadUrl({ tenantId: tenant.id, ...data }, await deps()),
);

/** `getDownloadUrl`: a GET URL for an object of the caller's tenant. */
export const getDownloadUrl = tenantCallable(
  {
    name: "getDownloadUrl",
    description: "Returns a V4 signed GET URL for an object under the caller's tenant prefix.",
    input: GetDownloadUrlInput,
    output: SignedUrlOutput,
    permission: "storage:read",
  },
  async ({ data, tenant }) => signDownloadUrl({ tenantId: tenant.id, ...data }, await deps()),
);
