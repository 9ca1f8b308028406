/**
 * Rate limits through the real wrappers, on each store (memory, Firestore emulator, real Redis):
 * exact counting under concurrency, the answers a refused call gets (callable details, HTTPS 429
 * with Retry-After and the IETF RateLimit fields, which successes carry too), plan scaling, and
 * that a limit never tells a non-member anything about a tenant.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { z } from "zod";
import { adminAuth, rootFirestore } from "../../src/platform/admin";
import type * as CallableModule from "../../src/platform/callable";
import type * as HttpsModule from "../../src/platform/https";
import type * as RateLimitModule from "../../src/platform/ratelimit";
import type * as LimiterModule from "../../src/platform/ratelimit/limiter";
import { connectRedis, whenReady } from "../../src/platform/redis";
import { exportedFunction } from "../support/exports";
import {
  callAs,
  callHttps,
  countOps,
  createTestUser,
  expectHttpsError,
  refreshUser,
  seedTenant,
  type TestUser,
} from "../support/firebase";
import { testRedisUrl } from "../support/redis";

jest.setTimeout(120_000);

// Test policies join the table the way an operator's RATE_LIMIT_POLICIES does, before the
// limiter module loads (it reads the param when it loads, as an instance does at start).
process.env.RATE_LIMIT_POLICIES = JSON.stringify({
  ten: { key: "uid", points: 10, windowSeconds: 60 },
  tenIp: { key: "ip", points: 10, windowSeconds: 60 },
  byPlan: { key: "tenant", points: { free: 2, pro: 4, enterprise: 8 }, windowSeconds: 60 },
});
/* eslint-disable @typescript-eslint/no-require-imports */
const { callable, tenantCallable } = require("../../src/platform/callable") as typeof CallableModule;
const { httpsEndpoint } = require("../../src/platform/https") as typeof HttpsModule;
const { setRateLimits } = require("../../src/platform/ratelimit") as typeof RateLimitModule;
const { RateLimits } = require("../../src/platform/ratelimit/limiter") as typeof LimiterModule;
/* eslint-enable @typescript-eslint/no-require-imports */

const limitedCallable = callable(
  { name: "rlCallable", description: "test", input: z.strictObject({}), rateLimits: ["ten"] },
  async () => ({ ok: true }),
);
const limitedEndpoint = httpsEndpoint(
  {
    name: "rlEndpoint",
    description: "test",
    methods: ["POST"],
    input: z.unknown(),
    auth: "none",
    rateLimits: ["tenIp"],
  },
  async () => ({ status: 200, body: { ok: true } }),
);
const plannedCallable = tenantCallable(
  { name: "rlPlanned", description: "test", input: z.strictObject({}), rateLimits: ["byPlan"] },
  async () => ({ ok: true }),
);

let redis: Redis;
const stores = {
  memory: () => new RateLimits({ store: "memory" }),
  firestore: () => new RateLimits({ store: "firestore", firestore: rootFirestore }),
  redis: () => new RateLimits({ store: "redis", redis: () => redis }),
};

beforeAll(async () => {
  redis = connectRedis(testRedisUrl());
  if (!(await whenReady(redis, 5000))) throw new Error("the test Redis is not reachable");
});

afterAll(async () => {
  setRateLimits(undefined);
  redis.disconnect();
});

async function settle<T>(calls: Promise<T>[]): Promise<{ ok: T[]; errors: unknown[] }> {
  const results = await Promise.allSettled(calls);
  return {
    ok: results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : [])),
    errors: results.flatMap((r) => (r.status === "rejected" ? [r.reason] : [])),
  };
}

describe.each(Object.keys(stores) as (keyof typeof stores)[])("the %s store", (store) => {
  let user: TestUser;

  beforeAll(async () => {
    setRateLimits(stores[store]());
    user = await createTestUser();
  });

  it("allows exactly 10 of 100 concurrent callable calls against a limit of 10 (memory: per instance)", async () => {
    const { ok, errors } = await settle(Array.from({ length: 100 }, () => callAs(limitedCallable, user, {})));
    expect(ok).toHaveLength(10);
    expect(errors).toHaveLength(90);
    for (const error of errors) expect(error).toMatchObject({ code: "resource-exhausted" });
  });

  it("answers the 11th call resource-exhausted with {reason, retryAfterSeconds, policy}", async () => {
    const error = await expectHttpsError(callAs(limitedCallable, user, {}), "resource-exhausted");
    const details = error.details as { reason: string; retryAfterSeconds: number; policy: string };
    expect(details).toEqual({ reason: "rate-limited", retryAfterSeconds: expect.any(Number), policy: "ten" });
    expect(details.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(details.retryAfterSeconds).toBeLessThanOrEqual(60);
  });

  it("answers HTTPS with RateLimit fields on successes and 429 + Retry-After once refused", async () => {
    const ip = `2001:db8::${randomUUID().slice(0, 4)}:${randomUUID().slice(0, 4)}`;
    const headers = { "x-forwarded-for": `203.0.113.7, ${ip}`, "user-agent": randomUUID() };
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => callHttps(limitedEndpoint, { headers, body: {} })),
    );
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    expect(ok).toHaveLength(10);
    expect(refused).toHaveLength(90);
    for (const a of ok) {
      expect(a.headers?.["RateLimit-Policy"]).toBe('"tenIp";q=10;w=60');
      expect(a.headers?.RateLimit).toMatch(/^"tenIp";r=\d;t=\d+$/);
    }
    // Each success reports what was left after it: 9, 8, … 0, once each.
    const remaining = ok.map((a) => Number(/;r=(\d+)/.exec(a.headers?.RateLimit ?? "")?.[1])).sort((a, b) => a - b);
    expect(remaining).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const eleventh = await callHttps(limitedEndpoint, { headers, body: {} });
    expect(eleventh.status).toBe(429);
    const retryAfter = Number(eleventh.headers?.["Retry-After"]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(eleventh.headers?.["RateLimit-Policy"]).toBe('"tenIp";q=10;w=60');
    expect(eleventh.headers?.RateLimit).toBe(`"tenIp";r=0;t=${retryAfter}`);
    expect(eleventh.body).toMatchObject({ code: "resource-exhausted", reason: "rate-limited", policy: "tenIp" });
    // The counter is keyed by the address Google's front end appended, not the client's claim.
    const spoofed = await callHttps(limitedEndpoint, { headers: { "x-forwarded-for": `${ip}, 192.0.2.1` }, body: {} });
    expect(spoofed.status).toBe(200);
  });
});

describe("the Firestore store's cost", () => {
  it("is one read and one write per counted call, and nothing once a key is refused", async () => {
    setRateLimits(stores.firestore());
    const user = await createTestUser();
    const counted = await countOps(() => callAs(limitedCallable, user, {}));
    const mine = (log: typeof counted.ops.log) => log.filter((e) => e.path.startsWith("_rateLimits/"));
    expect(mine(counted.ops.log).filter((e) => e.kind === "read")).toHaveLength(1);
    expect(mine(counted.ops.log).filter((e) => e.kind === "write")).toHaveLength(1);
    for (let i = 0; i < 9; i++) await callAs(limitedCallable, user, {});
    await expectHttpsError(callAs(limitedCallable, user, {}), "resource-exhausted");
    const refused = await countOps(() => expectHttpsError(callAs(limitedCallable, user, {}), "resource-exhausted"));
    expect(mine(refused.ops.log)).toHaveLength(0);
  });

  it("counts a burst on one instance in one transaction per round trip, not one per call", async () => {
    const limits = stores.firestore();
    const hot = {
      name: `hot-${randomUUID().slice(0, 8)}`,
      key: "tenant" as const,
      points: 1000,
      windowSeconds: 60,
      blockSeconds: 0,
    };
    const subject = { fn: "f", ip: "ip", tenantId: "t", plan: "free" as const };
    const burst = await countOps(() => Promise.all(Array.from({ length: 50 }, () => limits.consume([hot], subject))));
    // The first call runs alone; the 49 that arrive meanwhile share the next transaction.
    expect(burst.ops.log.filter((e) => e.kind === "write")).toHaveLength(2);
    expect(burst.result.map((states) => states[0].remaining).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 50 }, (_, i) => 950 + i),
    );
  });
});

describe("per-tenant budgets", () => {
  let owner: TestUser, operator: TestUser, outsider: TestUser, tid: string;
  const setTenantPlan = exportedFunction("setTenantPlan");

  beforeAll(async () => {
    setRateLimits(stores.memory());
    [owner, operator, outsider] = await Promise.all([
      createTestUser(),
      createTestUser({ claims: { platformAdmin: true } }),
      createTestUser(),
    ]);
    tid = await seedTenant({ owner: { user: owner, roles: ["owner"] } });
  });

  it("scale with the tenant's plan, which only a platform admin can change", async () => {
    const allowed = async () =>
      (await settle(Array.from({ length: 12 }, () => callAs(plannedCallable, owner, {})))).ok.length;
    expect(await allowed()).toBe(2); // free
    await expectHttpsError(callAs(setTenantPlan, owner, { tenantId: tid, plan: "enterprise" }), "permission-denied");
    await expect(callAs(setTenantPlan, operator, { tenantId: tid, plan: "pro" })).resolves.toMatchObject({
      plan: "pro",
    });
    // A new plan starts a fresh count.
    expect(await allowed()).toBe(4);
    await callAs(setTenantPlan, operator, { tenantId: tid, plan: "enterprise" });
    expect(await allowed()).toBe(8);
    expect((await rootFirestore().doc(`tenants/${tid}`).get()).get("plan")).toBe("enterprise");
  });

  it("tell a non-member nothing: an exhausted tenant answers exactly like one that does not exist", async () => {
    await expectHttpsError(callAs(plannedCallable, owner, {}), "resource-exhausted");
    const asOutsider = async (claimedTid: string) => {
      await adminAuth().setCustomUserClaims(outsider.uid, { tid: claimedTid, roles: ["owner"] });
      await refreshUser(outsider);
      const error = await expectHttpsError(callAs(plannedCallable, outsider, {}), "not-found");
      return { message: error.message, details: error.details };
    };
    expect(await asOutsider(tid)).toEqual(await asOutsider(`t-${randomUUID().slice(0, 12)}`));
  });
});
