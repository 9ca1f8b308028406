/**
 * A throwaway signer for signed-URL tests: a service-account key generated for this run (there
 * is no Storage emulator or real key here), so V4 signatures are real and verifiable.
 */
import { generateKeyPairSync } from "node:crypto";
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
