/**
 * A throwaway signer for signed-URL tests: a service-account key generated for this run (there
 * is no Storage emulator or real key here), so V4 signatures are real and verifiable.
 */
import { createHash, createVerify, generateKeyPairSync, type KeyObject } from "node:crypto";
import { Storage } from "@google-cloud/storage";
import { setBucketFactory } from "../../src/storage/signer";

/** Points the storage module at a bucket signed by a fresh RSA key; returns the key. */
export function useThrowawaySigner(): { privateKeyPem: string; clientEmail: string } {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const clientEmail = "signer@demo-saas-core.iam.gserviceaccount.com";
  const storage = new Storage({
    projectId: "demo-saas-core",
    credentials: { client_email: clientEmail, private_key: privateKeyPem },
  });
  setBucketFactory(async (name) => storage.bucket(name ?? "demo-saas-core.appspot.com"));
  return { privateKeyPem, clientEmail };
}

/** RFC 3986 encoding as the V4 canonical query string uses it. */
function enc(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Rebuilds the V4 string-to-sign from the URL, the method and the headers the client will send,
 * and verifies the signature with `publicKey`, as Cloud Storage would. Returns the parsed query.
 */
export function verifyV4Signature(
  url: string,
  method: string,
  sentHeaders: Record<string, string>,
  publicKey: KeyObject,
): URLSearchParams {
  const parsed = new URL(url);
  const q = parsed.searchParams;
  const signature = q.get("X-Goog-Signature");
  if (!signature) throw new Error("no signature");
  const signedHeaders = (q.get("X-Goog-SignedHeaders") ?? "").split(";");
  const headers: Record<string, string> = { host: parsed.host };
  for (const [k, v] of Object.entries(sentHeaders)) headers[k.toLowerCase()] = v;
  const canonicalHeaders = signedHeaders.map((h) => `${h}:${(headers[h] ?? "").trim()}\n`).join("");
  const canonicalQuery = [...q.entries()]
    .filter(([k]) => k !== "X-Goog-Signature")
    .map(([k, v]) => `${enc(k)}=${enc(v)}`)
    .sort()
    .join("&");
  const canonicalRequest = [
    method,
    parsed.pathname,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders.join(";"),
    "UNSIGNED-PAYLOAD",
  ].join("\n");
  const [, , datestamp] = (q.get("X-Goog-Credential") ?? "").match(/^([^/]+)\/(\d{8})\//) ?? [];
  const stringToSign = [
    "GOOG4-RSA-SHA256",
    q.get("X-Goog-Date"),
    `${datestamp}/auto/storage/goog4_request`,
    createHash("sha256").update(canonicalRequest).digest("hex"),
  ].join("\n");
  const ok = createVerify("RSA-SHA256").update(stringToSign).verify(publicKey, Buffer.from(signature, "hex"));
  if (!ok) throw new Error("signature does not verify");
  return q;
}
