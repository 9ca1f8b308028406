/**
 * The HTTPS-endpoint wrapper: the same admission pipeline as callables, for plain HTTP clients
 * (payment providers, operators, curl). Handlers return an `HttpResult` instead of writing to
 * the response, so results can be stored and replayed byte for byte (Idempotency-Key).
 *
 * Errors are answered as RFC 9457 problem+json: `{type, title, status, detail, code, …}`.
 */
import type { Transaction } from "firebase-admin/firestore";
import type { Request } from "firebase-functions/v2/https";
import { onRequest, type HttpsOptions } from "firebase-functions/v2/https";
import type { Response } from "express";
import type { z } from "zod";
import { adminAuth } from "./admin";
import { currentInvocation, withInvocation } from "./context";
import { answerByDeadline } from "./deadline";
import { AppError, invalidArgument, toHttpsError, transientDependencyError, unauthenticated } from "./errors";
import {
  checkIdempotencyKey,
  REPLAYED_HEADER,
  runHookedTransaction,
  runIdempotent,
  type TransactionHook,
} from "./idempotency-port";
import { logFailure } from "./logger";
import { observeInvocation } from "./observe";
import { admit, type Principal, type TenantAdmission } from "./pipeline";
import { checkRateLimits, clientIp, enforceRateLimits, RateLimitedError, rateLimitHeaders } from "./ratelimit";
import { functionSpec, withSpec, type IdempotencyMode, type IdempotencyOptions } from "./spec";
import { traceInvocation, withSpan } from "./tracing-port";
import { parseInput } from "./validation";
import type { PermissionRequirement } from "../rbac/effective";

export interface HttpResult {
  status: number;
  /** JSON-serialisable body; omit for an empty response. */
  body?: unknown;
  /** Plain-text body (e.g. Prometheus exposition); wins over `body`. */
  text?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface HttpsContext<I> {
  req: Request;
  data: I;
  principal?: Principal;
  uid?: string;
  tenant?: TenantAdmission["tenant"];
  member?: TenantAdmission["member"];
  permissions?: TenantAdmission["permissions"];
  db?: TenantAdmission["db"];
  hooks: TransactionHook[];
  /**
   * Tenant endpoints: runs a transaction on the tenant's data; when the call is idempotent the
   * completion record commits in this same transaction.
   */
  runTransaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
}

export interface HttpsSpec<S extends z.ZodType> {
  name: string;
  description: string;
  methods: readonly ("GET" | "POST" | "PUT" | "PATCH" | "DELETE")[];
  /** Schema of the JSON body (POST/PUT/PATCH) or of the query string (GET/DELETE). */
  input: S;
  auth?: "none" | "optional" | "required";
  /** Acts in the caller's active tenant (from the ID token's claims). */
  tenant?: boolean;
  permission?: PermissionRequirement;
  idempotent?: IdempotencyMode;
  /** Per-function overrides of the idempotency params. */
  idempotencyOptions?: IdempotencyOptions;
  requireMfa?: boolean;
  sensitive?: boolean;
  sessionless?: boolean;
  platformAdmin?: boolean;
  /** Rate-limit policies (platform/ratelimit/policies.ts) besides the tenant's plan budget. */
  rateLimits?: readonly string[];
  options?: HttpsOptions;
}

const PROBLEM_TYPE = "https://saas-core.dev/problems/";

async function principalOf(req: Request, required: boolean): Promise<Principal | undefined> {
  const header = req.headers.authorization;
  if (typeof header !== "string" || !header.startsWith("Bearer ")) {
    if (required) throw unauthenticated();
    return undefined;
  }
  const rawToken = header.slice(7);
  try {
    const token = await adminAuth().verifyIdToken(rawToken);
    return { uid: token.uid, token };
  } catch {
    throw unauthenticated("The ID token is invalid or expired.");
  }
}

function send(res: Response, result: HttpResult): void {
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, value);
  res.status(result.status);
  if (result.text !== undefined) {
    res.type(result.contentType ?? "text/plain").send(result.text);
  } else if (result.body === undefined) {
    res.end();
  } else {
    res.type(result.contentType ?? "application/json").send(JSON.stringify(result.body));
  }
}

/** Maps an error to a problem+json result; unknown errors become a generic 500. */
export function problem(error: unknown): HttpResult {
  const appError = error instanceof AppError ? error : transientDependencyError(error);
  const httpsError = toHttpsError(appError ?? error);
  const details = (appError?.details ?? {}) as Record<string, unknown>;
  const status = typeof details.httpStatus === "number" ? details.httpStatus : httpsError.httpErrorCode.status;
  const headers: Record<string, string> = {};
  if (typeof details.retryAfterSeconds === "number")
    headers["Retry-After"] = String(Math.ceil(details.retryAfterSeconds));
  const { httpStatus: _omit, ...rest } = details;
  return {
    status,
    contentType: "application/problem+json",
    headers,
    body: {
      type: `${PROBLEM_TYPE}${httpsError.code}`,
      title: httpsError.code,
      status,
      detail: httpsError.message,
      code: httpsError.code,
      ...rest,
    },
  };
}

function readInput(req: Request): unknown {
  if (req.method === "GET" || req.method === "DELETE") return { ...req.query };
  // The functions framework has already parsed JSON bodies; anything else is refused.
  const type = req.headers["content-type"] ?? "";
  if (req.rawBody && req.rawBody.length > 0 && !String(type).includes("application/json")) {
    throw invalidArgument("Send a JSON body with Content-Type: application/json");
  }
  return req.body ?? {};
}

/** Creates an HTTPS function from a spec and a handler returning an `HttpResult`. */
export function httpsEndpoint<S extends z.ZodType>(
  spec: HttpsSpec<S>,
  handler: (ctx: HttpsContext<z.output<S>>) => Promise<HttpResult>,
) {
  const full = functionSpec(spec, {
    kind: "https",
    auth: spec.auth ?? (spec.tenant ? "required" : "none"),
    tenant: spec.tenant ?? false,
    methods: spec.methods,
  });
  checkRateLimits(full);

  const handle = async (req: Request): Promise<HttpResult> => {
    if (!spec.methods.includes(req.method as never)) {
      return {
        ...problem(new AppError("invalid-argument", `Method ${req.method} not allowed`, { httpStatus: 405 })),
        headers: { Allow: spec.methods.join(", ") },
      };
    }
    // auth "none": the Authorization header belongs to the endpoint (e.g. the operator token of `metrics`).
    const principal = full.auth === "none" ? undefined : await principalOf(req, full.auth === "required");
    const admission = await admit(full, principal);
    const limits = await enforceRateLimits(full, admission, clientIp(req));
    const rawKey = req.headers["idempotency-key"];
    const key =
      spec.idempotent && rawKey !== undefined
        ? checkIdempotencyKey(Array.isArray(rawKey) ? rawKey[0] : rawKey)
        : undefined;
    const data = parseInput(spec.input, readInput(req)) as z.output<S>;
    const hooks: TransactionHook[] = [];
    const tenantDb = admission.tenant?.db;
    const runTransaction = <T>(fn: (tx: Transaction) => Promise<T>): Promise<T> => {
      if (!tenantDb) throw new Error("runTransaction needs a tenant context");
      return withSpan("firestore.transaction", () => runHookedTransaction(tenantDb, hooks, fn));
    };
    const ctx: HttpsContext<z.output<S>> = {
      req,
      data,
      principal,
      uid: principal?.uid,
      ...admission.tenant,
      hooks,
      runTransaction,
    };
    const result = await runIdempotent(
      { spec: full, key, input: data, tenantId: admission.tenant?.tenant.id, principal: principal?.uid, hooks },
      () => handler(ctx),
    );
    return { ...result, headers: { ...result.headers, ...rateLimitHeaders(limits) } };
  };

  const run = (req: Request): Promise<HttpResult> =>
    withInvocation({ fn: spec.name }, () =>
      observeInvocation(full, () =>
        traceInvocation(full, req.headers, async () => {
          let result: HttpResult;
          try {
            result = await answerByDeadline(full, () => handle(req));
          } catch (error) {
            result = problem(error);
            if (error instanceof RateLimitedError) result.headers = { ...result.headers, ...error.headers };
            logFailure(error);
          }
          if (!currentInvocation()?.replayed) return result;
          return { ...result, headers: { ...result.headers, [REPLAYED_HEADER]: "true" } };
        }),
      ),
    );

  const fn = onRequest({ ...(spec.options ?? {}) }, async (req, res) => send(res, await run(req)));
  return withSpec(Object.assign(fn, { run }), full);
}
