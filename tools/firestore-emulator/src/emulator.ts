/**
 * The Firestore service: per-project state and every google.firestore.v1.Firestore RPC the Admin
 * SDK uses. All state lives on the event loop; a commit is applied synchronously in one turn
 * after its locks are held, which is what makes it atomic.
 */
import { randomBytes } from "node:crypto";
import { nextCommitUs, readNowUs, timestampToUs, usToTimestamp } from "./clock";
import { parseFieldPath, projectFields } from "./fieldpath";
import { GrpcError, Message, Status, aborted, invalid } from "./grpc";
import { ParsedName, autoId, isDocumentPath, parseDocumentName, parseName, parseParent } from "./names";
import { OpLog } from "./ops";
import { computeAggregations } from "./aggregate";
import { Hit, queryScope, runStructuredQuery } from "./query";
import { ListenHub } from "./listen";
import { CallSignal, RpcHandler, StreamHandler } from "./server";
import { Database, Version, parentOf, versionAt } from "./store";
import { LockTable, Owner, lockAll, newPriority, withWriteLocks, wound } from "./transactions";
import { Fields, Value, compareUtf8, fieldsIdentical } from "./values";
import { DocState, applyWrite, validateFields, writeTarget } from "./writes";

/** State of one database. */
interface DbState {
  db: Database;
  locks: LockTable;
  ops: OpLog;
  /** `projects/{p}/databases/{d}`. */
  name: string;
}

interface Project {
  ops: OpLog;
  dbs: Map<string, DbState>;
}

type TxnState = "active" | "committed" | "rolledback" | "aborted";

/** A client transaction. Read-write ones own locks through `owner`. */
interface Txn {
  key: string;
  id: Buffer;
  st: DbState;
  readOnly: boolean;
  /** Snapshot time of a read-only transaction. */
  readUs?: number;
  owner: Owner;
  state: TxnState;
  lastActiveMs: number;
  /** RPCs in flight (a waiting transaction is not idle). */
  busy: number;
}

/** How a read is served: latest, at a snapshot, or inside a transaction. */
interface ReadContext {
  readUs?: number;
  txn?: Txn;
  /** Set when this read started the transaction: its id goes into the first response. */
  started?: Txn;
}

export interface EmulatorOptions {
  /** Idle read-write transactions are aborted (locks freed) after this long. */
  transactionTimeoutMs?: number;
}

const EXPIRED = "The referenced transaction has expired or is no longer valid.";
/**
 * Read-only transactions hold no locks, but the SDK never ends them (no commit, no rollback):
 * they expire after production's 270 s maximum so their records do not pile up.
 */
const READ_ONLY_IDLE_MS = 270_000;
/** Finished transactions are remembered this long, to answer late calls and keep retry priority. */
const TXN_MEMORY_MS = 5 * 60_000;

/** The emulator's service state. Several instances may coexist in one process. */
export class Emulator {
  private readonly projects = new Map<string, Project>();
  private readonly txns = new Map<string, Txn>();
  private readonly timeoutMs: number;
  private readonly sweeper: NodeJS.Timeout;
  private readonly listeners = new ListenHub();

  constructor(opts: EmulatorOptions = {}) {
    this.timeoutMs = opts.transactionTimeoutMs ?? 30_000;
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, this.timeoutMs)).unref();
  }

  /** Stops background work. */
  close(): void {
    clearInterval(this.sweeper);
  }

  /** The operation log of a project (created on first use). */
  opsOf(project: string): OpLog {
    return this.project(project).ops;
  }

  /** Clears one database (documents, locks, transactions) and its project's op log. */
  clearDatabase(project: string, database: string): void {
    const p = this.project(project);
    const st = p.dbs.get(database);
    if (st) this.clearState(st);
    p.ops.reset();
  }

  /** Clears a project, or every project when none is given. */
  reset(project?: string): void {
    const list = project === undefined ? [...this.projects.values()] : [this.project(project)];
    for (const p of list) {
      for (const st of p.dbs.values()) this.clearState(st);
      p.ops.reset();
    }
  }

  private clearState(st: DbState): void {
    for (const t of this.txns.values()) {
      if (t.st === st && t.state === "active") this.abortTxn(t, aborted("Transaction aborted because the emulator data was reset."));
    }
    st.locks.clear();
    st.db.clear();
    this.listeners.changed(st);
  }

  private project(id: string): Project {
    let p = this.projects.get(id);
    if (!p) this.projects.set(id, (p = { ops: new OpLog(), dbs: new Map() }));
    return p;
  }

  private state(n: ParsedName): DbState {
    const p = this.project(n.project);
    let st = p.dbs.get(n.database);
    if (!st) {
      const name = `projects/${n.project}/databases/${n.database}`;
      st = { db: new Database(name + "/documents"), locks: new LockTable(), ops: p.ops, name };
      p.dbs.set(n.database, st);
    }
    return st;
  }

  // ---- transactions -------------------------------------------------------------------------

  private beginTxn(st: DbState, options: Message | undefined): Txn {
    const id = randomBytes(16);
    const readOnly = !!options?.readOnly;
    let priority = newPriority();
    const retry: Buffer | undefined = options?.readWrite?.retryTransaction;
    if (retry && retry.length > 0) {
      const prev = this.txns.get(retry.toString("hex"));
      if (prev) {
        // The retry inherits the original start order, so it ages and eventually wins wound-wait.
        priority = prev.owner.priority;
        // The SDK's rollback of the previous attempt is fire-and-forget and may arrive later.
        if (prev.state === "active") this.abortTxn(prev, aborted(EXPIRED));
      }
    }
    const t: Txn = {
      key: id.toString("hex"),
      id,
      st,
      readOnly,
      owner: new Owner(st.locks, priority),
      state: "active",
      lastActiveMs: Date.now(),
      busy: 0,
    };
    if (readOnly) {
      const rt = options!.readOnly.readTime;
      t.readUs = rt ? timestampToUs(rt) : readNowUs();
    }
    this.txns.set(t.key, t);
    return t;
  }

  private lookupTxn(st: DbState, id: unknown): Txn {
    if (!Buffer.isBuffer(id) && !(id instanceof Uint8Array)) throw invalid("Invalid transaction.");
    const t = this.txns.get(Buffer.from(id).toString("hex"));
    if (!t || t.st !== st) throw invalid(EXPIRED);
    // A wounded transaction learns of it on its next call, whatever that call is.
    if (t.state === "aborted" || t.owner.aborted) throw t.owner.aborted ?? aborted(EXPIRED);
    if (t.state !== "active") throw new GrpcError(Status.FAILED_PRECONDITION, `Transaction is no longer active (${t.state}).`);
    return t;
  }

  private abortTxn(t: Txn, err: GrpcError): void {
    t.state = "aborted";
    wound(t.owner, err);
  }

  private endTxn(t: Txn, state: TxnState): void {
    t.state = state;
    t.owner.table.releaseAll(t.owner);
    t.lastActiveMs = Date.now();
  }

  /** Aborts idle transactions and forgets long-finished ones. */
  private sweep(): void {
    const now = Date.now();
    for (const t of this.txns.values()) {
      if (t.state === "active") {
        if (t.owner.aborted) t.state = "aborted";
        else if (t.busy === 0 && now - t.lastActiveMs > (t.readOnly ? READ_ONLY_IDLE_MS : this.timeoutMs)) {
          this.abortTxn(t, aborted(`Transaction expired after ${Math.round((now - t.lastActiveMs) / 1000)} s without activity; its locks were released.`));
        }
      } else if (now - t.lastActiveMs > TXN_MEMORY_MS) {
        this.txns.delete(t.key);
      }
    }
  }

  /** Runs `fn` marking the transaction busy, so it is not expired while waiting for locks. */
  private async inTxn<T>(t: Txn | undefined, fn: () => Promise<T> | T): Promise<T> {
    if (!t) return fn();
    t.busy++;
    try {
      return await fn();
    } finally {
      t.busy--;
      t.lastActiveMs = Date.now();
      if (t.owner.aborted && t.state === "active") t.state = "aborted";
    }
  }

  private readContext(st: DbState, req: Message): ReadContext {
    if (req.transaction !== undefined) {
      const txn = this.lookupTxn(st, req.transaction);
      return { txn, readUs: txn.readUs };
    }
    if (req.newTransaction !== undefined) {
      const txn = this.beginTxn(st, req.newTransaction);
      return { txn, started: txn, readUs: txn.readUs };
    }
    if (req.readTime !== undefined) return { readUs: timestampToUs(req.readTime) };
    return {};
  }

  /**
   * Runs a read. A transaction this read started is aborted if the read fails or the client
   * cancels it while it waits for a lock: the client never learned its id, so no rollback will
   * come to free it.
   */
  private async read<T>(ctx: ReadContext, signal: CallSignal, fn: () => Promise<T> | T): Promise<T> {
    const started = ctx.started;
    const onCancel = (): void => {
      if (started?.state === "active") this.abortTxn(started, new GrpcError(Status.CANCELLED, "The read that started this transaction was cancelled."));
    };
    if (started) signal.onCancel(onCancel);
    try {
      return await this.inTxn(ctx.txn, fn);
    } catch (e) {
      if (started?.state === "active") this.abortTxn(started, e instanceof GrpcError ? e : aborted(EXPIRED));
      throw e;
    }
  }

  /** Whether reads in this context take locks (read-write transactions). */
  private locking(ctx: ReadContext): Owner | undefined {
    return ctx.txn && !ctx.txn.readOnly ? ctx.txn.owner : undefined;
  }

  // ---- documents ----------------------------------------------------------------------------

  private docOut(st: DbState, path: string, v: Version, mask?: Message): Message {
    let fields: Fields = v.fields ?? {};
    if (mask) fields = projectFields(fields, (mask.fieldPaths ?? []).map((p: string) => parseFieldPath(p)));
    return {
      name: `${st.db.documentsRoot}/${path}`,
      fields,
      createTime: usToTimestamp(v.createUs),
      updateTime: usToTimestamp(v.updateUs),
    };
  }

  private sameDb(st: DbState, n: ParsedName, name: string): void {
    if (`projects/${n.project}/databases/${n.database}` !== st.name) throw invalid(`Document ${name} belongs to another database than ${st.name}.`);
  }

  // ---- RPC handlers -------------------------------------------------------------------------

  /** Handlers of the bidirectional-streaming RPCs (Listen), by method name. */
  streamHandlers(): Map<string, StreamHandler> {
    return new Map<string, StreamHandler>([["Listen", (call) => this.listeners.open(call, (n) => this.state(n))]]);
  }

  /** Handlers for every implemented RPC, by method name. */
  handlers(): Map<string, RpcHandler> {
    return new Map<string, RpcHandler>([
      ["GetDocument", (r, signal) => this.getDocument(r, signal)],
      ["BatchGetDocuments", (r, signal) => this.batchGet(r, signal)],
      ["RunQuery", (r, signal) => this.runQuery(r, signal)],
      ["RunAggregationQuery", (r, signal) => this.runAggregation(r, signal)],
      ["ListDocuments", (r, signal) => this.listDocuments(r, signal)],
      ["ListCollectionIds", (r) => this.listCollectionIds(r)],
      ["BeginTransaction", (r) => this.beginTransaction(r)],
      ["Rollback", (r) => this.rollback(r)],
      ["Commit", (r) => this.commit(r)],
      ["BatchWrite", (r) => this.batchWrite(r)],
      ["CreateDocument", (r) => this.createDocument(r)],
      ["UpdateDocument", (r) => this.updateDocument(r)],
      ["DeleteDocument", (r) => this.deleteDocument(r)],
      ["PartitionQuery", (r) => this.partitionQuery(r)],
    ]);
  }

  private async getDocument(req: Message, signal: CallSignal): Promise<Message> {
    const n = parseDocumentName(req.name);
    const st = this.state(n);
    const ctx = this.readContext(st, req);
    if (ctx.started) throw invalid("GetDocument cannot start a transaction.");
    return this.read(ctx, signal, async () => {
      const owner = this.locking(ctx);
      if (owner) await lockAll(st.locks, owner, () => ["d:" + n.path]);
      const v = st.db.get(n.path, ctx.readUs);
      st.ops.record("read", n.path, "GetDocument", !!ctx.txn);
      if (!v) throw new GrpcError(Status.NOT_FOUND, `Document "${req.name}" not found.`);
      return this.docOut(st, n.path, v, req.mask);
    });
  }

  private async batchGet(req: Message, signal: CallSignal): Promise<Message[]> {
    const st = this.state(parseName(req.database, "database"));
    const names: string[] = req.documents ?? [];
    const paths = names.map((name) => {
      const n = parseDocumentName(name);
      this.sameDb(st, n, name);
      return n.path;
    });
    const ctx = this.readContext(st, req);
    return this.read(ctx, signal, async () => {
      const owner = this.locking(ctx);
      if (owner) await lockAll(st.locks, owner, () => paths.map((p) => "d:" + p));
      const readUs = ctx.readUs ?? readNowUs();
      const readTime = usToTimestamp(readUs);
      const out: Message[] = [];
      for (let i = 0; i < paths.length; i++) {
        const v = st.db.get(paths[i], ctx.readUs);
        st.ops.record("read", paths[i], "BatchGetDocuments", !!ctx.txn);
        const m: Message = v ? { found: this.docOut(st, paths[i], v, req.mask), readTime } : { missing: names[i], readTime };
        out.push(m);
      }
      if (ctx.started) {
        if (out.length === 0) out.push({ readTime });
        out[0].transaction = ctx.started.id;
      }
      return out;
    });
  }

  /** Runs a query, locking (inside a read-write transaction) its scope and every result. */
  private async queryHits(st: DbState, parentPath: string, q: Message, ctx: ReadContext): Promise<Hit[]> {
    const owner = this.locking(ctx);
    if (!owner) return runStructuredQuery(st.db, parentPath, q, ctx.readUs);
    const scope = queryScope(parentPath, q);
    const p = st.locks.acquire(owner, scope.lockKey, "S");
    if (p) await p;
    let hits: Hit[] = [];
    await lockAll(st.locks, owner, () => {
      hits = runStructuredQuery(st.db, parentPath, q, undefined);
      return hits.map((h) => "d:" + h.entry.path);
    });
    return hits;
  }

  private async runQuery(req: Message, signal: CallSignal): Promise<Message[]> {
    const parent = parseParent(req.parent);
    const st = this.state(parent);
    const q = req.structuredQuery;
    if (!q) throw invalid("RunQuery requires a structured query.");
    rejectExplain(req);
    const ctx = this.readContext(st, req);
    return this.read(ctx, signal, async () => {
      const hits = await this.queryHits(st, parent.path, q, ctx);
      const readTime = usToTimestamp(ctx.readUs ?? readNowUs());
      const tx = !!ctx.txn;
      const mask = q.select ? { fieldPaths: (q.select.fields ?? []).map((f: Message) => f.fieldPath).filter((f: string) => f !== "__name__") } : undefined;
      const out: Message[] = hits.map((h) => {
        st.ops.record("read", h.entry.path, "RunQuery", tx);
        return { document: this.docOut(st, h.entry.path, h.version, mask), readTime };
      });
      if (out.length === 0) {
        // An empty result is still billed one read, logged against the queried collection.
        st.ops.record("read", queryScope(parent.path, q).label, "RunQuery", tx);
        out.push({ readTime });
      }
      if (ctx.started) out[0].transaction = ctx.started.id;
      return out;
    });
  }

  private async runAggregation(req: Message, signal: CallSignal): Promise<Message[]> {
    const parent = parseParent(req.parent);
    const st = this.state(parent);
    const agg = req.structuredAggregationQuery;
    if (!agg?.structuredQuery) throw invalid("RunAggregationQuery requires a structured aggregation query.");
    rejectExplain(req);
    const aggregations: Message[] = agg.aggregations ?? [];
    if (aggregations.length === 0) throw invalid("At least one aggregation is required.");
    const ctx = this.readContext(st, req);
    return this.read(ctx, signal, async () => {
      const matched = await this.queryHits(st, parent.path, agg.structuredQuery, ctx);
      const { hits, fields } = computeAggregations(aggregations, matched);
      // Aggregations bill one read per batch of up to 1000 index entries.
      const reads = Math.max(1, Math.ceil(hits.length / 1000));
      st.ops.recordReads(reads, queryScope(parent.path, agg.structuredQuery).label, "RunAggregationQuery", !!ctx.txn);
      const m: Message = { result: { aggregateFields: fields }, readTime: usToTimestamp(ctx.readUs ?? readNowUs()) };
      if (ctx.started) m.transaction = ctx.started.id;
      return [m];
    });
  }

  private async listDocuments(req: Message, signal: CallSignal): Promise<Message> {
    const parent = parseParent(req.parent);
    const st = this.state(parent);
    const collId: string = req.collectionId ?? "";
    if (!collId || collId.includes("/")) throw invalid("ListDocuments requires a collection id.");
    const coll = parent.path ? `${parent.path}/${collId}` : collId;
    const ctx = this.readContext(st, req);
    if (ctx.started) throw invalid("ListDocuments cannot start a transaction.");
    return this.read(ctx, signal, async () => {
      const readUs = ctx.readUs;
      const ids = new Set<string>();
      for (const [id, e] of st.db.collections.get(coll) ?? []) {
        if (versionAt(e, readUs) || (req.showMissing && st.db.hasDescendants(e.path, readUs))) ids.add(id);
      }
      if (req.showMissing) {
        // Documents that do not exist but have subcollections are listed as "missing".
        const prefix = coll + "/";
        for (const c of st.db.collections.keys()) {
          if (!c.startsWith(prefix)) continue;
          const id = c.slice(prefix.length, c.indexOf("/", prefix.length));
          if (!ids.has(id) && st.db.collectionHasDocs(c, readUs)) ids.add(id);
        }
      }
      const sorted = [...ids].sort(compareUtf8);
      const { page, next } = paginate(sorted, req.pageSize, req.pageToken);
      const owner = this.locking(ctx);
      if (owner) await lockAll(st.locks, owner, () => page.map((id) => `d:${coll}/${id}`));
      const documents = page.map((id) => {
        const path = `${coll}/${id}`;
        const v = st.db.get(path, readUs);
        st.ops.record("read", path, "ListDocuments", !!ctx.txn);
        return v ? this.docOut(st, path, v, req.mask) : { name: `${st.db.documentsRoot}/${path}` };
      });
      if (documents.length === 0) st.ops.record("read", coll, "ListDocuments", !!ctx.txn);
      return { documents, nextPageToken: next };
    });
  }

  private listCollectionIds(req: Message): Message {
    const parent = parseParent(req.parent);
    const st = this.state(parent);
    const readUs = req.readTime ? timestampToUs(req.readTime) : undefined;
    const prefix = parent.path ? parent.path + "/" : "";
    const ids = new Set<string>();
    for (const c of st.db.collections.keys()) {
      if (!c.startsWith(prefix)) continue;
      const rest = c.slice(prefix.length);
      const slash = rest.indexOf("/");
      const id = slash < 0 ? rest : rest.slice(0, slash);
      if (!ids.has(id) && st.db.collectionHasDocs(c, readUs)) ids.add(id);
    }
    const { page, next } = paginate([...ids].sort(compareUtf8), req.pageSize, req.pageToken);
    st.ops.record("read", parent.path, "ListCollectionIds", false);
    return { collectionIds: page, nextPageToken: next };
  }

  private beginTransaction(req: Message): Message {
    const st = this.state(parseName(req.database, "database"));
    const t = this.beginTxn(st, req.options);
    return { transaction: t.id };
  }

  private rollback(req: Message): Message {
    const st = this.state(parseName(req.database, "database"));
    const id = req.transaction;
    if (!id || id.length === 0) throw invalid("Rollback requires a transaction.");
    const t = this.txns.get(Buffer.from(id).toString("hex"));
    if (!t || t.st !== st) throw invalid(EXPIRED);
    if (t.state === "active") this.endTxn(t, "rolledback");
    return {};
  }

  private async commit(req: Message): Promise<Message> {
    const st = this.state(parseName(req.database, "database"));
    const writes: Message[] = req.writes ?? [];
    const txn = req.transaction !== undefined && req.transaction.length > 0 ? this.lookupTxn(st, req.transaction) : undefined;
    if (txn?.readOnly) {
      if (writes.length > 0) throw invalid("Cannot modify entities in a read-only transaction.");
      this.endTxn(txn, "committed");
      return { writeResults: [], commitTime: usToTimestamp(readNowUs()) };
    }
    const targets = writes.map((w) => {
      const n = parseDocumentName(writeTarget(w));
      this.sameDb(st, n, n.path);
      return n.path;
    });
    const keys = (): string[] => writeLockKeys(st.db, targets);
    const apply = (): Message => this.applyCommit(st, writes, targets, "Commit", !!txn);
    if (!txn) return withWriteLocks(st.locks, keys, apply);
    return this.inTxn(txn, async () => {
      try {
        await lockAll(st.locks, txn.owner, keys);
      } catch (e) {
        if (txn.state === "active") this.abortTxn(txn, e instanceof GrpcError ? e : aborted(EXPIRED));
        throw e;
      }
      try {
        return apply();
      } finally {
        // A failed precondition ends the transaction too: production discards it on any commit error.
        this.endTxn(txn, "committed");
      }
    });
  }

  /**
   * Evaluates every write against an overlay, then stores all of them with one commit time —
   * or nothing, if any write fails. Callers hold the write locks.
   */
  private applyCommit(st: DbState, writes: Message[], targets: string[], method: string, inTx: boolean): Message {
    const commitUs = nextCommitUs();
    const overlay = new Map<string, DocState>();
    const results: { path: string; transformResults: Value[]; deleted: boolean }[] = [];
    writes.forEach((w, i) => {
      const path = targets[i];
      let cur = overlay.get(path);
      if (!cur) {
        const base = st.db.get(path);
        cur = { fields: base ? base.fields : null, base };
      }
      const name = `${st.db.documentsRoot}/${path}`;
      const r = applyWrite(w, name, cur, commitUs);
      overlay.set(path, { fields: r.fields, base: cur.base });
      results.push({ path, transformResults: r.transformResults, deleted: w.delete !== undefined });
    });
    const finalUpdate = new Map<string, number>();
    for (const [path, s] of overlay) {
      const base = s.base;
      if (s.fields === null) {
        if (base) st.db.put(path, { fields: null, createUs: 0, updateUs: commitUs, commitUs });
      } else if (base && fieldsIdentical(base.fields!, s.fields)) {
        // Production leaves an unchanged document (and its update time) as it was.
        finalUpdate.set(path, base.updateUs);
      } else {
        st.db.put(path, { fields: s.fields, createUs: base ? base.createUs : commitUs, updateUs: commitUs, commitUs });
        finalUpdate.set(path, commitUs);
      }
    }
    const writeResults = results.map((r) => {
      st.ops.record(r.deleted ? "delete" : "write", r.path, method, inTx);
      const out: Message = { transformResults: r.transformResults };
      const u = finalUpdate.get(r.path);
      if (u !== undefined) out.updateTime = usToTimestamp(u);
      return out;
    });
    this.listeners.changed(st);
    return { writeResults, commitTime: usToTimestamp(commitUs) };
  }

  private async batchWrite(req: Message): Promise<Message> {
    const st = this.state(parseName(req.database, "database"));
    const writes: Message[] = req.writes ?? [];
    // google.firestore.v1 Firestore.BatchWrite: "Method does not allow more than one write per
    // document" (BatchWriteRequest.writes: "You cannot write to the same document more than once
    // per request"); production rejects the whole request, before applying anything.
    const seen = new Set<string>();
    for (const w of writes) {
      const target = writeTarget(w);
      if (seen.has(target)) throw invalid("the same document cannot be written more than once in a single request");
      seen.add(target);
    }
    const writeResults: Message[] = [];
    const status: Message[] = [];
    for (const w of writes) {
      try {
        const n = parseDocumentName(writeTarget(w));
        this.sameDb(st, n, n.path);
        const r = await withWriteLocks(
          st.locks,
          () => writeLockKeys(st.db, [n.path]),
          () => this.applyCommit(st, [w], [n.path], "BatchWrite", false),
        );
        writeResults.push(r.writeResults[0]);
        status.push({ code: 0 });
      } catch (e) {
        const err = e instanceof GrpcError ? e : new GrpcError(Status.INTERNAL, String(e));
        writeResults.push({});
        status.push({ code: err.code, message: err.message });
      }
    }
    return { writeResults, status };
  }

  /** Commits one write outside any transaction and returns the resulting document. */
  private async singleWrite(st: DbState, path: string, w: Message, method: string, mask?: Message): Promise<Message | undefined> {
    return withWriteLocks(
      st.locks,
      () => writeLockKeys(st.db, [path]),
      () => {
        this.applyCommit(st, [w], [path], method, false);
        const v = st.db.get(path);
        return v ? this.docOut(st, path, v, mask) : undefined;
      },
    );
  }

  private async createDocument(req: Message): Promise<Message> {
    const parent = parseParent(req.parent);
    const st = this.state(parent);
    const collId: string = req.collectionId ?? "";
    if (!collId || collId.includes("/")) throw invalid("CreateDocument requires a collection id.");
    const id: string = req.documentId || autoId();
    const path = `${parent.path ? parent.path + "/" : ""}${collId}/${id}`;
    if (!isDocumentPath(path) || id.includes("/")) throw invalid(`Invalid document id "${id}".`);
    const fields: Fields = req.document?.fields ?? {};
    validateFields(fields);
    const name = `${st.db.documentsRoot}/${path}`;
    const doc = await this.singleWrite(st, path, { update: { name, fields }, currentDocument: { exists: false } }, "CreateDocument", req.mask);
    return doc!;
  }

  private async updateDocument(req: Message): Promise<Message> {
    const n = parseDocumentName(req.document?.name);
    const st = this.state(n);
    const w: Message = { update: { name: req.document.name, fields: req.document.fields ?? {} } };
    if (req.updateMask) w.updateMask = req.updateMask;
    if (req.currentDocument) w.currentDocument = req.currentDocument;
    const doc = await this.singleWrite(st, n.path, w, "UpdateDocument", req.mask);
    return doc!;
  }

  private async deleteDocument(req: Message): Promise<Message> {
    const n = parseDocumentName(req.name);
    const st = this.state(n);
    const w: Message = { delete: req.name };
    if (req.currentDocument) w.currentDocument = req.currentDocument;
    await this.singleWrite(st, n.path, w, "DeleteDocument");
    return {};
  }

  /** No split points: the SDK then treats the whole query as one partition. */
  private partitionQuery(req: Message): Message {
    parseParent(req.parent);
    return { partitions: [] };
  }
}

/** Query explain/profile is not emulated; say so rather than answer without the metrics the SDK awaits. */
function rejectExplain(req: Message): void {
  if (req.explainOptions) throw new GrpcError(Status.UNIMPLEMENTED, "Query explain is not supported by this emulator.");
}

/**
 * Keys a commit must hold exclusively: each written document, plus — for documents that do not
 * exist yet — their collection and collection group, so inserts wait for transactions that
 * queried those (phantom protection).
 */
function writeLockKeys(db: Database, paths: string[]): string[] {
  const keys = new Set<string>();
  for (const p of paths) {
    keys.add("d:" + p);
    if (!db.get(p)) {
      const coll = parentOf(p);
      keys.add("c:" + coll);
      keys.add("g:" + coll.slice(coll.lastIndexOf("/") + 1));
    }
  }
  return [...keys];
}

/** A page of a sorted id list; the token is the last id returned (base64url). */
function paginate(sorted: string[], pageSize: number | undefined, token: string | undefined): { page: string[]; next: string } {
  let start = 0;
  if (token) {
    const after = Buffer.from(token, "base64url").toString("utf8");
    while (start < sorted.length && compareUtf8(sorted[start], after) <= 0) start++;
  }
  const size = pageSize && pageSize > 0 ? pageSize : sorted.length;
  const page = sorted.slice(start, start + size);
  const next = start + size < sorted.length && page.length > 0 ? Buffer.from(page[page.length - 1], "utf8").toString("base64url") : "";
  return { page, next };
}
