/**
 * `secrets.reencrypt` (operator): after a DATA_ENCRYPTION_KEY rotation (a new primary key
 * prepended to the keyring), re-encrypts every webhook endpoint secret and every TOTP seed under
 * the new primary key. Once it has succeeded, nothing is encrypted under the old key, which can
 * then be removed from the keyring.
 *
 * Signed tenant references (tenancy/signed-ref.ts) are MACs handed to third parties, not stored
 * ciphertexts: they cannot be re-issued from here and keep their key id; see the runbook.
 */
import { z } from "zod";
import { keyring } from "../../platform/crypto";
import { defineJob } from "../../platform/jobs";
import { reencryptMfaSecrets } from "../../mfa/reencrypt";
import { reencryptEndpointSecrets } from "../../webhooks/reencrypt";

export const secretsReencrypt = defineJob({
  type: "secrets.reencrypt",
  description: "Re-encrypts webhook endpoint secrets and TOTP seeds under the newest key (platform admin).",
  input: z.strictObject({}),
  access: { platformAdmin: true },
  retry: { maxAttempts: 5 },
  timeoutSeconds: 1740,
  handler: async ({ progress }) => {
    const ring = keyring();
    const endpointSecrets = await reencryptEndpointSecrets(ring, (done) =>
      progress({ done, message: "webhook endpoint secrets" }),
    );
    const mfaSecrets = await reencryptMfaSecrets(ring, (done) =>
      progress({ done: endpointSecrets + done, message: "TOTP seeds" }),
    );
    await progress({ done: endpointSecrets + mfaSecrets, total: endpointSecrets + mfaSecrets, message: "done" });
    return { keyId: ring.primary, endpointSecrets, mfaSecrets };
  },
});
