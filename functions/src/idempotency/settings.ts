/**
 * Idempotency settings: the deploy params, validated on first use, and a function's own
 * `idempotencyOptions` on top, validated against the same ranges.
 */
import { intValue, params, type IntSetting } from "../platform/config";
import { ConfigError } from "../platform/errors";
import type { FunctionSpec, IdempotencyEngineMode } from "../platform/spec";

export interface IdempotencySettings {
  mode: IdempotencyEngineMode;
  ttlSeconds: number;
  leaseSeconds: number;
  cacheServerErrors: boolean;
  maxResponseBytes: number;
  now: () => number;
}

interface Globals {
  ttlSeconds: number;
  lockSeconds: number;
  cacheServerErrors: boolean;
  maxResponseBytes: number;
}

let globals: Globals | undefined;

function readGlobals(): Globals {
  // Validated once per instance: a bad value fails the first keyed call loudly (ConfigError).
  globals ??= {
    ttlSeconds: intValue(params.idempotencyTtlSeconds),
    lockSeconds: intValue(params.idempotencyLockSeconds),
    cacheServerErrors: params.idempotencyCacheServerErrors.value(),
    maxResponseBytes: intValue(params.idempotencyMaxResponseBytes),
  };
  return globals;
}

/** Forgets the validated params (tests that change them). */
export function resetSettingsCache(): void {
  globals = undefined;
}

function inRange(fn: string, name: string, value: number | undefined, setting: IntSetting): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < setting.min || value > setting.max) {
    throw new ConfigError(`${fn}: idempotencyOptions.${name} must be an integer in [${setting.min}, ${setting.max}]`);
  }
  return value;
}

/**
 * The settings for one function. The lease is the function's own `lockSeconds` when it sets one,
 * otherwise IDEMPOTENCY_LOCK_SECONDS but never shorter than the function's timeout: a lease that
 * ends while the holder may still legitimately be running would let a retry run the effect twice.
 */
export function settingsFor(spec: FunctionSpec): IdempotencySettings {
  const g = readGlobals();
  const o = spec.idempotencyOptions ?? {};
  const ttl = inRange(spec.name, "ttlSeconds", o.ttlSeconds, params.idempotencyTtlSeconds);
  const lock = inRange(spec.name, "lockSeconds", o.lockSeconds, params.idempotencyLockSeconds);
  const mode = o.mode ?? "lease";
  if (mode !== "lease" && mode !== "transactional") {
    throw new ConfigError(`${spec.name}: idempotencyOptions.mode must be "lease" or "transactional"`);
  }
  // The record rides in ctx.runTransaction, which only tenant functions have.
  if (mode === "transactional" && !spec.tenant) {
    throw new ConfigError(`${spec.name}: idempotencyOptions.mode "transactional" needs a tenant function`);
  }
  return {
    mode,
    ttlSeconds: ttl ?? g.ttlSeconds,
    leaseSeconds: lock ?? Math.max(g.lockSeconds, spec.timeoutSeconds ?? 0),
    cacheServerErrors: o.cacheServerErrors ?? g.cacheServerErrors,
    maxResponseBytes: g.maxResponseBytes,
    now: o.now ?? Date.now,
  };
}
