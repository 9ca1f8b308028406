/**
 * Key rotation for webhook endpoint secrets: re-encrypts every tenant's endpoint signing secrets
 * under the keyring's primary key, so the previous key can be retired. Run by the
 * `secrets.reencrypt` job (an operator job that spans tenants, hence the root collection group).
 */
import type { Firestore } from "firebase-admin/firestore";
// The operator job spans every tenant; it touches only endpoint documents' secret fields.
// eslint-disable-next-line no-restricted-imports
import { rootFirestore } from "../platform/admin";
import { decryptString, encrypt, needsReencryption, type Keyring } from "../platform/crypto";
import { rewriteCollectionGroup } from "../platform/reencrypt";
import type { StoredSecret } from "./outbound";

/**
 * Re-encrypts endpoint secrets not under the primary key, one transaction per endpoint (a
 * concurrent rotation is never lost). The associated data is the document path, as at creation.
 * Calls `onPage(done)` after every page; returns how many secrets were re-encrypted.
 */
export function reencryptEndpointSecrets(
  ring: Keyring,
  onPage: (reencrypted: number) => Promise<void>,
  firestore: Firestore = rootFirestore(),
): Promise<number> {
  return rewriteCollectionGroup(
    firestore,
    "webhookEndpoints",
    {
      rewrite: (snap) => {
        const aad = `${snap.ref.path}#secret`;
        let changed = 0;
        const secrets = ((snap.get("secrets") as StoredSecret[] | undefined) ?? []).map((s) => {
          if (typeof s.ciphertext !== "string" || !needsReencryption(s.ciphertext, ring)) return s;
          changed += 1;
          return {
            ...s,
            ciphertext: encrypt(decryptString(s.ciphertext, { aad, keyring: ring }), { aad, keyring: ring }),
          };
        });
        return { update: { secrets }, changed };
      },
    },
    onPage,
  );
}
