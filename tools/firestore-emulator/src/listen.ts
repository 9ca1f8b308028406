/**
 * The Listen RPC (real-time listeners): each target's result set is recomputed after every commit
 * that touches its database, and the differences are streamed in Firestore's watch protocol
 * (ADD, document changes, CURRENT, then a global NO_CHANGE carrying the snapshot's read time).
 * Brute force by design: correct for the small data sets of tests and local development.
 */
import { readNowUs, usToTimestamp } from "./clock";
import { GrpcError, Message, Status, invalid } from "./grpc";
import { ParsedName, parseDocumentName, parseName, parseParent } from "./names";
import { OpLog } from "./ops";
import { queryScope, runStructuredQuery } from "./query";
import { StreamCall, StreamSession } from "./server";
import { Database, Version } from "./store";

/** What a listener needs of a database. */
export interface WatchedDb {
  db: Database;
  ops: OpLog;
  /** `projects/{p}/databases/{d}`. */
  name: string;
}

interface Target {
  id: number;
  st: WatchedDb;
  /** What the target watches, for the operation log when it matches nothing. */
  label: string;
  call: StreamCall;
  /** Current matches: path → version. */
  compute(): Map<string, Version>;
  /** What the client was last told: path → update time. */
  sent: Map<string, number>;
}

/** Registry of open Listen targets, refreshed after commits. */
export class ListenHub {
  private readonly targets = new Map<WatchedDb, Set<Target>>();
  private readonly dirty = new Set<WatchedDb>();

  /** Opens a Listen session; `resolve` maps a request's database name to its state. */
  open(call: StreamCall, resolve: (database: ParsedName) => WatchedDb): StreamSession {
    const mine = new Map<number, Target>();
    call.onClose(() => {
      for (const t of mine.values()) this.targets.get(t.st)?.delete(t);
      mine.clear();
    });
    return {
      onMessage: (req) => {
        const st = resolve(parseName(req.database, "database"));
        if (req.addTarget) {
          const t = this.makeTarget(st, call, req.addTarget);
          const replaced = mine.get(t.id);
          if (replaced) this.targets.get(replaced.st)?.delete(replaced);
          mine.set(t.id, t);
          let set = this.targets.get(st);
          if (!set) this.targets.set(st, (set = new Set()));
          set.add(t);
          this.initial(t, !!req.addTarget.resumeToken?.length);
        } else if (req.removeTarget !== undefined) {
          const t = mine.get(req.removeTarget);
          if (t) {
            mine.delete(t.id);
            this.targets.get(st)?.delete(t);
          }
          call.send({ targetChange: { targetChangeType: "REMOVE", targetIds: [req.removeTarget] } });
        }
      },
    };
  }

  /** Marks a database changed; its targets are refreshed once the current turn ends. */
  changed(st: WatchedDb): void {
    if (!this.targets.get(st)?.size) return;
    if (this.dirty.size === 0) setImmediate(() => this.flush());
    this.dirty.add(st);
  }

  private flush(): void {
    const readTime = usToTimestamp(readNowUs());
    for (const st of this.dirty) {
      for (const t of this.targets.get(st) ?? []) {
        if (this.diff(t)) t.call.send({ targetChange: { targetChangeType: "NO_CHANGE", targetIds: [], readTime } });
      }
    }
    this.dirty.clear();
  }

  private makeTarget(st: WatchedDb, call: StreamCall, add: Message): Target {
    const id: number = add.targetId ?? 0;
    if (add.query) {
      const parent = parseParent(add.query.parent);
      const q = add.query.structuredQuery;
      if (!q) throw invalid("A query target needs a structured query.");
      return {
        id,
        st,
        call,
        label: queryScope(parent.path, q).label,
        sent: new Map(),
        compute: () => new Map(runStructuredQuery(st.db, parent.path, q).map((h) => [h.entry.path, h.version])),
      };
    }
    if (add.documents) {
      const paths = (add.documents.documents ?? []).map((n: string) => parseDocumentName(n).path);
      return {
        id,
        st,
        call,
        label: paths.join(","),
        sent: new Map(),
        compute: () => {
          const out = new Map<string, Version>();
          for (const p of paths) {
            const v = st.db.get(p);
            if (v) out.set(p, v);
          }
          return out;
        },
      };
    }
    throw new GrpcError(Status.INVALID_ARGUMENT, "A Listen target needs a query or documents.");
  }

  /** Sends the whole current state of a new (or resumed) target. */
  private initial(t: Target, resumed: boolean): void {
    t.call.send({ targetChange: { targetChangeType: "ADD", targetIds: [t.id] } });
    // A resumed target restarts from scratch: the client drops what it had.
    if (resumed) t.call.send({ targetChange: { targetChangeType: "RESET", targetIds: [t.id] } });
    const sent = this.diff(t);
    // Like an empty query, a listener that matches nothing is billed one read.
    if (!sent) t.st.ops.record("read", t.label, "Listen", false);
    const readUs = readNowUs();
    t.call.send({ targetChange: { targetChangeType: "CURRENT", targetIds: [t.id], resumeToken: resumeToken(readUs) } });
    t.call.send({ targetChange: { targetChangeType: "NO_CHANGE", targetIds: [], readTime: usToTimestamp(readUs) } });
  }

  /** Streams the differences since the last report; returns whether there were any. */
  private diff(t: Target): boolean {
    const now = t.compute();
    let changed = false;
    for (const [path, v] of now) {
      if (t.sent.get(path) === v.updateUs) continue;
      t.sent.set(path, v.updateUs);
      changed = true;
      // Listeners are billed one read per document delivered, like production.
      t.st.ops.record("read", path, "Listen", false);
      t.call.send({
        documentChange: {
          document: {
            name: `${t.st.db.documentsRoot}/${path}`,
            fields: v.fields ?? {},
            createTime: usToTimestamp(v.createUs),
            updateTime: usToTimestamp(v.updateUs),
          },
          targetIds: [t.id],
        },
      });
    }
    for (const path of [...t.sent.keys()]) {
      if (now.has(path)) continue;
      t.sent.delete(path);
      changed = true;
      t.call.send({ documentRemove: { document: `${t.st.db.documentsRoot}/${path}`, removedTargetIds: [t.id] } });
    }
    return changed;
  }
}

function resumeToken(us: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(us));
  return b;
}
