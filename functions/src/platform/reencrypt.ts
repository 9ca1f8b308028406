/**
 * The walk key rotation shares (the `secrets.reencrypt` job): every document of a collection
 * group, in pages of 100 in document-id order, each rewritten in its own transaction so a
 * concurrent write is never lost. Callers say which documents count and how one is rewritten.
 */
import type { DocumentReference, DocumentSnapshot, Firestore } from "firebase-admin/firestore";
import { FieldPath } from "./firestore-sdk";

const PAGE = 100;

export interface Rewrite {
  /** Which documents of the group are the caller's (others are not read again). */
  select?: (ref: DocumentReference) => boolean;
  /** The fields to update and how many values were re-encrypted (0: the document is left alone). */
  rewrite: (snap: DocumentSnapshot) => { update: Record<string, unknown>; changed: number };
}

/** Walks `group` as described above; calls `onPage(done)` after every page and returns the total changed. */
export async function rewriteCollectionGroup(
  firestore: Firestore,
  group: string,
  { select = () => true, rewrite }: Rewrite,
  onPage: (done: number) => Promise<void>,
): Promise<number> {
  let done = 0;
  let after: string | undefined;
  for (;;) {
    let query = firestore.collectionGroup(group).orderBy(FieldPath.documentId()).limit(PAGE);
    if (after) query = query.startAfter(after);
    const page = await query.get();
    for (const doc of page.docs) {
      if (!select(doc.ref)) continue;
      done += await firestore.runTransaction(async (tx) => {
        const { update, changed } = rewrite(await tx.get(doc.ref));
        if (changed > 0) tx.update(doc.ref, update);
        return changed;
      });
    }
    await onPage(done);
    if (page.size < PAGE) return done;
    after = page.docs[page.docs.length - 1].ref.path;
  }
}
