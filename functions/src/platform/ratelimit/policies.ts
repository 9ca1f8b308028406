/**
 * Rate-limit policies as data. A policy is a budget of `points` calls per `windowSeconds`,
 * counted per key (the caller's IP, uid or tenant, or the function as a whole); `points` may
 * be a table by tenant plan. Functions name their policies in their spec; every tenant
 * function is also charged against the `tenant` policy, the tenant's plan budget.
 *
 * The table is checked when the code loads (`firebase deploy` loads it to find the functions,
 * an instance loads it when it starts): a bad default, a bad override in RATE_LIMIT_POLICIES or
 * a spec naming an unknown policy fails there with a message naming the policy and field.
 */
import { z } from "zod";
import { ConfigError, fieldErrors } from "../errors";

export const PLANS = ["free", "pro", "enterprise"] as const;
export type Plan = (typeof PLANS)[number];

export const KEYS = ["ip", "uid", "tenant", "function"] as const;
export type PolicyKey = (typeof KEYS)[number];

const Points = z.number().int().min(1).max(1_000_000);
const Seconds = z.number().int().min(1).max(86_400);

const PolicySchema = z.strictObject({
  /** What the counter is keyed by. `uid` falls back to the IP for anonymous callers. */
  key: z.enum(KEYS),
  /** Calls allowed per window: one number, or one per tenant plan (tenant functions only). */
  points: z.union([Points, z.strictObject({ free: Points, pro: Points, enterprise: Points })]),
  windowSeconds: Seconds,
  /** Once exceeded, the key stays refused this long instead of until the window ends (0: off). */
  blockSeconds: z.number().int().min(0).max(86_400).default(0),
});

export type Policy = z.output<typeof PolicySchema> & { name: string };

/** The plan budget every tenant function draws from. */
export const TENANT_POLICY = "tenant";

/** Defaults for the abuse-prone functions; each is named by its function's spec. */
export const DEFAULT_POLICIES: Record<string, z.input<typeof PolicySchema>> = {
  [TENANT_POLICY]: { key: "tenant", points: { free: 300, pro: 3000, enterprise: 30_000 }, windowSeconds: 60 },
  // One tenant (and one Firestore tenant tree) per call.
  createTenant: { key: "uid", points: 5, windowSeconds: 3600 },
  // One IAM signBlob per call.
  startSession: { key: "uid", points: 20, windowSeconds: 60 },
  // On top of the per-user MFA lockout, which only counts wrong codes.
  verifyMfa: { key: "uid", points: 10, windowSeconds: 60 },
  // Creates Auth accounts for unknown emails.
  inviteMember: { key: "tenant", points: { free: 20, pro: 200, enterprise: 2000 }, windowSeconds: 3600 },
  // Each call queues a signed delivery to a tenant-chosen URL.
  sendTestWebhook: { key: "tenant", points: 10, windowSeconds: 60 },
  // One signBlob per call.
  getUploadUrl: { key: "uid", points: 60, windowSeconds: 60 },
  // Public: generous, since the provider retries a 429 and its senders share few addresses.
  paymentWebhook: { key: "ip", points: 600, windowSeconds: 60 },
};

const Overrides = z.record(z.string(), z.record(z.string(), z.unknown()));

/**
 * The policy table: the defaults with RATE_LIMIT_POLICIES applied. `overrides` is JSON mapping a
 * policy name to the fields to change, e.g. `{"createTenant":{"points":10}}`; a new name adds a
 * policy (all fields then required). Throws a `ConfigError` naming what is wrong.
 */
export function loadPolicies(overrides = ""): ReadonlyMap<string, Policy> {
  let parsed: z.output<typeof Overrides> = {};
  if (overrides.trim() !== "") {
    let json: unknown;
    try {
      json = JSON.parse(overrides);
    } catch {
      throw new ConfigError("RATE_LIMIT_POLICIES is not valid JSON");
    }
    // Names are checked on the parsed JSON itself: copying "__proto__" into a plain object would
    // drop it silently instead of refusing it.
    if (json !== null && typeof json === "object" && !Array.isArray(json)) Object.keys(json).forEach(checkName);
    const result = Overrides.safeParse(json);
    if (!result.success) throw new ConfigError("RATE_LIMIT_POLICIES must map policy names to objects of fields");
    parsed = result.data;
  }
  const names = new Set([...Object.keys(DEFAULT_POLICIES), ...Object.keys(parsed)]);
  const table = new Map<string, Policy>();
  for (const name of names) {
    if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(name)) {
      throw new ConfigError(
        `RATE_LIMIT_POLICIES: policy name ${JSON.stringify(name)} must be 1-64 letters, digits, '-' or '_'`,
      );
    }
    const base = Object.hasOwn(DEFAULT_POLICIES, name) ? DEFAULT_POLICIES[name] : {};
    const override = Object.hasOwn(parsed, name) ? parsed[name] : {};
    const result = PolicySchema.safeParse({ ...base, ...override });
    if (!result.success) {
      const problems = Object.entries(fieldErrors(result.error))
        .map(([field, messages]) => `${field || "(policy)"}: ${messages.join(", ")}`)
        .join("; ");
      throw new ConfigError(`rate-limit policy "${name}" is invalid: ${problems}`);
    }
    table.set(name, { ...result.data, name });
  }
  return table;
}

function checkName(name: string): void {
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(name)) {
    throw new ConfigError(
      `RATE_LIMIT_POLICIES: policy name ${JSON.stringify(name)} must be 1-64 letters, digits, '-' or '_'`,
    );
  }
}

/** What a function declares that decides which policies can apply to it. */
export interface PolicyUse {
  name: string;
  tenant: boolean;
  rateLimits?: readonly string[];
}

/**
 * The policies a function is charged against, checked against the table: unknown names, and
 * tenant-keyed or per-plan policies on a function without a tenant, are configuration errors.
 */
export function policiesFor(fn: PolicyUse, table: ReadonlyMap<string, Policy>): Policy[] {
  const names = [...(fn.tenant ? [TENANT_POLICY] : []), ...(fn.rateLimits ?? [])];
  return [...new Set(names)].map((name) => {
    const policy = table.get(name);
    if (!policy) throw new ConfigError(`${fn.name} names rate-limit policy "${name}", which is not defined`);
    if (!fn.tenant && (policy.key === "tenant" || typeof policy.points !== "number")) {
      throw new ConfigError(`${fn.name} acts in no tenant, so it cannot use the per-tenant policy "${name}"`);
    }
    return policy;
  });
}

/** The points a policy allows for a tenant on `plan`. */
export function pointsFor(policy: Policy, plan: Plan): number {
  return typeof policy.points === "number" ? policy.points : policy.points[plan];
}
