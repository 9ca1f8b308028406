/**
 * The callable wrappers. Every callable in the product is made by `callable()` (no tenant) or
 * `tenantCallable()` (acts in the caller's active tenant), which compose, once:
 * invocation context → deadline (deadline.ts) → admission (pipeline.ts: authentication,
 * session, tenant, MFA, permission) → rate limit → input validation → idempotency → handler →
 * error mapping.
 *
 * A handler receives parsed input and, for tenant callables, a `db` that can only address the
 * caller's tenant. It throws `AppError`s; anything else reaches the client as a bare `internal`.
 */
import type { Transaction } from "firebase-admin/firestore";
import { onCall, type CallableOptions, type CallableRequest } from "firebase-functions/v2/https";
import type { z } from "zod";
import { currentInvocation, withInvocation } from "./context";
import { answerByDeadline } from "./deadline";
import { toHttpsError } from "./errors";
import {
  REPLAYED_HEADER,
  runHookedTransaction,
  runIdempotent,
  splitIdempotencyKey,
  type TransactionHook,
} from "./idempotency-port";
import { logFailure } from "./logger";
import { observeInvocation } from "./observe";
import { admit, requirePermission, type Principal, type TenantAdmission } from "./pipeline";
import { checkRateLimits, clientIp, enforceRateLimits } from "./ratelimit";
import { functionSpec, withSpec, type FunctionSpec, type IdempotencyMode, type IdempotencyOptions } from "./spec";
import { traceInvocation, withSpan } from "./tracing-port";
import { parseInput, rejectPrototypeKeys } from "./validation";
import { satisfies, type PermissionRequirement } from "../rbac/effective";
import type { Permission } from "../rbac/permissions";

/** Hooks that run inside a handler's transaction just before it commits (idempotency uses it). */
export type { TransactionHook };

export interface BaseContext<I> {
  data: I;
  principal?: Principal;
  rawRequest: CallableRequest["rawRequest"];
}

export interface AuthedContext<I> extends BaseContext<I> {
  principal: Principal;
  uid: string;
}

export interface TenantContext<I> extends AuthedContext<I>, TenantAdmission {
  /** True when the caller holds `requirement`. */
  can(requirement: PermissionRequirement): boolean;
  /** Throws `permission-denied` unless the caller holds `requirement` (finer checks in handlers). */
  require(requirement: PermissionRequirement): void;
  /**
   * Runs a transaction on the tenant's data. When the call is idempotent the completion record
   * is written inside this same transaction, so the effect and its record never disagree.
   */
  runTransaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
}

interface CommonSpec<S extends z.ZodType> {
  name: string;
  description: string;
  input: S;
  output?: z.ZodType;
  idempotent?: IdempotencyMode;
  /** Per-function overrides of the idempotency params. */
  idempotencyOptions?: IdempotencyOptions;
  requireMfa?: boolean;
  sensitive?: boolean;
  sessionless?: boolean;
  platformAdmin?: boolean;
  /** Rate-limit policies (platform/ratelimit/policies.ts) besides the tenant's plan budget. */
  rateLimits?: readonly string[];
  /** Passed through to `onCall` (secrets, memory, timeoutSeconds…). */
  options?: CallableOptions;
}

export interface CallableSpec<S extends z.ZodType> extends CommonSpec<S> {
  auth?: "none" | "optional" | "required";
}

export interface TenantCallableSpec<S extends z.ZodType> extends CommonSpec<S> {
  permission?: PermissionRequirement;
}

function principalOf(request: CallableRequest): Principal | undefined {
  if (!request.auth) return undefined;
  return { uid: request.auth.uid, token: request.auth.token };
}

/** `data` as the client sent it (JSON-parsed, not yet decoded), when the request carries it. */
function wireData(request: CallableRequest): unknown {
  const body: unknown = request.rawRequest?.body;
  return typeof body === "object" && body !== null && "data" in body ? (body as { data: unknown }).data : request.data;
}

async function execute<I, R>(
  spec: FunctionSpec,
  request: CallableRequest,
  handler: (ctx: TenantContext<I>) => Promise<R>,
): Promise<R> {
  const principal = principalOf(request);
  const admission = await admit(spec, principal);
  await enforceRateLimits(spec, admission, clientIp(request.rawRequest));
  // The wire form too: the protocol's decoder turns a `__proto__` key into a prototype, which
  // the key split below would then drop unseen.
  rejectPrototypeKeys(wireData(request));
  const { key, rest } = splitIdempotencyKey(spec, request.data);
  const data = parseInput(spec.input as z.ZodType<I>, rest);
  const hooks: TransactionHook[] = [];
  const tenant = admission.tenant;
  const ctx = {
    data,
    principal,
    uid: principal?.uid,
    rawRequest: request.rawRequest,
    ...tenant,
    // A question, not a denial: no log line, no metric.
    can: (req: PermissionRequirement) => satisfies(tenant?.permissions ?? new Set<Permission>(), req),
    require: (req: PermissionRequirement) =>
      requirePermission(tenant?.permissions ?? new Set<Permission>(), req, principal?.uid, tenant?.tenant.id),
    runTransaction: <T>(fn: (tx: Transaction) => Promise<T>) => {
      if (!tenant) throw new Error("runTransaction needs a tenant context");
      return withSpan("firestore.transaction", () => runHookedTransaction(tenant.db, hooks, fn));
    },
  } as unknown as TenantContext<I>;
  return runIdempotent({ spec, key, input: data, tenantId: tenant?.tenant.id, principal: principal?.uid, hooks }, () =>
    handler(ctx),
  );
}

function build<I, R>(spec: FunctionSpec, options: CallableOptions, handler: (ctx: TenantContext<I>) => Promise<R>) {
  checkRateLimits(spec);
  const run = (request: CallableRequest): Promise<R> =>
    withInvocation({ fn: spec.name }, () =>
      observeInvocation(spec, () =>
        traceInvocation(spec, request.rawRequest?.headers, async () => {
          try {
            return await answerByDeadline(spec, () => execute(spec, request, handler));
          } catch (error) {
            logFailure(error);
            throw toHttpsError(error);
          } finally {
            // The callable protocol's body is the handler's exact result: the flag rides as a header.
            if (currentInvocation()?.replayed) request.rawRequest?.res?.setHeader(REPLAYED_HEADER, "true");
          }
        }),
      ),
    );
  // onCall exposes the handler as `fn.run(request)`, which firebase-functions-test wraps.
  return withSpec(onCall({ ...options }, run), spec);
}

/** A callable that does not act inside a tenant (e.g. createTenant, health-like calls). */
export function callable<S extends z.ZodType, R>(
  spec: CallableSpec<S>,
  handler: (ctx: AuthedContext<z.output<S>>) => Promise<R>,
) {
  const full = functionSpec(spec, { kind: "callable", auth: spec.auth ?? "required", tenant: false });

  return build<z.output<S>, R>(full, spec.options ?? {}, handler as (ctx: TenantContext<z.output<S>>) => Promise<R>);
}

/** A callable that acts in the caller's active tenant, with a tenant-scoped `db`. */
export function tenantCallable<S extends z.ZodType, R>(
  spec: TenantCallableSpec<S>,
  handler: (ctx: TenantContext<z.output<S>>) => Promise<R>,
) {
  const full = functionSpec(spec, { kind: "callable", auth: "required", tenant: true });

  return build<z.output<S>, R>(full, spec.options ?? {}, handler);
}
