/**
 * Document storage of one database: documents by path with a bounded version history (for
 * `readTime` reads), collections indexed by path and by collection id (for collection-group
 * queries).
 */
import { Fields } from "./values";

/** One committed state of a document; `fields === null` records a delete. */
export interface Version {
  fields: Fields | null;
  createUs: number;
  updateUs: number;
  commitUs: number;
}

/** A document path and every version of it still kept. */
export interface DocEntry {
  /** Path relative to `.../documents`, e.g. `tenants/a/members/u1`. */
  path: string;
  /** Collection id, i.e. the second-to-last path segment. */
  collectionId: string;
  versions: Version[];
}

/** Versions older than this are dropped (the newest one before the horizon is kept). */
export const HISTORY_US = 60 * 60 * 1e6;

/** The visible version of a document at a read time (undefined = latest), or null if absent. */
export function versionAt(entry: DocEntry, readUs?: number): Version | null {
  const vs = entry.versions;
  let i = vs.length - 1;
  if (readUs !== undefined) while (i >= 0 && vs[i].commitUs > readUs) i--;
  if (i < 0) return null;
  return vs[i].fields === null ? null : vs[i];
}

/** Parent collection path of a document path (`a/b/c/d` → `a/b/c`). */
export function parentOf(docPath: string): string {
  return docPath.slice(0, docPath.lastIndexOf("/"));
}

/** Documents and collection indexes of one database. */
export class Database {
  readonly docs = new Map<string, DocEntry>();
  /** collection path → documents directly in it. */
  readonly collections = new Map<string, Map<string, DocEntry>>();
  /** collection id → collection paths with that id, for collection-group scans. */
  readonly groups = new Map<string, Set<string>>();

  /** `projects/{p}/databases/{d}/documents`, the prefix of every document name. */
  constructor(readonly documentsRoot: string) {}

  /** The entry for a path, created (empty) on demand. */
  entry(path: string): DocEntry {
    let e = this.docs.get(path);
    if (e) return e;
    const coll = parentOf(path);
    const collectionId = coll.slice(coll.lastIndexOf("/") + 1);
    e = { path, collectionId, versions: [] };
    this.docs.set(path, e);
    let c = this.collections.get(coll);
    if (!c) {
      c = new Map();
      this.collections.set(coll, c);
      let g = this.groups.get(collectionId);
      if (!g) this.groups.set(collectionId, (g = new Set()));
      g.add(coll);
    }
    c.set(path.slice(coll.length + 1), e);
    return e;
  }

  /** The current version of a document, or null. */
  get(path: string, readUs?: number): Version | null {
    const e = this.docs.get(path);
    return e ? versionAt(e, readUs) : null;
  }

  /** Appends a version and trims history older than HISTORY_US. */
  put(path: string, v: Version): void {
    const e = this.entry(path);
    e.versions.push(v);
    const horizon = v.commitUs - HISTORY_US;
    let drop = 0;
    while (drop < e.versions.length - 1 && e.versions[drop + 1].commitUs <= horizon) drop++;
    if (drop > 0) e.versions.splice(0, drop);
  }

  /** Drops every document. */
  clear(): void {
    this.docs.clear();
    this.collections.clear();
    this.groups.clear();
  }

  /** Whether any document visible at readUs lives strictly below `prefix/`. */
  hasDescendants(prefix: string, readUs?: number): boolean {
    const p = prefix + "/";
    for (const [coll, docs] of this.collections) {
      if (!coll.startsWith(p)) continue;
      for (const e of docs.values()) if (versionAt(e, readUs)) return true;
    }
    return false;
  }

  /** Whether a collection (by path) holds a visible document at any depth. */
  collectionHasDocs(coll: string, readUs?: number): boolean {
    const docs = this.collections.get(coll);
    if (docs) for (const e of docs.values()) if (versionAt(e, readUs)) return true;
    return this.hasDescendants(coll, readUs);
  }
}
