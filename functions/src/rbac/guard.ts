/**
 * Finer permission checks inside handlers, for when the wrapper's `permission` option is not
 * enough (a check that depends on the input, or on the document being touched):
 *
 * ```ts
 * export const refundPayment = tenantCallable(
 *   { name: "refundPayment", input: RefundInput, permission: "payments:read" },
 *   requires("payments:create")(async (ctx) => { … }),
 * );
 * // or, in the middle of a handler:
 * if (payment.amount > limit) guard(ctx, { allOf: ["payments:create", "tenant:manage"] });
 * ```
 *
 * Both use the permissions the wrapper already resolved (no Firestore read), log a denial with
 * uid, tenant, permission and function, and answer a bare `permission-denied` that does not say
 * which permission was missing.
 */
import { requirePermission } from "../platform/pipeline";
import { satisfies, type PermissionRequirement } from "./effective";
import type { Permission } from "./permissions";

/** The part of a callable or HTTPS handler context that permission checks read. */
export interface GuardContext {
  uid?: string;
  tenant?: { id: string };
  permissions?: ReadonlySet<Permission>;
}

const NONE: ReadonlySet<Permission> = new Set();

/**
 * Throws `permission-denied` unless the caller holds `requirement`. A context without resolved
 * permissions (a function that does not act in a tenant) holds none, so the check fails closed.
 */
export function guard(ctx: GuardContext, requirement: PermissionRequirement): void {
  requirePermission(ctx.permissions ?? NONE, requirement, ctx.uid, ctx.tenant?.id);
}

/** True when the caller holds `requirement`; never logs (a question, not a denial). */
export function can(ctx: GuardContext, requirement: PermissionRequirement): boolean {
  return satisfies(ctx.permissions ?? NONE, requirement);
}

/**
 * Decorates a handler so that it runs only when the caller holds `requirement`:
 * `requires("payments:read")(handler)`.
 */
export function requires(requirement: PermissionRequirement) {
  return <C extends GuardContext, R>(handler: (ctx: C) => Promise<R>): ((ctx: C) => Promise<R>) =>
    async (ctx: C) => {
      guard(ctx, requirement);
      return handler(ctx);
    };
}
