import fc from "fast-check";
import { canonicalJson, requestHash, scopeHash } from "../../src/idempotency/fingerprint";
import { resetSettingsCache, settingsFor } from "../../src/idempotency/settings";
import {
  decide,
  finishedRecord,
  runningRecord,
  storeResponse,
  storedError,
  storedValue,
  type IdempotencyRecord,
} from "../../src/idempotency/state";
import { applyParamDefaults } from "../../src/platform/config";
import { AppError, ConfigError } from "../../src/platform/errors";
import type { FunctionSpec } from "../../src/platform/spec";

describe("canonical request fingerprint", () => {
  it("ignores object key order at every depth", () => {
    const a = { b: 1, a: { y: [1, { q: 2, p: 1 }], x: "s" } };
    const b = { a: { x: "s", y: [1, { p: 1, q: 2 }] }, b: 1 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"a":{"x":"s","y":[1,{"p":1,"q":2}]},"b":1}');
    expect(requestHash(a)).toBe(requestHash(b));
  });

  it("tells different values, types and array orders apart", () => {
    expect(requestHash({ amount: 100 })).not.toBe(requestHash({ amount: 101 }));
    expect(requestHash({ amount: 100 })).not.toBe(requestHash({ amount: "100" }));
    expect(requestHash([1, 2])).not.toBe(requestHash([2, 1]));
    expect(requestHash({ a: null })).not.toBe(requestHash({}));
  });

  it("writes what JSON writes for undefined members, -0 and dates", () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson([undefined])).toBe("[null]");
    expect(canonicalJson(-0)).toBe("0");
    expect(canonicalJson(new Date(0))).toBe('"1970-01-01T00:00:00.000Z"');
    expect(canonicalJson(undefined)).toBe("null");
  });

  it("refuses values a fingerprint cannot represent faithfully", () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(TypeError);
    expect(() => canonicalJson({ n: Infinity })).toThrow(TypeError);
    expect(() => canonicalJson(BigInt(1))).toThrow(TypeError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cyclic/);
  });

  it("allows the same object twice when it is not a cycle", () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });

  it("is stable under a JSON round trip and equals JSON.stringify for sorted inputs (property)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });
});

describe("key scope hash", () => {
  const base = { tenantId: "t1", principal: "u1", fn: "createPayment", key: "k-1" };

  it("is a 64-hex SHA-256 and deterministic", () => {
    expect(scopeHash(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(scopeHash({ ...base })).toBe(scopeHash(base));
  });

  it("differs for another tenant, principal, function or key", () => {
    const h = scopeHash(base);
    expect(scopeHash({ ...base, tenantId: "t2" })).not.toBe(h);
    expect(scopeHash({ ...base, tenantId: undefined })).not.toBe(h);
    expect(scopeHash({ ...base, principal: "u2" })).not.toBe(h);
    expect(scopeHash({ ...base, fn: "refundPayment" })).not.toBe(h);
    expect(scopeHash({ ...base, key: "k-2" })).not.toBe(h);
  });

  it("cannot be made to collide by moving a separator between parts", () => {
    expect(scopeHash({ tenantId: "t", principal: "u|f", fn: "x", key: "k" })).not.toBe(
      scopeHash({ tenantId: "t", principal: "u", fn: "f|x", key: "k" }),
    );
    expect(scopeHash({ principal: '","', fn: "a", key: "b" })).not.toBe(
      scopeHash({ principal: "", fn: '","a', key: "b" }),
    );
  });
});

describe("idempotency state machine", () => {
  const hash = "h1";
  const timing = { nowMs: 1_000_000, leaseMs: 60_000, ttlMs: 86_400_000 };
  const running = runningRecord("fn", hash, timing);
  const completed = finishedRecord(running, "COMPLETED", storeResponse("value", { id: 1 }, 1024), timing);

  it("claims an absent key", () => {
    expect(decide(undefined, hash, timing.nowMs)).toEqual({ kind: "claim", replaces: false });
  });

  it("holds the lease until lockedUntil, then lets a retry take over", () => {
    expect(running.lockedUntilMs).toBe(timing.nowMs + 60_000);
    expect(decide(running, hash, timing.nowMs + 59_999)).toEqual({ kind: "in_flight", retryAfterSeconds: 1 });
    expect(decide(running, hash, timing.nowMs + 60_000)).toEqual({ kind: "takeover", takeovers: 1 });
    const again = runningRecord("fn", hash, { ...timing, nowMs: timing.nowMs + 60_000 }, 1);
    expect(decide(again, hash, timing.nowMs + 200_000)).toEqual({ kind: "takeover", takeovers: 2 });
  });

  it("replays a finished record with the same fingerprint and refuses another", () => {
    expect(decide(completed, hash, timing.nowMs + 1)).toEqual({ kind: "replay" });
    const failed = finishedRecord(running, "FAILED", storeResponse("error", { code: "not-found" }, 1024), timing);
    expect(decide(failed, hash, timing.nowMs + 1)).toEqual({ kind: "replay" });
    expect(decide(completed, "other", timing.nowMs + 1)).toEqual({ kind: "mismatch" });
  });

  it("reports a reused key as a mismatch even while the original runs", () => {
    expect(decide(running, "other", timing.nowMs + 1)).toEqual({ kind: "mismatch" });
  });

  it("treats an expired record as absent, whatever its state", () => {
    const at = completed.expireAtMs;
    expect(at).toBe(timing.nowMs + timing.ttlMs);
    expect(decide(completed, hash, at - 1)).toEqual({ kind: "replay" });
    expect(decide(completed, hash, at)).toEqual({ kind: "claim", replaces: true });
    expect(decide(completed, "other", at)).toEqual({ kind: "claim", replaces: true });
  });

  it("never takes over a key whose effect committed without its response", () => {
    const marked: IdempotencyRecord = { ...running, effectCommitted: true };
    expect(decide(marked, hash, timing.nowMs + 1)).toEqual({ kind: "in_flight", retryAfterSeconds: 1 });
    expect(decide(marked, hash, timing.nowMs + 60_000)).toEqual({ kind: "replay" });
  });

  it("never lets a running record expire before its lease", () => {
    const longLease = runningRecord("fn", hash, { nowMs: 0, leaseMs: 3_600_000, ttlMs: 60_000 });
    expect(longLease.expireAtMs).toBe(3_600_000);
    expect(decide(longLease, hash, 3_599_999)).toEqual({ kind: "in_flight", retryAfterSeconds: 1 });
  });
});

describe("stored responses", () => {
  it("round-trips values, including undefined", () => {
    const r = storeResponse("value", { a: [1, "x"], b: null }, 1024);
    expect(r).toMatchObject({ kind: "value" });
    expect(storedValue(r.json as string)).toEqual({ a: [1, "x"], b: null });
    expect(storedValue(storeResponse("value", undefined, 1024).json as string)).toBeUndefined();
  });

  it("marks a response over the limit as unstored, keeping its size", () => {
    const big = "x".repeat(2000);
    const r = storeResponse("value", big, 1024);
    expect(r).toEqual({ kind: "unstored", bytes: Buffer.byteLength(JSON.stringify({ v: big })) });
    expect(storeResponse("value", big, 4096).kind).toBe("value");
  });

  it("counts the limit in UTF-8 bytes, not characters", () => {
    const text = "é".repeat(600); // 1200 bytes
    expect(storeResponse("value", text, 1024).kind).toBe("unstored");
  });

  it("rebuilds a stored error with its code, message and details", () => {
    const r = storeResponse(
      "error",
      { code: "not-found", message: "No such payment.", details: { reason: "x" } },
      1024,
    );
    const error = storedError(r.json as string);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: "not-found", message: "No such payment.", details: { reason: "x" } });
  });
});

describe("idempotency settings", () => {
  beforeAll(() => applyParamDefaults());
  afterEach(() => resetSettingsCache());
  const spec = (extra: Partial<FunctionSpec> = {}): FunctionSpec => ({
    kind: "callable",
    name: "f",
    description: "",
    auth: "required",
    tenant: true,
    idempotent: true,
    ...extra,
  });

  it("uses the params' defaults", () => {
    const s = settingsFor(spec());
    expect(s).toMatchObject({
      ttlSeconds: 86_400,
      leaseSeconds: 60,
      cacheServerErrors: false,
      maxResponseBytes: 262_144,
    });
  });

  it("never gives a lease shorter than the function's timeout", () => {
    expect(settingsFor(spec({ timeoutSeconds: 300 })).leaseSeconds).toBe(300);
    expect(settingsFor(spec({ timeoutSeconds: 10 })).leaseSeconds).toBe(60);
  });

  it("applies per-function options within the params' ranges", () => {
    const now = () => 42;
    const s = settingsFor(
      spec({ idempotencyOptions: { ttlSeconds: 120, lockSeconds: 5, cacheServerErrors: true, now } }),
    );
    expect(s).toMatchObject({ ttlSeconds: 120, leaseSeconds: 5, cacheServerErrors: true });
    expect(s.now()).toBe(42);
    expect(() => settingsFor(spec({ idempotencyOptions: { ttlSeconds: 59 } }))).toThrow(ConfigError);
    expect(() => settingsFor(spec({ idempotencyOptions: { lockSeconds: 0 } }))).toThrow(ConfigError);
    expect(() => settingsFor(spec({ idempotencyOptions: { ttlSeconds: 90.5 } }))).toThrow(ConfigError);
  });

  it("refuses an out-of-range deployment param on first use", () => {
    const saved = process.env.IDEMPOTENCY_TTL_SECONDS;
    process.env.IDEMPOTENCY_TTL_SECONDS = "10";
    try {
      expect(() => settingsFor(spec())).toThrow(/IDEMPOTENCY_TTL_SECONDS must be an integer in \[60, 2592000\]/);
    } finally {
      process.env.IDEMPOTENCY_TTL_SECONDS = saved;
    }
  });
});
