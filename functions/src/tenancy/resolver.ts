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
import { isSafeSegment } from "./db";

export type TenantStatus = "active" | "suspended";

export interface Tenant {
  id: string;
  name: string;
  status: TenantStatus;
  configVersion: number;
  /** The tenant's plan (set by setTenantPlan, platform admins only); it scales rate limits. */
  plan: "free" | "pro" | "enterprise";
  /** Roles whose members must use an MFA-verified session (set by setTenantMfaPolicy). */
  mfaRequiredRoles?: string[];
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

/**
 * A member entry remembers the tenant configVersion it was read under. Every membership change
 * bumps that version, so once this instance sees a newer tenant version (after a local eviction
 * or the tenant entry's own expiry) older member entries are treated as misses.
 */
type Entry = { kind: "tenant"; value: Tenant | null } | { kind: "member"; value: Member | null; version: number };

/** A cache of tenants and memberships; `null` values cache "does not exist" too. */
export class TenantCache {
  private readonly lru: LRUCache<string, Entry>;
  hits = 0;
  misses = 0;

  constructor(options: CacheOptions) {
    this.lru = new LRUCache<string, Entry>({
      max: options.max,
      ttl: options.ttlMs,
      // lru-cache reads time through `perf.now()`; tests pass their own clock. Its default
      // ttlResolution memoises "now" for 1 ms with a timer, which would hide clock steps, and it
      // takes a start time of 0 to mean "no TTL", so an injected clock is shifted to start at 1.
      ...(options.now ? { perf: { now: () => 1 + (options.now as () => number)() }, ttlResolution: 0 } : {}),
    });
  }

  get size(): number {
    return this.lru.size;
  }

  getTenant(tid: string): Tenant | null | undefined {
    return this.lookup(`t/${tid}`)?.value as Tenant | null | undefined;
  }

  /** The cached membership, unless it was read under a configVersion older than `minVersion`. */
  getMember(tid: string, uid: string, minVersion = 0): Member | null | undefined {
    const entry = this.lookup(`m/${tid}/${uid}`, (e) => e.kind === "member" && e.version >= minVersion);
    return entry?.value as Member | null | undefined;
  }

  setTenant(tid: string, tenant: Tenant | null): void {
    this.lru.set(`t/${tid}`, { kind: "tenant", value: tenant });
  }

  setMember(tid: string, uid: string, member: Member | null, version = 0): void {
    this.lru.set(`m/${tid}/${uid}`, { kind: "member", value: member, version });
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

  private lookup(key: string, fresh: (entry: Entry) => boolean = () => true): Entry | undefined {
    const found = this.lru.get(key);
    const entry = found && fresh(found) ? found : undefined;
    if (found && !entry) this.lru.delete(key);
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

/** Reads a tenant document into the resolver's view of it (the one place its fields are parsed). */
export function toTenant(id: string, data: FirebaseFirestore.DocumentData): Tenant {
  return {
    id,
    name: String(data.name ?? ""),
    status: data.status === "suspended" ? "suspended" : "active",
    configVersion: Number(data.configVersion ?? 0),
    plan: data.plan === "pro" || data.plan === "enterprise" ? data.plan : "free",
    ...(Array.isArray(data.mfaRequiredRoles) && data.mfaRequiredRoles.length > 0
      ? { mfaRequiredRoles: data.mfaRequiredRoles.map(String) }
      : {}),
  };
}

function toMember(uid: string, data: FirebaseFirestore.DocumentData): Member | null {
  if (data.status && data.status !== "active") return null;
  return { uid, roles: Array.isArray(data.roles) ? data.roles.map(String) : [] };
}

/**
 * Loads the tenant and the caller's membership, from the cache when warm (zero reads) or with
 * one batched read when cold. A cold tenant is always read together with the membership, so
 * the two come from the same moment and the member entry carries the tenant's configVersion.
 */
export async function loadTenantAndMember(
  tid: string,
  uid: string,
  deps: { firestore?: Firestore; cache?: TenantCache } = {},
): Promise<{ tenant: Tenant | null; member: Member | null }> {
  // Ids come from claims or signed refs; one that is not a plain segment would address some
  // other document (`a/members/b`), so it is treated as a tenant that does not exist.
  if (!isSafeSegment(tid) || !isSafeSegment(uid)) return { tenant: null, member: null };
  const cache = deps.cache ?? tenantCache();
  const cachedTenant = cache.getTenant(tid);
  // A tenant known not to exist needs no membership lookup (probing unknown ids stays cheap).
  if (cachedTenant === null) return { tenant: null, member: null };
  const cachedMember = cachedTenant ? cache.getMember(tid, uid, cachedTenant.configVersion) : undefined;
  if (cachedTenant && cachedMember !== undefined) return { tenant: cachedTenant, member: cachedMember };

  const db = deps.firestore ?? rootFirestore();
  const tenantRef = db.doc(`tenants/${tid}`);
  const memberRef = db.doc(`tenants/${tid}/members/${uid}`);
  if (cachedTenant) {
    const snap = await memberRef.get();
    const member = snap.exists ? toMember(uid, snap.data() ?? {}) : null;
    cache.setMember(tid, uid, member, cachedTenant.configVersion);
    return { tenant: cachedTenant, member };
  }
  const snaps = await db.getAll(tenantRef, memberRef);
  const tenantSnap = snaps.find((snap) => snap.ref.path === tenantRef.path);
  const memberSnap = snaps.find((snap) => snap.ref.path === memberRef.path);
  const tenant = tenantSnap?.exists ? toTenant(tid, tenantSnap.data() ?? {}) : null;
  const member = tenant && memberSnap?.exists ? toMember(uid, memberSnap.data() ?? {}) : null;
  cache.setTenant(tid, tenant);
  if (tenant) cache.setMember(tid, uid, member, tenant.configVersion);
  return { tenant, member };
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
