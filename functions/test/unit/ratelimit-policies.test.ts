/**
 * Rate-limit policies as data: the defaults parse, operator overrides merge onto them, and every
 * configuration mistake fails when the code loads (deploy, instance start) with a message that
 * names the policy and the field, never at the first call.
 */
import { ConfigError } from "../../src/platform/errors";
import { rateLimitHeaders } from "../../src/platform/ratelimit/limiter";
import { DEFAULT_POLICIES, loadPolicies, pointsFor, policiesFor } from "../../src/platform/ratelimit/policies";

describe("rate-limit policy table", () => {
  it("has a policy for every abuse-prone function and a plan-scaled tenant budget", () => {
    const table = loadPolicies();
    for (const fn of [
      "createTenant",
      "startSession",
      "inviteMember",
      "verifyMfa",
      "sendTestWebhook",
      "getUploadUrl",
      "paymentWebhook",
    ]) {
      expect(table.has(fn)).toBe(true);
    }
    const tenant = table.get("tenant")!;
    expect(pointsFor(tenant, "free")).toBeLessThan(pointsFor(tenant, "pro"));
    expect(pointsFor(tenant, "pro")).toBeLessThan(pointsFor(tenant, "enterprise"));
  });

  it("merges overrides onto the defaults and accepts new policies", () => {
    const table = loadPolicies(
      JSON.stringify({ createTenant: { points: 2 }, burst: { key: "ip", points: 3, windowSeconds: 1 } }),
    );
    expect(table.get("createTenant")).toMatchObject({
      key: "uid",
      points: 2,
      windowSeconds: DEFAULT_POLICIES.createTenant.windowSeconds,
    });
    expect(table.get("burst")).toEqual({ name: "burst", key: "ip", points: 3, windowSeconds: 1, blockSeconds: 0 });
  });

  it.each([
    ["not JSON", "{", /RATE_LIMIT_POLICIES is not valid JSON/],
    ["not an object of objects", "[1]", /must map policy names to objects/],
    ["zero points", '{"createTenant":{"points":0}}', /policy "createTenant" is invalid: points/],
    ["an unknown key kind", '{"verifyMfa":{"key":"email"}}', /policy "verifyMfa" is invalid: key/],
    ["a missing plan", '{"tenant":{"points":{"free":1,"pro":2}}}', /policy "tenant" is invalid: points/],
    [
      "a window over a day",
      '{"startSession":{"windowSeconds":90000}}',
      /policy "startSession" is invalid: windowSeconds/,
    ],
    ["an unknown field", '{"startSession":{"point":3}}', /policy "startSession" is invalid/],
    ["a new policy without its fields", '{"extra":{"points":3}}', /policy "extra" is invalid: key.*windowSeconds/],
    ["a prototype name", '{"__proto__":{"points":3}}', /must be 1-64 letters/],
  ])("refuses %s with a message naming what is wrong", (_label, overrides, message) => {
    expect(() => loadPolicies(overrides)).toThrow(ConfigError);
    expect(() => loadPolicies(overrides)).toThrow(message);
  });

  it("refuses a function that names an unknown policy, or a per-tenant policy without a tenant", () => {
    const table = loadPolicies();
    expect(() => policiesFor({ name: "f", tenant: false, rateLimits: ["nope"] }, table)).toThrow(
      'f names rate-limit policy "nope", which is not defined',
    );
    expect(() => policiesFor({ name: "f", tenant: false, rateLimits: ["inviteMember"] }, table)).toThrow(
      /acts in no tenant/,
    );
    expect(policiesFor({ name: "g", tenant: true, rateLimits: ["inviteMember"] }, table).map((p) => p.name)).toEqual([
      "tenant",
      "inviteMember",
    ]);
  });
});

describe("configuration checked when the code loads", () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  /** Loads the codebase as the CLI does to discover functions: every export is read. */
  function loadEveryExport(): void {
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const index = require("../../src/index") as Record<string, unknown>;
      for (const name of Object.keys(index)) void index[name];
    });
  }

  it("loads with the defaults", () => {
    expect(loadEveryExport).not.toThrow();
  });

  it.each([
    ["RATE_LIMIT_POLICIES", '{"createTenant":{"points":-1}}', /policy "createTenant" is invalid: points/],
    ["RATE_LIMIT_STORE", "memcached", /RATE_LIMIT_STORE must be one of memory, firestore, redis, got "memcached"/],
    ["RATE_LIMIT_STORE", "redis", /RATE_LIMIT_STORE=redis needs REDIS_URL/],
  ])("fails to load with a bad %s", (name, value, message) => {
    process.env[name] = value;
    expect(loadEveryExport).toThrow(message);
  });
});

describe("IETF RateLimit fields", () => {
  it("lists every policy in RateLimit-Policy (q, w) and RateLimit (r, t)", () => {
    expect(
      rateLimitHeaders([
        { policy: "tenant", limit: 300, windowSeconds: 60, remaining: 299, resetSeconds: 60 },
        { policy: "createTenant", limit: 5, windowSeconds: 3600, remaining: 0, resetSeconds: 1200 },
      ]),
    ).toEqual({
      "RateLimit-Policy": '"tenant";q=300;w=60, "createTenant";q=5;w=3600',
      RateLimit: '"tenant";r=299;t=60, "createTenant";r=0;t=1200',
    });
    expect(rateLimitHeaders([])).toEqual({});
  });
});
