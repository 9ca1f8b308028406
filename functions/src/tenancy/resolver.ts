/**
 * Tenant resolution with a per-instance cache.
 *
 * A request needs the tenant (status, configVersion) and the caller's membership (roles). Both
 * are cached in one bounded LRU with a TTL, so a warm request costs zero Firestore reads. The
 * instance that changes a tenant or a membership evicts its own entry at once; every other
 * instance may serve the old value for at most the TTL (TENANT_CACHE_TTL_SECONDS). That bound
 * covers suspension too: a suspended tenant is never served as active for longer than the TTL.
 *
 * With REDIS_URL set, an L1 miss asks the shared L2 (platform/shared-cache.ts) before Firestore.
 * A tenant entry there carries the time it was read from Firestore and is served only until
 * that read is TTL old, so the bound above holds whichever tier answers; member entries carry
 * the tenant configVersion they were read under and are used only under that same version. The
 * instance that changes a tenant also deletes its L2 entry, so other instances read the change
 * as soon as their own L1 entry expires. Without Redis (or while it is down) lookups go to
 * Firestore as before.
 */
import type { Firestore } from "firebase-admin/firestore";
import { LRUCache } from "lru-cache";
import { rootFirestore } from "../platform/admin";
import { intValue, params } from "../platform/config";
import { notFound, permissionDenied } from "../platform/errors";
import { metrics } from "../platform/metrics";
import { sharedCache as sharedL2, type SharedCache } from "../platform/shared-cache";
import { isSafeSegment } from "./db";

export type TenantStatus = "active" | "suspended";

export interface Tenant {
  id: string;
  name: string;
  status: TenantStatus;
  configVersion: number;
  /** Billing plan: it scales rate limits and storage quotas; set by setTenantPlan (platform admins only), "free" when absent. */
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

  /** `ttlMs` shortens the entry's life (an L2 value keeps only what is left of its TTL). */
  setTenant(tid: string, tenant: Tenant | null, ttlMs?: number): void {
    this.lru.set(`t/${tid}`, { kind: "tenant", value: tenant }, ttlMs === undefined ? undefined : { ttl: ttlMs });
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

/** L2 keys: the tenant (with the time it was read) and a membership (with its tenant version). */
export const l2TenantKey = (tid: string): string => `t:${tid}`;
const l2MemberKey = (tid: string, uid: string): string => `m:${tid}:${uid}`;
type L2Tenant = { tenant: Tenant; readAt: number };
type L2Member = { member: Member | null; version: number };

export interface ResolverDeps {
  firestore?: Firestore;
  cache?: TenantCache;
  /** The shared L2; `null` for none (default: the instance's, when REDIS_URL is set). */
  l2?: SharedCache | null;
  /** Wall clock in epoch ms for L2 read times, which instances compare (tests inject one). */
  now?: () => number;
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
  deps: ResolverDeps = {},
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

  const l2 = deps.l2 === undefined ? sharedL2() : (deps.l2 ?? undefined);
  const now = deps.now ?? Date.now;
  const ttlMs = intValue(params.tenantCacheTtlSeconds) * 1000;
  let tenant: Tenant | undefined = cachedTenant;
  if (!tenant && l2) {
    const [shared, sharedMember] = await l2.getMany<L2Tenant | L2Member>([l2TenantKey(tid), l2MemberKey(tid, uid)]);
    const left = shared ? (shared as L2Tenant).readAt + ttlMs - now() : 0;
    if (left > 0) {
      tenant = (shared as L2Tenant).tenant;
      cache.setTenant(tid, tenant, left);
      const m = sharedMember as L2Member | undefined;
      if (m && m.version === tenant.configVersion) {
        cache.setMember(tid, uid, m.member, m.version);
        return { tenant, member: m.member };
      }
    }
  }

  const db = deps.firestore ?? rootFirestore();
  const tenantRef = db.doc(`tenants/${tid}`);
  const memberRef = db.doc(`tenants/${tid}/members/${uid}`);
  if (tenant) {
    if (cachedTenant && l2) {
      const shared = await l2.get<L2Member>(l2MemberKey(tid, uid));
      if (shared && shared.version === tenant.configVersion) {
        cache.setMember(tid, uid, shared.member, shared.version);
        return { tenant, member: shared.member };
      }
    }
    const snap = await memberRef.get();
    const member = snap.exists ? toMember(uid, snap.data() ?? {}) : null;
    cache.setMember(tid, uid, member, tenant.configVersion);
    await l2?.set(l2MemberKey(tid, uid), { member, version: tenant.configVersion } satisfies L2Member, ttlMs / 1000);
    return { tenant, member };
  }
  const readAt = now();
  const snaps = await db.getAll(tenantRef, memberRef);
  const tenantSnap = snaps.find((snap) => snap.ref.path === tenantRef.path);
  const memberSnap = snaps.find((snap) => snap.ref.path === memberRef.path);
  const read = tenantSnap?.exists ? toTenant(tid, tenantSnap.data() ?? {}) : null;
  const member = read && memberSnap?.exists ? toMember(uid, memberSnap.data() ?? {}) : null;
  cache.setTenant(tid, read);
  if (!read) return { tenant: null, member: null };
  cache.setMember(tid, uid, member, read.configVersion);
  // Unknown tenants stay out of the L2: L1 already keeps probing them cheap on this instance.
  await Promise.all([
    l2?.set(l2TenantKey(tid), { tenant: read, readAt } satisfies L2Tenant, ttlMs / 1000),
    l2?.set(l2MemberKey(tid, uid), { member, version: read.configVersion } satisfies L2Member, ttlMs / 1000),
  ]);
  return { tenant: read, member };
}

/**
 * Resolves the tenant a caller acts in. A caller who is not a member gets `not-found` (the same
 * answer as for a tenant that does not exist, so tenant ids cannot be probed); a member of a
 * suspended tenant gets `permission-denied`.
 */
export async function resolveTenant(tid: string, uid: string, deps: ResolverDeps = {}): Promise<ResolvedTenant> {
  const { tenant, member } = await loadTenantAndMember(tid, uid, deps);
  if (!tenant || !member) throw notFound("Tenant not found.");
  if (tenant.status === "suspended") throw permissionDenied("This tenant is suspended.", "tenant-suspended");
  return { tenant, member };
}
