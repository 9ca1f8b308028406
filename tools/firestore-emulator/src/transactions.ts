/**
 * Pessimistic concurrency control for read-write transactions.
 *
 * Locks are per database and per key: `d:<doc path>` for a document, `c:<collection path>` and
 * `g:<collection id>` for the set of documents a query ranged over (so a transaction's query is
 * not invalidated by an insert: phantom protection at collection granularity). Documents read in
 * a read-write transaction are locked exclusively: concurrent read-modify-write transactions on
 * one document then queue up behind each other instead of all reading the same value and all
 * but one failing at commit, which is what lets 50 concurrent increments finish within the SDK's
 * 5 attempts.
 *
 * Deadlock freedom is wound-wait keyed by priority (transaction start order; a retry inherits the
 * priority of the transaction it retries, so it ages and eventually wins): an older requester
 * aborts ("wounds") younger conflicting holders, a younger requester waits. Waiting only ever
 * happens on older transactions, so there is no cycle.
 */
import { GrpcError, Status, aborted } from "./grpc";

export type Mode = "S" | "X";

const CONTENTION =
  "Aborted due to cross-transaction contention. This occurs when multiple transactions attempt to access the same data, requiring Firestore to abort at least one in order to succeed.";

let prioritySeq = 0;

/** A fresh priority, younger than all earlier ones. */
export function newPriority(): number {
  return ++prioritySeq;
}

/** A lock owner: a client transaction or a short-lived non-transactional commit. */
export class Owner {
  aborted: GrpcError | undefined;
  readonly held = new Map<string, Mode>();
  /** Pending lock requests (several when a client issues parallel reads in one transaction). */
  readonly waiters = new Set<Waiter>();
  constructor(
    readonly table: LockTable,
    public priority: number,
  ) {}
}

interface Waiter {
  owner: Owner;
  key: string;
  mode: Mode;
  resolve(): void;
  reject(e: GrpcError): void;
}

interface LockState {
  holders: Map<Owner, Mode>;
  /** Waiters, oldest (smallest priority) first. */
  queue: Waiter[];
  /** Set while a requester wounds holders, so their release does not hand the lock to a younger waiter first. */
  busy: boolean;
}

const conflicts = (a: Mode, b: Mode): boolean => a === "X" || b === "X";

/** Lock table of one database. */
export class LockTable {
  private readonly locks = new Map<string, LockState>();

  /**
   * Acquires `key` in `mode` for `owner`. Returns undefined when granted at once, else a promise
   * that settles when granted, or rejects with ABORTED when the owner is wounded meanwhile.
   */
  acquire(owner: Owner, key: string, mode: Mode): Promise<void> | undefined {
    if (owner.aborted) throw owner.aborted;
    let st = this.locks.get(key);
    if (!st) this.locks.set(key, (st = { holders: new Map(), queue: [], busy: false }));
    const have = st.holders.get(owner);
    if (have === "X" || have === mode) return undefined;
    const victims: Owner[] = [];
    for (const [h, m] of st.holders) {
      if (h !== owner && conflicts(m, mode) && h.priority > owner.priority) victims.push(h);
    }
    if (victims.length > 0) {
      st.busy = true;
      for (const v of victims) wound(v, aborted(CONTENTION));
      st.busy = false;
    }
    let w!: Waiter;
    const promise = new Promise<void>((resolve, reject) => (w = { owner, key, mode, resolve, reject }));
    const q = st.queue;
    let i = q.length;
    while (i > 0 && q[i - 1].owner.priority > owner.priority) i--;
    q.splice(i, 0, w);
    owner.waiters.add(w);
    this.wake(key, st);
    return owner.waiters.has(w) ? promise : undefined;
  }

  /** Releases everything `owner` holds and withdraws its pending waits. */
  releaseAll(owner: Owner): void {
    for (const w of owner.waiters) {
      const st = this.locks.get(w.key);
      if (!st) continue;
      st.queue.splice(st.queue.indexOf(w), 1);
      this.wake(w.key, st);
    }
    owner.waiters.clear();
    for (const key of owner.held.keys()) {
      const st = this.locks.get(key);
      if (!st) continue;
      st.holders.delete(owner);
      this.wake(key, st);
    }
    owner.held.clear();
  }

  /** Drops every lock; waiters are failed with ABORTED (used when data is cleared). */
  clear(): void {
    const err = aborted("Transaction aborted because the emulator data was reset.");
    for (const st of this.locks.values()) {
      for (const w of st.queue) {
        w.owner.waiters.delete(w);
        w.reject(err);
      }
    }
    this.locks.clear();
  }

  /** Grants queued waiters in priority order until one is still blocked. */
  private wake(key: string, st: LockState): void {
    if (st.busy) return;
    while (st.queue.length > 0) {
      const w = st.queue[0];
      let blocked = false;
      for (const [h, m] of st.holders) if (h !== w.owner && conflicts(m, w.mode)) blocked = true;
      if (blocked) break;
      st.queue.shift();
      w.owner.waiters.delete(w);
      const m = w.owner.held.get(key) === "X" ? "X" : w.mode;
      st.holders.set(w.owner, m);
      w.owner.held.set(key, m);
      w.resolve();
    }
    if (st.holders.size === 0 && st.queue.length === 0) this.locks.delete(key);
  }
}

/** Aborts an owner: frees its locks and fails its pending waits. */
export function wound(owner: Owner, err: GrpcError): void {
  if (owner.aborted) return;
  owner.aborted = err;
  const pending = [...owner.waiters];
  owner.table.releaseAll(owner);
  for (const w of pending) w.reject(err);
}

/**
 * Runs `fn` holding `keys` (X mode) on behalf of a non-transactional write. If an older
 * transaction wounds it while it waits, it retries with the same priority, so it never fails
 * with ABORTED and never starves. `keys` may depend on state, so it is recomputed per attempt.
 */
export async function withWriteLocks<T>(table: LockTable, keys: () => string[], fn: () => T): Promise<T> {
  const priority = newPriority();
  for (;;) {
    const owner = new Owner(table, priority);
    try {
      await lockAll(table, owner, keys);
      return fn();
    } catch (e) {
      if (!(e instanceof GrpcError) || e.code !== Status.ABORTED || owner.aborted !== e) throw e;
    } finally {
      table.releaseAll(owner);
    }
  }
}

/**
 * Locks `keys()` and re-evaluates it after every wait until it needs nothing new: the key set
 * (e.g. the collections a write inserts into) can change while we wait.
 */
export async function lockAll(table: LockTable, owner: Owner, keys: () => string[]): Promise<void> {
  for (;;) {
    const want = keys().filter((k) => owner.held.get(k) !== "X");
    if (want.length === 0) return;
    want.sort();
    let waited = false;
    for (const k of want) {
      const p = table.acquire(owner, k, "X");
      if (p) {
        waited = true;
        await p;
      }
    }
    if (!waited) return;
  }
}
