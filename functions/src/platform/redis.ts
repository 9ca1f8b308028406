/**
 * The instance's Redis connection (Memorystore in production), shared by the rate limiter and
 * the L2 cache. Redis is optional and never a reason to fail a call: commands are refused at
 * once while the connection is down (no offline queue) and time out after COMMAND_TIMEOUT_MS,
 * so callers fall back (insurance limiter, Firestore) instead of waiting or answering errors.
 * ioredis reconnects in the background, and shared limits and caching resume when it does.
 *
 * ioredis costs ~200 ms to load, so it is required only when REDIS_URL is set.
 */
import type { Redis, RedisOptions } from "ioredis";
import { params } from "./config";
import { log } from "./logger";

/** A command slower than this is treated as Redis being unavailable (a fallback, not an error). */
export const COMMAND_TIMEOUT_MS = 250;
/** Reconnection back-off ceiling: a restarted Redis is used again within about this long. */
const MAX_RECONNECT_DELAY_MS = 1000;

/** Connection options that make every Redis failure fast and recoverable. */
export function redisOptions(): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
  };
}

/** A new client for `url` (tests make one per simulated instance). */
export function connectRedis(url: string): Redis {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Redis: Client } = require("ioredis") as typeof import("ioredis");
  const client = new Client(url, redisOptions());
  let down = false;
  // Without a listener ioredis would report connection errors as unhandled; one line per outage.
  client.on("error", (error: Error) => {
    if (!down) log.warn("redis unavailable; falling back", { error: error.message });
    down = true;
  });
  client.on("ready", () => {
    if (down) log.info("redis available again");
    down = false;
  });
  return client;
}

/** Resolves once `client` is ready, or after `ms` (a cold instance does not wait longer for Redis). */
export async function whenReady(client: Redis, ms = 1000): Promise<boolean> {
  if (client.status === "ready") return true;
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      client.off("ready", onReady);
      resolve(ready);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), ms);
    client.once("ready", onReady);
  });
}

let shared: Redis | null | undefined;

/** The instance's Redis client, connected on first use; undefined when REDIS_URL is empty. */
export function sharedRedis(): Redis | undefined {
  if (shared === undefined) {
    const url = params.redisUrl.value();
    shared = url ? connectRedis(url) : null;
  }
  return shared ?? undefined;
}

/** Replaces the instance's client (tests): a client, `null` for none, `undefined` to re-read REDIS_URL. */
export function setSharedRedis(client: Redis | null | undefined): void {
  shared = client;
}
