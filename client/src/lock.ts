/**
 * One refresh at a time. Across tabs with the Web Locks API where the browser has it; otherwise
 * within this JavaScript realm, and other tabs learn of each rotation over a BroadcastChannel and
 * re-read the storage before refreshing (the server tolerates two tabs racing within
 * SESSION_REUSE_GRACE_SECONDS, see docs/client-guide.md).
 */

export interface RefreshLock {
  /** Runs `fn` while holding the lock. */
  run<T>(fn: () => Promise<T>): Promise<T>;
}

interface LockManagerLike {
  request<T>(name: string, options: { mode: "exclusive" }, fn: () => Promise<T>): Promise<T>;
}

const chains = new Map<string, Promise<unknown>>();

/** A lock serialising callers of this realm by name. */
export function inProcessLock(name: string): RefreshLock {
  return {
    run<T>(fn: () => Promise<T>): Promise<T> {
      const previous = chains.get(name) ?? Promise.resolve();
      const next = previous.then(fn, fn);
      // The chain must not reject, or the next waiter would run at once with the error.
      chains.set(
        name,
        next.then(
          () => undefined,
          () => undefined,
        ),
      );
      return next;
    },
  };
}

/** A Web Locks lock when `locks` (default `navigator.locks`) exists, else `inProcessLock`. */
export function refreshLock(name: string, locks?: LockManagerLike): RefreshLock {
  const manager = locks ?? (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks ?? undefined;
  if (!manager) return inProcessLock(name);
  return { run: (fn) => manager.request(name, { mode: "exclusive" }, fn) };
}
