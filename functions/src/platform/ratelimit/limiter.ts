/**
 * Policies applied with rate-limiter-flexible on one of three stores:
 *
 * - `memory`: per instance (each instance allows a policy's points on its own);
 * - `firestore`: shared by every instance, one transaction per counted call (firestore-store.ts);
 * - `redis`: shared, one round trip per call (a Lua script), for Memorystore.
 *
 * The shared stores carry the library's insurance limiter, an in-memory limiter with the same
 * policy: when the store fails (Redis down, Firestore contention) a call is counted per instance
 * instead of failing. Keys refused once are blocked in memory until their window ends, so a flood
 * against an exhausted key costs no store round trips.
 */
import type { Firestore } from "firebase-admin/firestore";
import type { Redis } from "ioredis";
import type { RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { AppError } from "../errors";
import { describeError, log } from "../logger";
import { metrics } from "../metrics";
import { pointsFor, type Plan, type Policy } from "./policies";

export const STORES = ["memory", "firestore", "redis"] as const;
export type StoreKind = (typeof STORES)[number];

/** Who is calling what: the values policies are keyed by. */
export interface Subject {
  fn: string;
  ip: string;
  uid?: string;
  tenantId?: string;
  plan: Plan;
}

/** One policy's state after a call, as the RateLimit header fields report it. */
export interface PolicyState {
  policy: string;
  limit: number;
  windowSeconds: number;
  remaining: number;
  /** Seconds until the window (or block) ends. */
  resetSeconds: number;
}

/**
 * A call refused by a policy: `resource-exhausted` with `{reason, retryAfterSeconds, policy}`.
 * `headers` are the RateLimit fields of every policy the call was charged against.
 */
export class RateLimitedError extends AppError {
  constructor(
    state: PolicyState,
    readonly headers: Record<string, string>,
  ) {
    super("resource-exhausted", `Too many requests; retry in ${state.resetSeconds} s.`, {
      reason: "rate-limited",
      retryAfterSeconds: state.resetSeconds,
      policy: state.policy,
    });
  }
}

/** The IETF RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers). */
export function rateLimitHeaders(states: readonly PolicyState[]): Record<string, string> {
  if (states.length === 0) return {};
  // Policy names are restricted to [A-Za-z0-9_-], so they are valid sf-strings as they are.
  return {
    "RateLimit-Policy": states.map((s) => `"${s.policy}";q=${s.limit};w=${s.windowSeconds}`).join(", "),
    RateLimit: states.map((s) => `"${s.policy}";r=${s.remaining};t=${s.resetSeconds}`).join(", "),
  };
}

export interface LimiterDeps {
  store: StoreKind;
  firestore?: () => Firestore;
  redis?: () => Redis;
}

/* eslint-disable @typescript-eslint/no-require-imports -- the library's index loads every store (~50 ms); only what is used is loaded */
const memoryLimiter = (options: ConstructorParameters<typeof RateLimiterMemory>[0]): RateLimiterMemory =>
  new (require("rate-limiter-flexible/lib/RateLimiterMemory") as typeof RateLimiterMemory)(options);
let resClass: typeof RateLimiterRes | undefined;
// Memoised: even a cached require() costs more than a whole memory-store check.
const RateLimiterResClass = (): typeof RateLimiterRes =>
  (resClass ??= require("rate-limiter-flexible/lib/RateLimiterRes") as typeof RateLimiterRes);

/** The limiters of one instance, one per (policy, points), created on first use. */
export class RateLimits {
  private readonly limiters = new Map<string, RateLimiterAbstract>();

  constructor(private readonly deps: LimiterDeps) {}

  get store(): StoreKind {
    return this.deps.store;
  }

  private limiter(policy: Policy, points: number): RateLimiterAbstract {
    const id = `${policy.name}#${points}`;
    let limiter = this.limiters.get(id);
    if (limiter) return limiter;
    const base = { keyPrefix: `rl:${policy.name}`, points, duration: policy.windowSeconds };
    const blockDuration = policy.blockSeconds;
    const shared = {
      ...base,
      blockDuration,
      insuranceLimiter: memoryLimiter({ ...base, blockDuration }),
      inMemoryBlockOnConsumed: points + 1,
      // Without a block duration the in-memory block lasts until the window ends.
      ...(blockDuration > 0 ? { inMemoryBlockDuration: blockDuration } : {}),
    };
    switch (this.deps.store) {
      case "memory":
        limiter = memoryLimiter({ ...base, blockDuration });
        break;
      case "redis": {
        const Limiter = require("rate-limiter-flexible/lib/RateLimiterRedis") as typeof RateLimiterRedis;
        limiter = new Limiter({ ...shared, storeClient: this.required("redis"), rejectIfRedisNotReady: true });
        break;
      }
      case "firestore": {
        const { RateLimiterFirestore } = require("./firestore-store") as typeof import("./firestore-store");
        limiter = new RateLimiterFirestore({ ...shared, storeClient: this.required("firestore") });
        break;
      }
    }
    this.limiters.set(id, limiter);
    return limiter;
  }

  private required<K extends "redis" | "firestore">(kind: K): ReturnType<NonNullable<LimiterDeps[K]>> {
    const client = this.deps[kind];
    if (!client) throw new Error(`the ${kind} rate-limit store needs a ${kind} client`);
    return client() as ReturnType<NonNullable<LimiterDeps[K]>>;
  }

  /**
   * Charges one call to each policy. Resolves with every policy's state, or throws a
   * `RateLimitedError` for the policy that refused it with the longest wait.
   */
  async consume(policies: readonly Policy[], subject: Subject): Promise<PolicyState[]> {
    const Res = RateLimiterResClass();
    const outcomes = await Promise.all(
      policies.map(async (policy) => {
        const limit = pointsFor(policy, subject.plan);
        const state = (res: RateLimiterRes): PolicyState => ({
          policy: policy.name,
          limit,
          windowSeconds: policy.windowSeconds,
          remaining: res.remainingPoints,
          resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
        });
        try {
          return { state: state(await this.limiter(policy, limit).consume(keyOf(policy, subject))), refused: false };
        } catch (error) {
          if (error instanceof Res) return { state: { ...state(error), remaining: 0 }, refused: true };
          // Only reachable if a store fails without insurance: never turn a limiter fault into an error.
          log.error("rate limiter failed; call allowed", { policy: policy.name, ...describeError(error) });
          return undefined;
        }
      }),
    );
    const states = outcomes.flatMap((o) => (o ? [o.state] : []));
    const refused = outcomes
      .flatMap((o) => (o?.refused ? [o.state] : []))
      .sort((a, b) => b.resetSeconds - a.resetSeconds);
    if (refused.length > 0) {
      log.warn("rate limited", { policy: refused[0].policy, retryAfterSeconds: refused[0].resetSeconds });
      metrics.inc("rate_limited_total", { policy: refused[0].policy });
      throw new RateLimitedError(refused[0], rateLimitHeaders(states));
    }
    return states;
  }
}
/* eslint-enable @typescript-eslint/no-require-imports */

/** The counter key of `policy` for `subject`: only the caller's own IP, uid or admitted tenant. */
function keyOf(policy: Policy, subject: Subject): string {
  switch (policy.key) {
    case "ip":
      return `ip:${subject.ip}`;
    case "uid":
      return subject.uid ? `u:${subject.uid}` : `ip:${subject.ip}`;
    case "tenant":
      // policiesFor() admits tenant policies only on tenant functions, which always have one.
      // A per-plan budget starts a fresh count when the plan changes, the same on every store.
      return typeof policy.points === "number" ? `t:${subject.tenantId}` : `t:${subject.tenantId}@${subject.plan}`;
    case "function":
      return `f:${subject.fn}`;
  }
}
