/**
 * Key rotation for TOTP seeds: re-encrypts every stored seed (confirmed and pending) under the
 * keyring's primary key, so the previous key can be retired. Run by the `secrets.reencrypt` job.
 */
import type { Firestore } from "firebase-admin/firestore";
import { rootFirestore } from "../platform/admin";
import { decryptString, encrypt, needsReencryption, type Keyring } from "../platform/crypto";
import { FieldPath } from "../platform/firestore-sdk";
import { mfaPath, secretAad } from "./service";

const PAGE = 100;
const FIELDS = ["secret", "pendingSecret"] as const;

/**
 * Re-encrypts, page by page, the seeds not under the primary key. Each document is rewritten in
 * its own transaction, so a concurrent enrolment or verification is never overwritten. Calls
 * `onPage(done)` after every page; returns how many seeds were re-encrypted.
 */
export async function reencryptMfaSecrets(
  ring: Keyring,
  onPage: (reencrypted: number) => Promise<void>,
  firestore: Firestore = rootFirestore(),
): Promise<number> {
  let done = 0;
  let after: string | undefined;
  for (;;) {
    let query = firestore.collectionGroup("private").orderBy(FieldPath.documentId()).limit(PAGE);
    if (after) query = query.startAfter(after);
    const page = await query.get();
    for (const doc of page.docs) {
      const uid = doc.ref.path.split("/")[1];
      if (doc.id !== "mfa" || doc.ref.path !== mfaPath(uid)) continue;
      done += await firestore.runTransaction(async (tx) => {
        const snap = await tx.get(doc.ref);
        const update: Record<string, string> = {};
        for (const field of FIELDS) {
          const value = snap.get(field);
          if (typeof value !== "string" || !needsReencryption(value, ring)) continue;
          const plain = decryptString(value, { aad: secretAad(uid), keyring: ring });
          update[field] = encrypt(plain, { aad: secretAad(uid), keyring: ring });
        }
        if (Object.keys(update).length > 0) tx.update(doc.ref, update);
        return Object.keys(update).length;
      });
    }
    await onPage(done);
    if (page.size < PAGE) return done;
    after = page.docs[page.docs.length - 1].ref.path;
  }
}
