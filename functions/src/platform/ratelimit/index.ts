/**
 * The rate-limit stage of the request pipeline. It runs after admission (so a tenant's budget is
 * charged only for its admitted members, and a non-member learns nothing from it) and before
 * input validation:
 *
 *   const limits = await enforceRateLimits(spec, admission, clientIp(req));
 *
 * A refused call throws `RateLimitedError` (`resource-exhausted`, HTTP 429); HTTPS endpoints add
 * `rateLimitHeaders(limits)` to their answers.
 *
 * The policy table and the store are read when this module loads, so a bad RATE_LIMIT_POLICIES
 * or RATE_LIMIT_STORE fails the deploy and every instance start, not the first call.
 */
import type { IncomingHttpHeaders } from "node:http";
import { rootFirestore } from "../admin";
import { loadTimeValue, params } from "../config";
import { ConfigError } from "../errors";
import type { Admission } from "../pipeline";
import { sharedRedis } from "../redis";
import type { FunctionSpec } from "../spec";
import { RateLimits, STORES, type PolicyState, type StoreKind } from "./limiter";
import { loadPolicies, policiesFor, type Policy } from "./policies";

export { RateLimitedError, rateLimitHeaders, type PolicyState } from "./limiter";

/** The store named by RATE_LIMIT_STORE, checked against REDIS_URL. */
export function storeSetting(store: string, redisUrl: string): StoreKind {
  if (!(STORES as readonly string[]).includes(store)) {
    throw new ConfigError(`RATE_LIMIT_STORE must be one of ${STORES.join(", ")}, got ${JSON.stringify(store)}`);
  }
  if (store === "redis" && redisUrl === "") throw new ConfigError("RATE_LIMIT_STORE=redis needs REDIS_URL");
  return store as StoreKind;
}

const POLICIES = loadPolicies(loadTimeValue(params.rateLimitPolicies));
const STORE = storeSetting(loadTimeValue(params.rateLimitStore), loadTimeValue(params.redisUrl));

const applied = new WeakMap<FunctionSpec, Policy[]>();

/** Checks (at definition time) the policies `spec` is charged against; see policiesFor(). */
export function checkRateLimits(spec: FunctionSpec): void {
  applied.set(spec, policiesFor(spec, POLICIES));
}

let shared: RateLimits | undefined;

/** The instance's limiters on the configured store. */
export function rateLimits(): RateLimits {
  shared ??= new RateLimits({
    store: STORE,
    firestore: rootFirestore,
    redis: () => sharedRedis() as NonNullable<ReturnType<typeof sharedRedis>>,
  });
  return shared;
}

/** Replaces the instance's limiters (tests choose a store); undefined goes back to the params. */
export function setRateLimits(limits: RateLimits | undefined): void {
  shared = limits;
}

/** Charges the call to the spec's policies; throws `RateLimitedError` when one refuses it. */
export async function enforceRateLimits(spec: FunctionSpec, admission: Admission, ip: string): Promise<PolicyState[]> {
  let policies = applied.get(spec);
  if (!policies) {
    policies = policiesFor(spec, POLICIES);
    applied.set(spec, policies);
  }
  if (policies.length === 0) return [];
  const tenant = admission.tenant?.tenant;
  return rateLimits().consume(policies, {
    fn: spec.name,
    ip,
    uid: admission.principal?.uid,
    tenantId: tenant?.id,
    plan: tenant?.plan ?? "free",
  });
}

/**
 * The caller's IP. Cloud Functions sits behind Google's front end, which appends the address it
 * saw to X-Forwarded-For; entries left of it are whatever the client sent, so the last one is
 * the only one a caller cannot choose.
 */
export function clientIp(req: { headers?: IncomingHttpHeaders; ip?: string } | undefined): string {
  const forwarded = req?.headers?.["x-forwarded-for"];
  const list = (Array.isArray(forwarded) ? forwarded.join(",") : (forwarded ?? "")).split(",");
  const last = list[list.length - 1].trim();
  return last || req?.ip || "unknown";
}
