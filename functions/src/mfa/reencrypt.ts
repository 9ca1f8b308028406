/**
 * Key rotation for TOTP seeds: re-encrypts every stored seed (confirmed and pending) under the
 * keyring's primary key, so the previous key can be retired. Run by the `secrets.reencrypt` job.
 */
import type { Firestore } from "firebase-admin/firestore";
import { rootFirestore } from "../platform/admin";
import { decryptString, encrypt, needsReencryption, type Keyring } from "../platform/crypto";
import { rewriteCollectionGroup } from "../platform/reencrypt";
import { mfaPath, secretAad } from "./service";

const FIELDS = ["secret", "pendingSecret"] as const;

/**
 * Re-encrypts the seeds not under the primary key, one transaction per user (a concurrent
 * enrolment or verification is never overwritten). Calls `onPage(done)` after every page;
 * returns how many seeds were re-encrypted.
 */
export function reencryptMfaSecrets(
  ring: Keyring,
  onPage: (reencrypted: number) => Promise<void>,
  firestore: Firestore = rootFirestore(),
): Promise<number> {
  const uidOf = (path: string) => path.split("/")[1];
  return rewriteCollectionGroup(
    firestore,
    "private",
    {
      select: (ref) => ref.id === "mfa" && ref.path === mfaPath(uidOf(ref.path)),
      rewrite: (snap) => {
        const aad = secretAad(uidOf(snap.ref.path));
        const update: Record<string, string> = {};
        for (const field of FIELDS) {
          const value = snap.get(field);
          if (typeof value !== "string" || !needsReencryption(value, ring)) continue;
          update[field] = encrypt(decryptString(value, { aad, keyring: ring }), { aad, keyring: ring });
        }
        return { update, changed: Object.keys(update).length };
      },
    },
    onPage,
  );
}
