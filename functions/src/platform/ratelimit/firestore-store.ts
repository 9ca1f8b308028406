/**
 * A rate-limiter-flexible store on Firestore: one document per key under `_rateLimits/`, with
 * the same fixed-window counting as its Redis store (the window starts at a key's first call).
 * The library does the rest (blocking, in-memory blocks, insurance); this class only reads and
 * writes a counter atomically.
 *
 * Cost: one transaction per counted call, i.e. 1 read + 1 write. Calls for one key that arrive
 * on one instance while its transaction is running are counted together by the next one (one
 * transaction for the whole group), so an instance never contends with itself on a hot key and
 * writes it at most once per transaction round trip. A key refused once is then blocked in
 * memory until its window ends (`inMemoryBlockOnConsumed`), so a flood against an exhausted key
 * costs no writes.
 */
import type { Firestore } from "firebase-admin/firestore";
import type { RateLimiterRes as Res, RateLimiterStoreAbstract as StoreAbstract } from "rate-limiter-flexible";
import { Timestamp } from "../firestore-sdk";

/* eslint-disable @typescript-eslint/no-require-imports -- the package's index does not export the store base class */
const RateLimiterStoreAbstract = require("rate-limiter-flexible/lib/RateLimiterStoreAbstract") as typeof StoreAbstract;
const RateLimiterRes = require("rate-limiter-flexible/lib/RateLimiterRes") as typeof Res;
/* eslint-enable @typescript-eslint/no-require-imports */

export const RATE_LIMIT_COLLECTION = "_rateLimits";

interface Waiter {
  points: number;
  resolve: (counter: Counter) => void;
  reject: (error: unknown) => void;
}

interface Counter {
  points: number;
  /** Epoch ms at which the window ends; null for a key without expiry. */
  expireMs: number | null;
  first: boolean;
}

type StoreOptions = ConstructorParameters<typeof StoreAbstract>[0] & { storeClient: Firestore };

export class RateLimiterFirestore extends RateLimiterStoreAbstract {
  private readonly db: Firestore;
  /** Per key: calls waiting for the next transaction (the key is present while one runs). */
  private readonly queued = new Map<string, Waiter[]>();

  constructor(options: StoreOptions) {
    super(options);
    this.db = options.storeClient;
  }

  private ref(rlKey: string) {
    // Keys hold IPs (':' in IPv6) and ids; encoding keeps '/' from becoming a path separator.
    return this.db.collection(RATE_LIMIT_COLLECTION).doc(encodeURIComponent(rlKey));
  }

  _getRateLimiterRes(_rlKey: string, changedPoints: number, result: Counter): Res {
    return new RateLimiterRes(
      Math.max(this.points - result.points, 0),
      result.expireMs === null ? -1 : Math.max(result.expireMs - Date.now(), 0),
      result.points,
      result.first && result.points === changedPoints,
    );
  }

  async _upsert(rlKey: string, points: number, msDuration: number, forceExpire = false): Promise<Counter> {
    // Blocks and explicit sets overwrite the counter; they are rare and run on their own.
    if (forceExpire) return (await this.transact(rlKey, [points], msDuration, true))[0];
    return new Promise<Counter>((resolve, reject) => {
      const waiting = this.queued.get(rlKey);
      if (waiting) {
        waiting.push({ points, resolve, reject });
        return;
      }
      this.queued.set(rlKey, []);
      void this.run(rlKey, [{ points, resolve, reject }], msDuration);
    });
  }

  /** Runs one transaction for `group`, then one for whatever queued meanwhile, until none did. */
  private async run(rlKey: string, group: Waiter[], msDuration: number): Promise<void> {
    try {
      const counters = await this.transact(
        rlKey,
        group.map((w) => w.points),
        msDuration,
        false,
      );
      group.forEach((w, i) => w.resolve(counters[i]));
    } catch (error) {
      group.forEach((w) => w.reject(error));
    }
    const next = this.queued.get(rlKey) ?? [];
    if (next.length === 0) {
      this.queued.delete(rlKey);
      return;
    }
    this.queued.set(rlKey, []);
    await this.run(rlKey, next, msDuration);
  }

  /** Adds each of `increments` in turn in one transaction; returns the counter after each. */
  private async transact(rlKey: string, increments: number[], msDuration: number, force: boolean): Promise<Counter[]> {
    const ref = this.ref(rlKey);
    return this.db.runTransaction(async (tx) => {
      const now = Date.now();
      const snap = await tx.get(ref);
      const current = snap.data();
      const live = !force && current !== undefined && (current.expireMs === null || Number(current.expireMs) > now);
      let points = live ? Number(current.points) : 0;
      const expireMs = live ? (current.expireMs as number | null) : msDuration > 0 ? now + msDuration : null;
      const counters = increments.map((n, i) => {
        points += n;
        return { points, expireMs, first: !live && i === 0 };
      });
      tx.set(ref, {
        points,
        expireMs,
        // TTL policy field (firestore.indexes.json): expired counters are deleted within about a day.
        ...(expireMs === null ? {} : { expireAt: Timestamp.fromMillis(expireMs) }),
      });
      return counters;
    });
  }

  async _get(rlKey: string): Promise<Counter | null> {
    const snap = await this.ref(rlKey).get();
    const data = snap.data();
    if (!data || (data.expireMs !== null && Number(data.expireMs) <= Date.now())) return null;
    return { points: Number(data.points), expireMs: data.expireMs as number | null, first: false };
  }

  async _delete(rlKey: string): Promise<boolean> {
    const ref = this.ref(rlKey);
    const existed = (await ref.get()).exists;
    await ref.delete();
    return existed;
  }
}
