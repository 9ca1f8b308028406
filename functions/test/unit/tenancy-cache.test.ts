import { TenantCache, type Tenant } from "../../src/tenancy/resolver";

const tenant = (id: string, configVersion = 1, status: Tenant["status"] = "active"): Tenant => ({
  id,
  name: id,
  status,
  configVersion,
  plan: "free",
});

function clock(start = 0) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("tenant cache (per-instance LRU with TTL)", () => {
  it("serves an entry until the TTL has passed, then forgets it", () => {
    const c = clock();
    const cache = new TenantCache({ ttlMs: 30_000, max: 100, now: c.now });
    cache.setTenant("a", tenant("a"));
    c.advance(30_000);
    expect(cache.getTenant("a")?.id).toBe("a");
    c.advance(1);
    expect(cache.getTenant("a")).toBeUndefined();
  });

  it("never serves a cached 'active' past the TTL once the tenant is suspended elsewhere", () => {
    const c = clock();
    const cache = new TenantCache({ ttlMs: 5_000, max: 100, now: c.now });
    cache.setTenant("a", tenant("a", 1, "active"));
    // Another instance suspends "a" now; this one may keep serving "active" only up to the TTL.
    c.advance(4_999);
    expect(cache.getTenant("a")?.status).toBe("active");
    c.advance(2);
    expect(cache.getTenant("a")).toBeUndefined();
  });

  it("caches absence too, with the same TTL", () => {
    const c = clock();
    const cache = new TenantCache({ ttlMs: 1_000, max: 100, now: c.now });
    cache.setTenant("ghost", null);
    cache.setMember("a", "u1", null, 1);
    expect(cache.getTenant("ghost")).toBeNull();
    expect(cache.getMember("a", "u1", 1)).toBeNull();
    c.advance(1_001);
    expect(cache.getTenant("ghost")).toBeUndefined();
    expect(cache.getMember("a", "u1", 1)).toBeUndefined();
  });

  it("treats a member entry read under an older configVersion as a miss, and drops it", () => {
    const cache = new TenantCache({ ttlMs: 60_000, max: 100 });
    cache.setMember("a", "u1", { uid: "u1", roles: ["admin"] }, 3);
    expect(cache.getMember("a", "u1", 3)?.roles).toEqual(["admin"]);
    expect(cache.getMember("a", "u1", 4)).toBeUndefined();
    // Dropped, not just hidden: asking again with the old version misses as well.
    expect(cache.getMember("a", "u1", 3)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("stays within its size bound, evicting the least recently used entry", () => {
    const cache = new TenantCache({ ttlMs: 60_000, max: 10 });
    for (let i = 0; i < 10; i++) cache.setTenant(`t${i}`, tenant(`t${i}`));
    expect(cache.getTenant("t0")?.id).toBe("t0"); // t0 is now the most recently used
    for (let i = 10; i < 1_000; i++) cache.setTenant(`t${i}`, tenant(`t${i}`));
    expect(cache.size).toBe(10);
    expect(cache.getTenant("t1")).toBeUndefined();
    expect(cache.getTenant("t999")?.id).toBe("t999");
  });

  it("evicts a tenant or one membership on demand without touching the others", () => {
    const cache = new TenantCache({ ttlMs: 60_000, max: 100 });
    cache.setTenant("a", tenant("a"));
    cache.setTenant("b", tenant("b"));
    cache.setMember("a", "u1", { uid: "u1", roles: [] }, 1);
    cache.setMember("a", "u2", { uid: "u2", roles: [] }, 1);
    cache.evictTenant("a");
    cache.evictMember("a", "u1");
    expect(cache.getTenant("a")).toBeUndefined();
    expect(cache.getTenant("b")?.id).toBe("b");
    expect(cache.getMember("a", "u1", 1)).toBeUndefined();
    expect(cache.getMember("a", "u2", 1)?.uid).toBe("u2");
  });

  it("counts hits and misses", () => {
    const cache = new TenantCache({ ttlMs: 60_000, max: 100 });
    cache.getTenant("a");
    cache.setTenant("a", tenant("a"));
    cache.getTenant("a");
    cache.getTenant("a");
    expect({ hits: cache.hits, misses: cache.misses }).toEqual({ hits: 2, misses: 1 });
  });

  it("keeps tenant and member keys apart even for ids that look alike", () => {
    const cache = new TenantCache({ ttlMs: 60_000, max: 100 });
    cache.setMember("a", "b", { uid: "b", roles: ["owner"] }, 1);
    expect(cache.getTenant("a/b")).toBeUndefined();
    expect(cache.getTenant("a")).toBeUndefined();
  });
});
