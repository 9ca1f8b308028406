/**
 * Declarative descriptions of the product's functions. The wrappers attach a `FunctionSpec` to
 * every function they create, so tests (isolation, hostile input) and the API reference
 * generator can enumerate what is exported without a hand-kept list.
 */
import type { z } from "zod";
import type { PermissionRequirement } from "../rbac/effective";

export type FunctionKind = "callable" | "https" | "task";

/** Idempotency: `"required"` rejects calls without a key; `true`/`"optional"` honours one when given. */
export type IdempotencyMode = boolean | "optional" | "required";

/**
 * How a first call is made exactly-once (docs/core-modules.md, Idempotency):
 * - `"lease"` (default): claim the key (1 write), run the handler, complete (1 write, in the
 *   handler's transaction when it uses one). For handlers with effects outside Firestore.
 * - `"transactional"`: for tenant handlers whose only effects are Firestore writes in one
 *   `ctx.runTransaction`: that transaction's commit creates the record with the result (1 write,
 *   no round trip of its own); a duplicate's commit fails on the record, effects included, and it
 *   replays (1 read). Code before the transaction runs for every duplicate.
 */
export type IdempotencyEngineMode = "lease" | "transactional";

/** Per-function overrides of the idempotency params (see docs/core-modules.md, Idempotency). */
export interface IdempotencyOptions {
  /** `"lease"` (default) or `"transactional"`, see `IdempotencyEngineMode`. */
  mode?: IdempotencyEngineMode;
  /** Store and replay server errors instead of releasing the key (IDEMPOTENCY_CACHE_SERVER_ERRORS). */
  cacheServerErrors?: boolean;
  /** How long a completed key is replayed, 60 s – 30 d (IDEMPOTENCY_TTL_SECONDS). */
  ttlSeconds?: number;
  /** Lease on a running key, 1 – 3600 s (IDEMPOTENCY_LOCK_SECONDS, at least the function timeout). */
  lockSeconds?: number;
  /** Clock in epoch milliseconds; tests inject one to move past leases and TTLs. */
  now?: () => number;
}

export interface FunctionSpec {
  kind: FunctionKind;
  /** Must equal the exported name; used in logs, metrics and idempotency scopes. */
  name: string;
  /** One sentence for the API reference. */
  description: string;
  input?: z.ZodType;
  output?: z.ZodType;
  /** "none": public; "optional": a token is used when present; "required": signed-in callers only. */
  auth: "none" | "optional" | "required";
  /** True when the function acts inside the caller's active tenant. */
  tenant: boolean;
  permission?: PermissionRequirement;
  requireMfa?: boolean;
  /**
   * Needs a sign-in younger than RECENT_SIGN_IN_SECONDS and, for a user with MFA, an
   * MFA-verified session. Platform-admin functions are always sensitive.
   */
  sensitive?: boolean;
  /**
   * Answers callers without an app session, or without an MFA-verified one although they enrolled
   * MFA: only session, MFA and whoami-like functions, which grant no tenant access.
   */
  sessionless?: boolean;
  idempotent?: IdempotencyMode;
  idempotencyOptions?: IdempotencyOptions;
  /** The function's timeout when it sets one; the idempotency lease is never shorter. */
  timeoutSeconds?: number;
  /** Only the platform admin (custom claim `platformAdmin: true`) may call it. */
  platformAdmin?: boolean;
  /** HTTPS only: accepted methods. */
  methods?: readonly string[];
}

/** What a wrapper's caller declares; the wrapper adds kind, auth, tenant and methods. */
export type DeclaredSpec = Pick<
  FunctionSpec,
  | "name"
  | "description"
  | "input"
  | "output"
  | "permission"
  | "idempotent"
  | "idempotencyOptions"
  | "requireMfa"
  | "sensitive"
  | "sessionless"
  | "platformAdmin"
> & { options?: { timeoutSeconds?: unknown } };

/** Builds the FunctionSpec of a wrapped function from its declaration. */
export function functionSpec(
  declared: DeclaredSpec,
  fixed: Pick<FunctionSpec, "kind" | "auth" | "tenant" | "methods">,
): FunctionSpec {
  const timeout = declared.options?.timeoutSeconds;
  return {
    ...fixed,
    name: declared.name,
    description: declared.description,
    input: declared.input,
    output: declared.output,
    permission: declared.permission,
    idempotent: declared.idempotent,
    idempotencyOptions: declared.idempotencyOptions,
    // Only a literal timeout is known at load time; an Expression resolves at deploy.
    timeoutSeconds: typeof timeout === "number" ? timeout : undefined,
    requireMfa: declared.requireMfa,
    sensitive: declared.sensitive === true || declared.platformAdmin === true,
    sessionless: declared.sessionless,
    platformAdmin: declared.platformAdmin,
  };
}

export const SPEC = Symbol.for("saas-core.functionSpec");

/** Attaches `spec` to a function object and returns it unchanged in type. */
export function withSpec<F extends object>(fn: F, spec: FunctionSpec): F & { [SPEC]: FunctionSpec } {
  Object.defineProperty(fn, SPEC, { value: spec, enumerable: false });
  return fn as F & { [SPEC]: FunctionSpec };
}

/** The spec of an exported function, if it was made by one of the wrappers. */
export function specOf(fn: unknown): FunctionSpec | undefined {
  return typeof fn === "function" || (typeof fn === "object" && fn !== null)
    ? ((fn as Record<symbol, FunctionSpec | undefined>)[SPEC] ?? undefined)
    : undefined;
}
