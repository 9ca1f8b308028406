/**
 * Every deploy-time parameter and secret of the product, in one place.
 *
 * Params are read with `.value()` inside handlers only (never at module scope: the values are
 * not known while the CLI loads the code to discover functions). The `setting()` helpers below
 * validate each value against its documented range the first time a handler reads it, so a bad
 * deployment fails loudly on its first request instead of misbehaving quietly.
 *
 * This is the only module that reads the environment.
 */
import {
  defineBoolean,
  defineInt,
  defineList,
  defineSecret,
  defineString,
  type BooleanParam,
  type IntParam,
  type ListParam,
  type StringParam,
} from "firebase-functions/params";
import { ConfigError } from "./errors";

const DAY = 86_400;

/** An integer parameter with its documented, enforced range. */
export interface IntSetting {
  readonly param: IntParam;
  readonly min: number;
  readonly max: number;
}

function intSetting(name: string, description: string, defaultValue: number, min: number, max: number): IntSetting {
  return {
    param: defineInt(name, { default: defaultValue, description: `${description} (${min}–${max})` }),
    min,
    max,
  };
}

/** Reads an integer setting, enforcing its range. */
export function intValue(setting: IntSetting): number {
  const value = setting.param.value();
  if (!Number.isInteger(value) || value < setting.min || value > setting.max) {
    throw new ConfigError(
      `${setting.param.name} must be an integer in [${setting.min}, ${setting.max}], got ${String(value)}`,
    );
  }
  return value;
}

/** Reads a string param that must match a fixed set of choices. */
export function choiceValue<T extends string>(param: StringParam, choices: readonly T[]): T {
  const value = param.value() as T;
  if (!choices.includes(value)) {
    throw new ConfigError(`${param.name} must be one of ${choices.join(", ")}, got ${value}`);
  }
  return value;
}

/**
 * Reads a list param. Deployed functions receive lists as JSON (what `ListParam.value()`
 * parses), but the functions emulator passes `.env` values through raw, i.e. comma-separated;
 * both forms are accepted so the same `.env` works in both places.
 */
export function listValue(param: ListParam): string[] {
  try {
    return param.value();
  } catch (error) {
    const raw = process.env[param.name];
    if (raw === undefined || !(error instanceof SyntaxError)) throw error;
    return raw
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item.length > 0);
  }
}

export const params = {
  // platform
  productName: defineString("PRODUCT_NAME", {
    default: "SaaS Core",
    description: "Product name shown to users, e.g. as the TOTP issuer",
  }),
  region: defineString("FUNCTIONS_REGION", {
    default: "us-central1",
    description: "Region every function and task queue is deployed to",
  }),
  requestDeadlineSeconds: intSetting(
    "REQUEST_DEADLINE_SECONDS",
    "How long a callable or HTTPS request may run before it answers a retryable `unavailable` (HTTPS 503, Retry-After) while its work goes on; below the 60 s default timeout. A function with its own timeoutSeconds answers 10 s before that",
    50,
    1,
    3540,
  ),

  // tenancy
  tenantCacheTtlSeconds: intSetting(
    "TENANT_CACHE_TTL_SECONDS",
    "How long an instance may serve a cached tenant or membership; the bound on staleness",
    30,
    1,
    600,
  ),
  tenantCacheMaxEntries: intSetting(
    "TENANT_CACHE_MAX_ENTRIES",
    "Maximum tenants and memberships cached per instance",
    1000,
    10,
    100_000,
  ),

  // idempotency
  idempotencyTtlSeconds: intSetting(
    "IDEMPOTENCY_TTL_SECONDS",
    "How long a completed idempotency record is replayed",
    DAY,
    60,
    30 * DAY,
  ),
  idempotencyLockSeconds: intSetting(
    "IDEMPOTENCY_LOCK_SECONDS",
    "Lease on a running idempotency key; after it a retry may take over",
    60,
    1,
    3600,
  ),
  idempotencyCacheServerErrors: defineBoolean("IDEMPOTENCY_CACHE_SERVER_ERRORS", {
    default: false,
    description: "Store and replay server errors instead of releasing the key",
  }),
  idempotencyMaxResponseBytes: intSetting(
    "IDEMPOTENCY_MAX_RESPONSE_BYTES",
    "Largest response stored inline in an idempotency record",
    256 * 1024,
    1024,
    900 * 1024,
  ),

  // sessions and MFA
  sessionAbsoluteTtlSeconds: intSetting(
    "SESSION_ABSOLUTE_TTL_SECONDS",
    "Absolute lifetime of a refresh-token family, fixed at creation",
    30 * DAY,
    3600,
    365 * DAY,
  ),
  sessionIdleTtlSeconds: intSetting(
    "SESSION_IDLE_TTL_SECONDS",
    "A session unused for this long expires",
    7 * DAY,
    300,
    90 * DAY,
  ),
  sessionReuseGraceSeconds: intSetting(
    "SESSION_REUSE_GRACE_SECONDS",
    "Window in which the previous refresh token returns the already-issued successor",
    10,
    0,
    120,
  ),
  sessionStatusCacheSeconds: intSetting(
    "SESSION_STATUS_CACHE_SECONDS",
    "The bound: how long an instance trusts a cached session status and Auth revocation state (revoked, expired, password changed, disabled, deleted) before every function refuses",
    30,
    0,
    60,
  ),
  sessionRequired: defineBoolean("SESSION_REQUIRED", {
    default: false,
    description:
      "Refuse ID tokens that carry no app session (no sid) on every function except the session, MFA and whoami functions",
  }),
  recentSignInSeconds: intSetting(
    "RECENT_SIGN_IN_SECONDS",
    "How recent a sign-in must be to start a session or call a sensitive function (MFA changes, sign-out everywhere, policy, platform admin)",
    300,
    30,
    3600,
  ),
  invitationTtlSeconds: intSetting(
    "INVITATION_TTL_SECONDS",
    "How long a pending invitation can be accepted; afterwards it expires (and the TTL policy deletes it)",
    7 * DAY,
    3600,
    30 * DAY,
  ),
  mfaMaxFailedAttempts: intSetting(
    "MFA_MAX_FAILED_ATTEMPTS",
    "Failed TOTP attempts allowed per window before lockout",
    5,
    1,
    100,
  ),
  mfaLockoutWindowSeconds: intSetting(
    "MFA_LOCKOUT_WINDOW_SECONDS",
    "Window for counting failed TOTP attempts, and the lockout length",
    900,
    60,
    DAY,
  ),

  // webhooks
  webhookToleranceSeconds: intSetting(
    "WEBHOOK_TOLERANCE_SECONDS",
    "Accepted age of an inbound webhook signature timestamp",
    300,
    30,
    3600,
  ),
  inboundEventRetentionDays: intSetting(
    "INBOUND_EVENT_RETENTION_DAYS",
    "How long inbound event ids are kept for de-duplication (beyond the provider's retry window)",
    4,
    4,
    90,
  ),
  webhookMaxAttempts: intSetting(
    "WEBHOOK_MAX_ATTEMPTS",
    "Attempts of an inbound event or outbound delivery before it is dead-lettered",
    8,
    1,
    100,
  ),
  webhookDeliveryTimeoutSeconds: intSetting(
    "WEBHOOK_DELIVERY_TIMEOUT_SECONDS",
    "Timeout of one outbound webhook HTTP call",
    15,
    1,
    60,
  ),
  webhookDisableAfterFailingDays: intSetting(
    "WEBHOOK_DISABLE_AFTER_FAILING_DAYS",
    "An endpoint failing continuously for this long is disabled",
    5,
    1,
    30,
  ),
  webhookAllowHttp: defineBoolean("WEBHOOK_ALLOW_HTTP", {
    default: false,
    description: "Allow http:// and loopback endpoints (local emulator only, never in production)",
  }),
  deadLetterTopic: defineString("DEAD_LETTER_TOPIC", {
    default: "dead-letters",
    description: "Pub/Sub topic notified when an event or delivery is dead-lettered",
  }),
  webhookMinBackoffSeconds: intSetting(
    "WEBHOOK_MIN_BACKOFF_SECONDS",
    "First Cloud Tasks retry delay of an inbound event; doubles up to the maximum",
    30,
    1,
    3600,
  ),
  webhookMaxBackoffSeconds: intSetting(
    "WEBHOOK_MAX_BACKOFF_SECONDS",
    "Longest Cloud Tasks retry delay of an inbound event",
    3600,
    1,
    DAY,
  ),
  webhookTaskConcurrency: intSetting(
    "WEBHOOK_TASK_CONCURRENCY",
    "Most inbound-event or delivery tasks running at once per queue (the emulator runs one process each)",
    50,
    1,
    1000,
  ),
  webhookFaultInjectionPercent: intSetting(
    "WEBHOOK_FAULT_INJECTION_PERCENT",
    "Test hook: percentage of inbound task attempts failed on purpose; honoured only under the emulator",
    0,
    0,
    100,
  ),

  // jobs (src/jobs)
  jobMaxAttempts: intSetting(
    "JOB_MAX_ATTEMPTS",
    "Cloud Tasks attempts of one job round (the runJob queue); a job type may stop its round earlier",
    12,
    1,
    100,
  ),
  jobMinBackoffSeconds: intSetting(
    "JOB_MIN_BACKOFF_SECONDS",
    "First Cloud Tasks retry delay of a failed job attempt; doubles up to the maximum",
    10,
    1,
    3600,
  ),
  jobMaxBackoffSeconds: intSetting("JOB_MAX_BACKOFF_SECONDS", "Longest retry delay of a job attempt", 600, 1, DAY),
  jobTaskConcurrency: intSetting(
    "JOB_TASK_CONCURRENCY",
    "Most job attempts running at once (the runJob queue's maxConcurrentDispatches)",
    20,
    1,
    1000,
  ),
  jobRetentionDays: intSetting(
    "JOB_RETENTION_DAYS",
    "How long a job record is kept after it is created or finishes (expireAt, Firestore TTL)",
    30,
    1,
    365,
  ),
  tenantPurgeGraceDays: intSetting(
    "TENANT_PURGE_GRACE_DAYS",
    "How long a tenant must have been suspended before tenant.purge may delete its data",
    30,
    0,
    365,
  ),

  // storage
  storageBucket: defineString("STORAGE_BUCKET", {
    default: "",
    description: "Bucket for tenant objects; empty means the project's default bucket",
  }),
  storageUrlExpirySeconds: intSetting(
    "STORAGE_URL_EXPIRY_SECONDS",
    "Lifetime of signed upload and download URLs",
    900,
    60,
    7 * DAY,
  ),
  storageMaxUploadBytes: intSetting(
    "STORAGE_MAX_UPLOAD_BYTES",
    "Largest object a signed upload URL accepts",
    10 * 1024 * 1024,
    1,
    5 * 1024 * 1024 * 1024,
  ),
  storageAllowedContentTypes: defineList("STORAGE_ALLOWED_CONTENT_TYPES", {
    default: ["image/png", "image/jpeg", "image/webp", "application/pdf", "text/csv"],
    description: "Content types a signed upload URL may be issued for",
  }) as ListParam,

  // observability
  traceExporter: defineString("TRACE_EXPORTER", {
    default: "none",
    description: "Where spans go: none | console | otlp | cloud-trace",
  }),
  traceSamplePercent: intSetting(
    "TRACE_SAMPLE_PERCENT",
    "Percentage of traces sampled, decided per trace id so every hop of a trace agrees",
    10,
    0,
    100,
  ),
  requestLogSamplePercent: intSetting(
    "REQUEST_LOG_SAMPLE_PERCENT",
    "Percentage of successful invocations that write their request log line (errors and sampled traces always do)",
    100,
    0,
    100,
  ),

  // rate limits and the shared Redis tier (platform/ratelimit, platform/redis.ts)
  rateLimitStore: defineString("RATE_LIMIT_STORE", {
    default: "memory",
    description:
      "Where rate-limit counters live: memory (per instance) | firestore (shared, 1 read + 1 write per call) | redis (shared, REDIS_URL)",
  }),
  rateLimitPolicies: defineString("RATE_LIMIT_POLICIES", {
    default: "",
    description:
      'JSON overrides of the rate-limit policies, e.g. {"createTenant":{"points":10}} (docs/core-modules.md)',
  }),
  redisUrl: defineString("REDIS_URL", {
    default: "",
    description:
      "redis://host:port of Memorystore (reached through the VPC connector); empty: no Redis (no shared L2 cache)",
  }),

  // metrics aggregation (observability/metrics-aggregate.ts)
  metricsFlushSeconds: intSetting(
    "METRICS_FLUSH_SECONDS",
    "How often an instance adds its metric increments to the shared Firestore counters (at most one write per interval)",
    10,
    1,
    300,
  ),
  metricsShards: intSetting(
    "METRICS_SHARDS",
    "Counter shard documents under _metrics/ that instances spread their flushes over (each takes about 1 write/s)",
    8,
    1,
    64,
  ),
} as const;

export const secrets = {
  /** 32-byte key (base64) that encrypts TOTP seeds and webhook endpoint secrets at rest. */
  dataEncryptionKey: defineSecret("DATA_ENCRYPTION_KEY"),
  /** The payment provider's webhook signing secret(s), comma-separated during rotation. */
  paymentWebhookSecret: defineSecret("PAYMENT_WEBHOOK_SECRET"),
  /** Bearer token for the metrics endpoint and health details. */
  operatorToken: defineSecret("OPERATOR_TOKEN"),
} as const;

/** Environment facts that are not deploy parameters: emulator detection and the project id. */
export const runtime = {
  /** True when running under the Emulator Suite or tests. */
  isEmulator(): boolean {
    return process.env.FUNCTIONS_EMULATOR === "true" || Boolean(process.env.FIRESTORE_EMULATOR_HOST);
  },
  projectId(): string {
    return process.env.GCLOUD_PROJECT ?? process.env.GOOGLE_CLOUD_PROJECT ?? process.env.FIREBASE_PROJECT ?? "";
  },
  firestoreEmulatorHost(): string | undefined {
    return process.env.FIRESTORE_EMULATOR_HOST;
  },
  authEmulatorHost(): string | undefined {
    return process.env.FIREBASE_AUTH_EMULATOR_HOST;
  },
  tasksEmulatorHost(): string | undefined {
    return process.env.CLOUD_TASKS_EMULATOR_HOST;
  },
  pubsubEmulatorHost(): string | undefined {
    return process.env.PUBSUB_EMULATOR_HOST;
  },
  /** host:port of the Firebase Storage emulator, when one runs. */
  storageEmulatorHost(): string | undefined {
    return process.env.FIREBASE_STORAGE_EMULATOR_HOST ?? process.env.STORAGE_EMULATOR_HOST?.replace(/^https?:\/\//, "");
  },
};

/**
 * A string param's value while the code loads, for settings that must fail at deploy and at
 * instance start rather than on the first call: the value the CLI (deploy) or the runtime (each
 * instance) puts in the environment from functions/.env*, else the declared default.
 */
export function loadTimeValue(param: StringParam): string {
  const fallback = param.options.default;
  return process.env[param.name] ?? (typeof fallback === "string" ? fallback : "");
}

export type { BooleanParam, StringParam };

/**
 * Fills `env` with every param's declared default where it has no value. The Firebase CLI does
 * this for deployed functions and the emulator; in-process tests call it so params behave the
 * same there.
 */
export function applyParamDefaults(env: NodeJS.ProcessEnv = process.env): void {
  for (const entry of Object.values(params)) {
    const param = ("param" in entry ? entry.param : entry) as { name: string; options?: { default?: unknown } };
    const value = param.options?.default;
    if (value === undefined || env[param.name] !== undefined) continue;
    env[param.name] = Array.isArray(value) ? JSON.stringify(value) : String(value);
  }
}
