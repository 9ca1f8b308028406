/**
 * File quotas per tenant plan, as data. A tenant's usage (bytes and files, pending uploads
 * included) may not go beyond its plan's quota; `getUploadUrl` checks and reserves in one
 * transaction (see records.ts).
 */
import type { Tenant } from "../tenancy/resolver";

export type Plan = Tenant["plan"];

export interface FileQuota {
  /** Total bytes of the tenant's pending and ready files. */
  maxBytes: number;
  /** Number of the tenant's pending and ready files. */
  maxFiles: number;
}

const GiB = 1024 ** 3;

export const PLAN_QUOTAS: ReadonlyMap<Plan, FileQuota> = new Map<Plan, FileQuota>([
  ["free", { maxBytes: 1 * GiB, maxFiles: 1_000 }],
  ["pro", { maxBytes: 100 * GiB, maxFiles: 100_000 }],
  ["enterprise", { maxBytes: 1024 * GiB, maxFiles: 10_000_000 }],
]);

/** The quota of `plan` (an unknown plan gets the free quota, as the resolver reads it). */
export function quotaOf(plan: Plan): FileQuota {
  return PLAN_QUOTAS.get(plan) ?? (PLAN_QUOTAS.get("free") as FileQuota);
}
