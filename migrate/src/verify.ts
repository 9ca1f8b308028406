/**
 * `--verify`: re-reads the source, converts each document again (the conversion is
 * deterministic) and compares it with the target document by checksum; counts the target
 * collections too, so documents the source does not account for show up as well.
 */
import type { Firestore } from "firebase-admin/firestore";
import { type ConversionStats, convertDocument } from "./convert";
import { checksum } from "./firestore-value";
import type { Mapping } from "./mapping";
import type { Source } from "./source";

export interface VerifyProblem {
  index: number;
  path: string;
  problem: "missing" | "checksum mismatch";
}

export interface CollectionVerification {
  source: string;
  /** Documents in the source. */
  sourceDocuments: number;
  /** Source documents that convert, i.e. that the target should hold. */
  expected: number;
  /** Source documents with per-document errors (never written). */
  conversionErrors: number;
  /** Expected documents present in the target with the expected checksum. */
  matched: number;
  missing: number;
  mismatched: number;
  /** Documents in the target collections the mapping writes to, counted by Firestore. */
  targetDocuments: number;
  problems: VerifyProblem[];
}

export interface VerifyReport {
  ok: boolean;
  verifiedAt: string;
  collections: CollectionVerification[];
}

const BATCH = 300;
const MAX_PROBLEMS = 1000;

/** Verifies every mapped collection; `ok` when every convertible document is present and identical. */
export async function verify(
  db: Firestore,
  mapping: Mapping,
  source: Source,
  counts: Map<string, number>,
  log: (l: string) => void,
): Promise<VerifyReport> {
  const collections: CollectionVerification[] = [];
  for (const c of mapping.collections) {
    const v: CollectionVerification = {
      source: c.source,
      sourceDocuments: counts.get(c.source) ?? 0,
      expected: 0,
      conversionErrors: 0,
      matched: 0,
      missing: 0,
      mismatched: 0,
      targetDocuments: 0,
      problems: [],
    };
    const parents = new Set<string>();
    const stats: ConversionStats = new Map();
    let batch: { index: number; path: string; checksum: string }[] = [];
    const check = async () => {
      if (batch.length === 0) return;
      const snaps = await db.getAll(...batch.map((b) => db.doc(b.path)));
      snaps.forEach((snap, i) => {
        const want = batch[i];
        if (!snap.exists) {
          v.missing++;
          if (v.problems.length < MAX_PROBLEMS)
            v.problems.push({ index: want.index, path: want.path, problem: "missing" });
        } else if (checksum(snap.data() ?? {}) !== want.checksum) {
          v.mismatched++;
          if (v.problems.length < MAX_PROBLEMS)
            v.problems.push({ index: want.index, path: want.path, problem: "checksum mismatch" });
        } else v.matched++;
      });
      batch = [];
    };
    for await (const { index, doc } of source.read(c.source, 0)) {
      const converted = convertDocument(doc, c, db, stats);
      if (!converted.ok) {
        v.conversionErrors++;
        continue;
      }
      v.expected++;
      parents.add(converted.path.slice(0, converted.path.lastIndexOf("/")));
      batch.push({ index, path: converted.path, checksum: converted.checksum });
      if (batch.length >= BATCH) await check();
    }
    await check();
    for (const parent of parents) v.targetDocuments += (await db.collection(parent).count().get()).data().count;
    collections.push(v);
    log(
      `verify ${c.source}: source ${v.sourceDocuments}, expected ${v.expected}, matched ${v.matched}, missing ${v.missing}, mismatched ${v.mismatched}, errors ${v.conversionErrors}, target ${v.targetDocuments}`,
    );
  }
  return {
    ok: collections.every((c) => c.missing === 0 && c.mismatched === 0 && c.matched === c.expected),
    verifiedAt: new Date().toISOString(),
    collections,
  };
}
