/**
 * Where the session manager keeps the newest refresh token. Only ever one token: each rotation
 * overwrites the last, because presenting an old one signs the account out everywhere.
 */

/** What is stored about the current session. */
export interface StoredSession {
  sessionId: string;
  refreshToken: string;
  mfa: boolean;
  expiresAt: string;
  idleExpiresAt: string;
}

/** A storage adapter: the app may bring its own (a native secure store, a cookie via its backend). */
export interface SessionStorage {
  get(): Promise<StoredSession | null>;
  set(session: StoredSession): Promise<void>;
  clear(): Promise<void>;
}

/** Keeps the session in memory: gone on reload, shared by managers given the same instance. */
export function memoryStorage(): SessionStorage {
  let current: StoredSession | null = null;
  return {
    get: async () => (current ? { ...current } : null),
    set: async (session) => {
      current = { ...session };
    },
    clear: async () => {
      current = null;
    },
  };
}

export interface IndexedDbStorageOptions {
  /** Database name; one per app and user profile. */
  name?: string;
  /** The IndexedDB factory (a browser's `indexedDB` by default). */
  indexedDB?: IDBFactory;
}

const STORE = "session";
const KEY = "current";

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * Keeps the session in IndexedDB, shared by every tab of the origin and readable by no other
 * origin. Not readable by the page's scripts only in the sense any web storage is: an XSS can read
 * it, which is why the server detects reuse.
 */
export function indexedDbStorage(options: IndexedDbStorageOptions = {}): SessionStorage {
  const factory = options.indexedDB ?? globalThis.indexedDB;
  const name = options.name ?? "saas-core-session";
  let opened: Promise<IDBDatabase> | undefined;
  const db = () => {
    opened ??= new Promise<IDBDatabase>((resolve, reject) => {
      const req = factory.open(name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    return opened;
  };
  const store = async (mode: IDBTransactionMode) => (await db()).transaction(STORE, mode).objectStore(STORE);
  return {
    get: async () => ((await request((await store("readonly")).get(KEY))) as StoredSession | undefined) ?? null,
    set: async (session) => {
      await request((await store("readwrite")).put({ ...session }, KEY));
    },
    clear: async () => {
      await request((await store("readwrite")).delete(KEY));
    },
  };
}
