/**
 * The shared L2 cache: JSON values in Redis, in front of Firestore and behind each instance's
 * in-memory L1. It is an optimisation only: a lookup while Redis is down, slow or unreachable is
 * a miss, a write or an invalidation then is skipped, and callers read Firestore as they would
 * without it. Nothing here throws.
 *
 * Entries either carry a version in their key (immutable: never stale) or the time they were
 * read from Firestore (callers serve them only until that read is TTL old), so the L2 never
 * widens the staleness bound of the L1 it feeds.
 */
import type { Redis } from "ioredis";
import { metrics } from "./metrics";
import { sharedRedis } from "./redis";

const PREFIX = "l2:";

export class SharedCache {
  constructor(private readonly client: Redis) {}

  private get ready(): boolean {
    // With no offline queue a command would fail anyway; skipping it saves the rejection.
    return this.client.status === "ready";
  }

  /** The values at `keys` (undefined for a miss, or for all of them when Redis is unavailable). */
  async getMany<T>(keys: readonly string[]): Promise<(T | undefined)[]> {
    if (!this.ready) {
      metrics.inc("l2_cache_lookups_total", { outcome: "unavailable" }, keys.length);
      return keys.map(() => undefined);
    }
    try {
      const raw = await this.client.mget(keys.map((k) => PREFIX + k));
      return raw.map((value) => {
        metrics.inc("l2_cache_lookups_total", { outcome: value === null ? "miss" : "hit" });
        return value === null ? undefined : (JSON.parse(value) as T);
      });
    } catch {
      metrics.inc("l2_cache_lookups_total", { outcome: "unavailable" }, keys.length);
      return keys.map(() => undefined);
    }
  }

  async get<T>(key: string): Promise<T | undefined> {
    return (await this.getMany<T>([key]))[0];
  }

  /** Stores `value` for `ttlSeconds`; skipped while Redis is unavailable. */
  async set(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    if (!this.ready) return;
    await this.client
      .set(PREFIX + key, JSON.stringify(value), "EX", Math.max(1, Math.ceil(ttlSeconds)))
      .catch(() => {});
  }

  /** Deletes `keys` so that every instance's next miss reads Firestore. */
  async invalidate(...keys: string[]): Promise<void> {
    if (!this.ready || keys.length === 0) return;
    await this.client.del(...keys.map((k) => PREFIX + k)).catch(() => {});
  }
}

let shared: SharedCache | null | undefined;

/** The instance's L2 cache; undefined when REDIS_URL is empty. */
export function sharedCache(): SharedCache | undefined {
  if (shared === undefined) {
    const client = sharedRedis();
    shared = client ? new SharedCache(client) : null;
  }
  return shared ?? undefined;
}

/** Replaces the instance's L2 (tests): a cache, `null` for none, `undefined` to follow REDIS_URL. */
export function setSharedCache(cache: SharedCache | null | undefined): void {
  shared = cache;
}
