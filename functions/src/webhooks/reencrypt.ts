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
import { FieldPath } from "../platform/firestore-sdk";
import type { StoredSecret } from "./outbound";

const PAGE = 100;

/**
 * Re-encrypts, page by page, endpoint secrets not under the primary key, one transaction per
 * endpoint (a concurrent rotation is never lost). The associated data is the document path, as
 * at creation. Calls `onPage(done)` after every page; returns how many secrets were re-encrypted.
 */
export async function reencryptEndpointSecrets(
  ring: Keyring,
  onPage: (reencrypted: number) => Promise<void>,
  firestore: Firestore = rootFirestore(),
): Promise<number> {
  let done = 0;
  let after: string | undefined;
  for (;;) {
    let query = firestore.collectionGroup("webhookEndpoints").orderBy(FieldPath.documentId()).limit(PAGE);
    if (after) query = query.startAfter(after);
    const page = await query.get();
    for (const doc of page.docs) {
      const aad = `${doc.ref.path}#secret`;
      done += await firestore.runTransaction(async (tx) => {
        const snap = await tx.get(doc.ref);
        const stored = (snap.get("secrets") as StoredSecret[] | undefined) ?? [];
        let changed = 0;
        const secrets = stored.map((s) => {
          if (typeof s.ciphertext !== "string" || !needsReencryption(s.ciphertext, ring)) return s;
          changed += 1;
          return {
            ...s,
            ciphertext: encrypt(decryptString(s.ciphertext, { aad, keyring: ring }), { aad, keyring: ring }),
          };
        });
        if (changed > 0) tx.update(doc.ref, { secrets });
        return changed;
      });
    }
    await onPage(done);
    if (page.size < PAGE) return done;
    after = page.docs[page.docs.length - 1].ref.path;
  }
}
