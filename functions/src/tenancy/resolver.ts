/**
 * Tenant resolution with a per-instance cache.
 *
 * A request needs the tenant (status, configVersion) and the caller's membership (roles). Both
 * are cached in one bounded LRU with a TTL, so a warm request costs zero Firestore reads. The
 * instance that changes a tenant or a membership evicts its own entry at once; every other
 * instance may serve the old value for at most the TTL (TENANT_CACHE_TTL_SECONDS). That bound
 * covers suspension too: a suspended tenant is never served as active for longer than the TTL.
 */
import type { Firestore } from "firebase-admin/firestore";
import { LRUCache } from "lru-cache";
import { rootFirestore } from "../platform/admin";
import { intValue, params } from "../platform/config";
import { notFound, permissionDenied } from "../platform/errors";
import { metrics } from "../platform/metrics";

export type TenantStatus = "active" | "suspended";

export interface Tenant {
  id: string;
  name: string;
  status: TenantStatus;
  configVersion: number;
}

export interface Member {
  uid: string;
  roles: string[];
}

export interface ResolvedTenant {
  tenant: Tenant;
  member: Member;
}

interface CacheOptions {
  ttlMs: number;
  max: number;
  /** Injectable monotonic clock in ms (tests). */
  now?: () => number;
}

type Entry = { kind: "tenant"; value: Tenant | null } | { kind: "member"; value: Member | null };

/** A cache of tenants and memberships; `null` values cache "does not exist" too. */
export class TenantCache {
  private readonly lru: LRUCache<string, Entry>;
  hits = 0;
  misses = 0;

  constructor(options: CacheOptions) {
    this.lru = new LRUCache<string, Entry>({
      max: options.max,
      ttl: options.ttlMs,
      // lru-cache reads time through `perf.now()`; tests pass their own clock.
      ...(options.now ? { perf: { now: options.now } } : {}),
    });
  }

  get size(): number {
    return this.lru.size;
  }

  getTenant(tid: string): Tenant | null | undefined {
    return this.lookup(`t/${tid}`)?.value as Tenant | null | undefined;
  }

  getMember(tid: string, uid: string): Member | null | undefined {
    return this.lookup(`m/${tid}/${uid}`)?.value as Member | null | undefined;
  }

  setTenant(tid: string, tenant: Tenant | null): void {
    this.lru.set(`t/${tid}`, { kind: "tenant", value: tenant });
  }

  setMember(tid: string, uid: string, member: Member | null): void {
    this.lru.set(`m/${tid}/${uid}`, { kind: "member", value: member });
  }

  evictTenant(tid: string): void {
    this.lru.delete(`t/${tid}`);
  }

  evictMember(tid: string, uid: string): void {
    this.lru.delete(`m/${tid}/${uid}`);
  }

  clear(): void {
    this.lru.clear();
    this.hits = 0;
    this.misses = 0;
  }

  private lookup(key: string): Entry | undefined {
    const entry = this.lru.get(key);
    if (entry) this.hits++;
    else this.misses++;
    metrics.inc("tenant_cache_lookups_total", { outcome: entry ? "hit" : "miss" });
    return entry;
  }
}

let sharedCache: TenantCache | undefined;

/** The instance-wide cache, created on first use from the TTL and size params. */
export function tenantCache(): TenantCache {
  sharedCache ??= new TenantCache({
    ttlMs: intValue(params.tenantCacheTtlSeconds) * 1000,
    max: intValue(params.tenantCacheMaxEntries),
  });
  return sharedCache;
}

/** Replaces the instance-wide cache (tests inject a clock or a small size). */
export function setTenantCache(cache: TenantCache | undefined): void {
  sharedCache = cache;
}

function toTenant(id: string, data: FirebaseFirestore.DocumentData): Tenant {
  return {
    id,
    name: String(data.name ?? ""),
    status: data.status === "suspended" ? "suspended" : "active",
    configVersion: Number(data.configVersion ?? 0),
  };
}

function toMember(uid: string, data: FirebaseFirestore.DocumentData): Member | null {
  if (data.status && data.status !== "active") return null;
  return { uid, roles: Array.isArray(data.roles) ? data.roles.map(String) : [] };
}

/**
 * Loads the tenant and the caller's membership, from the cache when warm (zero reads) or with
 * one batched read of both documents when cold.
 */
export async function loadTenantAndMember(
  tid: string,
  uid: string,
  deps: { firestore?: Firestore; cache?: TenantCache } = {},
): Promise<{ tenant: Tenant | null; member: Member | null }> {
  const cache = deps.cache ?? tenantCache();
  let tenant = cache.getTenant(tid);
  let member = cache.getMember(tid, uid);
  if (tenant === undefined || member === undefined) {
    const db = deps.firestore ?? rootFirestore();
    const tenantRef = db.doc(`tenants/${tid}`);
    const memberRef = db.doc(`tenants/${tid}/members/${uid}`);
    const refs = [tenant === undefined ? tenantRef : null, member === undefined ? memberRef : null].filter(
      (r) => r !== null,
    );
    const snaps = await db.getAll(...refs);
    for (const snap of snaps) {
      if (snap.ref.path === tenantRef.path) {
        tenant = snap.exists ? toTenant(tid, snap.data() ?? {}) : null;
        cache.setTenant(tid, tenant);
      } else {
        member = snap.exists ? toMember(uid, snap.data() ?? {}) : null;
        cache.setMember(tid, uid, member);
      }
    }
  }
  return { tenant: tenant ?? null, member: member ?? null };
}

/**
 * Resolves the tenant a caller acts in. A caller who is not a member gets `not-found` (the same
 * answer as for a tenant that does not exist, so tenant ids cannot be probed); a member of a
 * suspended tenant gets `permission-denied`.
 */
export async function resolveTenant(
  tid: string,
  uid: string,
  deps: { firestore?: Firestore; cache?: TenantCache } = {},
): Promise<ResolvedTenant> {
  const { tenant, member } = await loadTenantAndMember(tid, uid, deps);
  if (!tenant || !member) throw notFound("Tenant not found.");
  if (tenant.status === "suspended") throw permissionDenied("This tenant is suspended.", "tenant-suspended");
  return { tenant, member };
}
