/**
 * Redis as the shared tier, against real redis-server processes and the Firestore emulator:
 * cache invalidation between two instances within the documented bound, and what happens when
 * Redis dies in the middle of traffic (no `internal`, limits hold per instance through the
 * insurance limiter, caching falls back to Firestore) and comes back (shared limits resume).
 *
 * An "instance" is what a Cloud Functions instance holds: its own L1 cache, its own limiters and
 * its own Redis connection. Instance A is this process's globals, which the real functions use.
 */
import type { Redis } from "ioredis";
import { z } from "zod";
import { callable } from "../../src/platform/callable";
import { intValue, params } from "../../src/platform/config";
import { setRateLimits } from "../../src/platform/ratelimit";
import { RateLimits } from "../../src/platform/ratelimit/limiter";
import { connectRedis, whenReady } from "../../src/platform/redis";
import { SharedCache, setSharedCache } from "../../src/platform/shared-cache";
import { clearPermissionCaches, effectivePermissions } from "../../src/rbac/effective";
import { resolveTenant, TenantCache } from "../../src/tenancy/resolver";
import { exportedFunction } from "../support/exports";
import { callAs, countOps, createTestUser, expectHttpsError, seedTenant, type TestUser } from "../support/firebase";
import { OwnRedis, ownRedisPort, testRedisUrl } from "../support/redis";

jest.setTimeout(120_000);

// `startSession` is a real function whose default policy is keyed by the caller's uid; a
// throwaway callable with the same policy keeps this suite free of IAM signing.
const limited = callable(
  { name: "sharedTierProbe", description: "test", input: z.strictObject({}), rateLimits: ["startSession"] },
  async () => ({ ok: true }),
);
const LIMIT = 20; // startSession's default points

const ttlMs = () => intValue(params.tenantCacheTtlSeconds) * 1000;
const clients: Redis[] = [];
function client(url: string): Redis {
  const c = connectRedis(url);
  clients.push(c);
  return c;
}

afterAll(() => {
  setRateLimits(undefined);
  setSharedCache(undefined);
  for (const c of clients) c.disconnect();
});

describe("cache invalidation across instances", () => {
  let owner: TestUser, member: TestUser, tid: string;
  let redisA: Redis, redisB: Redis;
  const assignRoles = exportedFunction("assignRoles");

  beforeAll(async () => {
    [redisA, redisB] = [client(testRedisUrl()), client(testRedisUrl())];
    expect(await whenReady(redisA, 5000)).toBe(true);
    expect(await whenReady(redisB, 5000)).toBe(true);
    setSharedCache(new SharedCache(redisA));
    [owner, member] = await Promise.all([createTestUser(), createTestUser()]);
    tid = await seedTenant({ owner: { user: owner, roles: ["owner"] }, member: { user: member, roles: ["viewer"] } });
  });

  it("sees a role change made on instance A at once where an L1 is cold, and on a warm instance B within TENANT_CACHE_TTL_SECONDS", async () => {
    let now = Date.now();
    const clock = () => now;
    const instanceB = () => ({
      cache: new TenantCache({ ttlMs: ttlMs(), max: 100, now: clock }),
      l2: new SharedCache(redisB),
      now: clock,
    });
    const b = instanceB();
    expect((await resolveTenant(tid, member.uid, b)).member.roles).toEqual(["viewer"]);

    await callAs(assignRoles, owner, { uid: member.uid, roles: ["admin"] });
    // A's L2 invalidation is sent after the commit without being awaited; a command on the same
    // connection returns only once Redis has processed it.
    await redisA.ping();

    // An instance with a cold L1 sees the change at once: A removed the old tenant from the L2,
    // so it reads Firestore (and refills the L2) instead of pairing the old version's entries.
    const cold = await countOps(() => resolveTenant(tid, member.uid, instanceB()));
    expect(cold.result.member.roles).toEqual(["admin"]);
    expect(cold.ops.reads).toBe(2);

    // B's own warm L1 may serve the old roles up to the bound…
    now += ttlMs() - 1000;
    expect((await resolveTenant(tid, member.uid, b)).member.roles).toEqual(["viewer"]);
    // …and not a moment longer.
    now += 2000;
    expect((await resolveTenant(tid, member.uid, b)).member.roles).toEqual(["admin"]);
  });

  it("never serves an L2 tenant entry past the TTL of its Firestore read, even if an invalidation was lost", async () => {
    const fresh = await seedTenant({ member: { user: member, roles: ["viewer"] } });
    let now = Date.now();
    const clock = () => now;
    await resolveTenant(fresh, member.uid, {
      cache: new TenantCache({ ttlMs: ttlMs(), max: 10, now: clock }),
      l2: new SharedCache(redisB),
      now: clock,
    });
    now += ttlMs() + 1000;
    const { ops } = await countOps(() =>
      resolveTenant(fresh, member.uid, {
        cache: new TenantCache({ ttlMs: ttlMs(), max: 10, now: clock }),
        l2: new SharedCache(redisB),
        now: clock,
      }),
    );
    expect(ops.reads).toBe(2); // tenant + membership from Firestore, not the expired L2 entry
  });

  it("shares custom-role closures under the tenant's configVersion", async () => {
    const createRole = exportedFunction("createRole");
    await callAs(createRole, owner, { roleId: "auditor", permissions: ["payments:read"], inherits: ["viewer"] });
    const { tenant } = await resolveTenant(tid, owner.uid, {
      cache: new TenantCache({ ttlMs: 1000, max: 10 }),
      l2: null,
    });
    const l2 = new SharedCache(redisB);
    clearPermissionCaches();
    const first = await countOps(() => effectivePermissions(tenant, ["auditor"], undefined, l2));
    expect(first.ops.reads).toBeGreaterThan(0);
    clearPermissionCaches(); // another instance's cold L1
    const second = await countOps(() => effectivePermissions(tenant, ["auditor"], undefined, l2));
    expect(second.ops.reads).toBe(0);
    expect([...second.result].sort()).toEqual([...first.result].sort());
    expect(second.result.has("payments:read")).toBe(true);
  });
});

describe("Redis lost in the middle of traffic, then back", () => {
  const redis = new OwnRedis(ownRedisPort(1));
  let redisA: Redis, redisB: Redis;
  let A: RateLimits, B: RateLimits;
  let owner: TestUser, tid: string;

  /** One call as `user` on `instance` (sequential use only: the limiters are instance-wide). */
  const on = (instance: RateLimits, user: TestUser) => {
    setRateLimits(instance);
    return callAs(limited, user, {});
  };
  const outcome = (p: Promise<unknown>) =>
    p.then(
      () => "ok",
      (error: { code?: string }) => error.code ?? String(error),
    );
  const coldResolve = () =>
    countOps(() =>
      resolveTenant(tid, owner.uid, {
        cache: new TenantCache({ ttlMs: ttlMs(), max: 10 }),
        l2: new SharedCache(redisA),
      }),
    );

  beforeAll(async () => {
    await redis.start();
    [redisA, redisB] = [client(redis.url), client(redis.url)];
    expect(await whenReady(redisA, 5000)).toBe(true);
    expect(await whenReady(redisB, 5000)).toBe(true);
    A = new RateLimits({ store: "redis", redis: () => redisA });
    B = new RateLimits({ store: "redis", redis: () => redisB });
    owner = await createTestUser();
    tid = await seedTenant({ owner: { user: owner, roles: ["owner"] } });
  });

  afterAll(() => redis.kill());

  it("shares one count between instances while Redis is up", async () => {
    const user = await createTestUser();
    for (let i = 0; i < LIMIT; i++) expect(await outcome(on(i % 2 ? A : B, user))).toBe("ok");
    expect(await outcome(on(A, user))).toBe("resource-exhausted");
    expect(await outcome(on(B, user))).toBe("resource-exhausted");
    await coldResolve();
    expect((await coldResolve()).ops.reads).toBe(0);
  });

  it("answers no call internal when Redis dies mid-burst; limits then hold per instance and caching reads Firestore", async () => {
    const burst = await createTestUser();
    setRateLimits(A);
    const first = Array.from({ length: 30 }, () => outcome(callAs(limited, burst, {})));
    await redis.kill();
    const rest = Array.from({ length: 30 }, () => outcome(callAs(limited, burst, {})));
    const outcomes = await Promise.all([...first, ...rest]);
    expect(outcomes.filter((o) => o !== "ok" && o !== "resource-exhausted")).toEqual([]);
    // At most LIMIT counted in Redis before it died plus LIMIT by the insurance limiter.
    const allowed = outcomes.filter((o) => o === "ok").length;
    expect(allowed).toBeGreaterThanOrEqual(LIMIT);
    expect(allowed).toBeLessThanOrEqual(2 * LIMIT);

    // With Redis gone, each instance enforces the policy on its own.
    const user = await createTestUser();
    const onA = [];
    for (let i = 0; i < LIMIT + 5; i++) onA.push(await outcome(on(A, user)));
    expect(onA.filter((o) => o === "ok")).toHaveLength(LIMIT);
    expect(onA.slice(LIMIT)).toEqual(Array(5).fill("resource-exhausted"));
    const onB = [];
    for (let i = 0; i < LIMIT + 1; i++) onB.push(await outcome(on(B, user)));
    expect(onB.filter((o) => o === "ok")).toHaveLength(LIMIT);

    // The cache answers from Firestore, correctly and without an error.
    const { result, ops } = await coldResolve();
    expect(result.member.roles).toEqual(["owner"]);
    expect(ops.reads).toBe(2);
  });

  it("resumes shared limits and caching once Redis is back", async () => {
    await redis.start();
    expect(await whenReady(redisA, 10_000)).toBe(true);
    expect(await whenReady(redisB, 10_000)).toBe(true);
    const user = await createTestUser();
    for (let i = 0; i < LIMIT; i++) expect(await outcome(on(i % 2 ? A : B, user))).toBe("ok");
    expect(await outcome(on(B, user))).toBe("resource-exhausted");
    await expectHttpsError(on(A, user), "resource-exhausted");
    await coldResolve();
    expect((await coldResolve()).ops.reads).toBe(0);
  });
});
