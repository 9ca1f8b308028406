/**
 * The guard in the wrappers and the in-handler helpers, run in-process with a warm tenant cache
 * (so no emulator is needed: admission reads nothing when tenant and membership are cached).
 */
process.env.GCLOUD_PROJECT ??= "demo-saas-core";

import type { CallableRequest } from "firebase-functions/v2/https";
import { HttpsError } from "firebase-functions/v2/https";
import * as logger from "firebase-functions/logger";

// Capture log lines (the logger otherwise writes JSON to the console it saved at import).
jest.mock("firebase-functions/logger", () => ({
  ...jest.requireActual("firebase-functions/logger"),
  warn: jest.fn(),
}));
import { z } from "zod";
import { tenantCallable } from "../../src/platform/callable";
import { metrics } from "../../src/platform/metrics";
import { NoInput } from "../../src/platform/validation";
import { clearPermissionCaches, describeRequirement } from "../../src/rbac/effective";
import { can, guard, requires } from "../../src/rbac/guard";
import { TenantCache, setTenantCache } from "../../src/tenancy/resolver";
import { configureSessionGuard } from "../../src/platform/session-guard";

const TID = "t-guard";
/** The one app session these tests know: MFA-verified, active for an hour. */
const MFA_SID = "0".repeat(31) + "1";

// The session stage's two sources, answered in-process: every user exists and is not revoked,
// and MFA_SID names a live MFA-verified session of whoever asks.
const users = { getUser: async () => ({ disabled: false, customClaims: {} }) };
const sessionsDb = {
  doc: (path: string) => ({
    get: async () => {
      const live = path === `sessions/${MFA_SID}`;
      const at = (ms: number) => ({ toMillis: () => ms });
      const data = {
        uid: "u-admin",
        status: "active",
        mfa: true,
        expiresAt: at(Date.now() + 3_600_000),
        idleExpiresAt: at(Date.now() + 3_600_000),
      };
      return { exists: live, data: () => (live ? { ...data, uid: currentUid } : undefined) };
    },
  }),
};
let currentUid = "";

const createPaymentProbe = tenantCallable(
  { name: "createPaymentProbe", description: "test only", input: NoInput, permission: "payments:create" },
  async ({ uid }) => ({ ok: true, uid }),
);

const refundProbe = tenantCallable(
  {
    name: "refundProbe",
    description: "test only",
    input: z.strictObject({ amount: z.number() }),
    permission: "payments:read",
  },
  requires("payments:create")(async (ctx) => {
    // A finer, input-dependent check in the middle of a handler.
    if (ctx.data.amount > 1000) guard(ctx, "tenant:manage");
    return { refunded: ctx.data.amount, canManageWebhooks: can(ctx, "webhooks:manage") };
  }),
);

const anyOfProbe = tenantCallable(
  {
    name: "anyOfProbe",
    description: "test only",
    input: NoInput,
    permission: { anyOf: ["tenant:manage", "webhooks:manage"] },
  },
  async () => "ok",
);

const allOfProbe = tenantCallable(
  {
    name: "allOfProbe",
    description: "test only",
    input: NoInput,
    permission: { allOf: ["payments:create", "webhooks:read"] },
  },
  async () => "ok",
);

const mfaProbe = tenantCallable(
  { name: "mfaProbe", description: "test only", input: NoInput, permission: "payments:read", requireMfa: true },
  async () => "ok",
);

type Runnable = { run: (request: CallableRequest) => Promise<unknown> };

function request(uid: string | null, data: unknown = {}, claims: Record<string, unknown> = {}): CallableRequest {
  currentUid = uid ?? "";
  return {
    data,
    auth: uid ? { uid, token: { uid, tid: TID, ...claims } as never, rawToken: "not-used" } : undefined,
    rawRequest: { headers: {} } as never,
    acceptsStreaming: false,
  } as CallableRequest;
}

async function call(fn: Runnable, uid: string | null, data?: unknown): Promise<unknown> {
  return fn.run(request(uid, data));
}

async function rejection(promise: Promise<unknown>): Promise<HttpsError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof HttpsError) return error;
    throw error;
  }
  throw new Error("expected the call to be rejected");
}

const ROLES: Record<string, string[]> = {
  "u-owner": ["owner"],
  "u-admin": ["admin"],
  "u-member": ["member"],
  "u-viewer": ["viewer"],
  "u-none": [],
};

const warn = logger.warn as jest.Mock;

beforeEach(() => {
  const cache = new TenantCache({ ttlMs: 60_000, max: 100 });
  cache.setTenant(TID, { id: TID, name: "Guard", status: "active", configVersion: 0 });
  for (const [uid, roles] of Object.entries(ROLES)) cache.setMember(TID, uid, { uid, roles });
  cache.setMember(TID, "u-stranger", null); // known not to be a member
  setTenantCache(cache);
  clearPermissionCaches();
  configureSessionGuard({
    auth: users as never,
    firestore: sessionsDb as never,
    ttlMs: 0,
    policy: { sessionRequired: false, recentSignInMs: 300_000 },
  });
  warn.mockClear();
});

afterEach(() => {
  setTenantCache(undefined);
  configureSessionGuard();
});

function denialLogs(): Record<string, unknown>[] {
  return warn.mock.calls.filter((c) => c[0] === "permission denied").map((c) => c[1] as Record<string, unknown>);
}

describe("the permission option of tenantCallable", () => {
  it("denies a viewer calling a payments:create function and lets an admin and a member through", async () => {
    const error = await rejection(call(createPaymentProbe, "u-viewer"));
    expect(error.code).toBe("permission-denied");
    await expect(call(createPaymentProbe, "u-admin")).resolves.toEqual({ ok: true, uid: "u-admin" });
    await expect(call(createPaymentProbe, "u-member")).resolves.toEqual({ ok: true, uid: "u-member" });
  });

  it("never says which permission was missing", async () => {
    const error = await rejection(call(createPaymentProbe, "u-viewer"));
    expect(error.message).not.toMatch(/payments/);
    expect(JSON.stringify(error.details ?? {})).not.toMatch(/payments/);
  });

  it("logs uid, tenant, permission and function for a denial", async () => {
    await rejection(call(createPaymentProbe, "u-viewer"));
    expect(denialLogs()).toEqual([
      expect.objectContaining({
        uid: "u-viewer",
        tenantId: TID,
        permission: "payments:create",
        fn: "createPaymentProbe",
      }),
    ]);
  });

  it("counts denials per function and permission", async () => {
    const count = () =>
      metrics
        .snapshot()
        .find(
          (s) =>
            s.name === "rbac_denials_total" &&
            s.labels.fn === "createPaymentProbe" &&
            s.labels.permission === "payments:create",
        )?.value ?? 0;
    const before = count();
    await rejection(call(createPaymentProbe, "u-viewer"));
    expect(count()).toBe(before + 1);
  });

  it("answers unauthenticated callers with unauthenticated, before any permission check", async () => {
    const error = await rejection(call(createPaymentProbe, null));
    expect(error.code).toBe("unauthenticated");
    expect(error.message).not.toMatch(/payments|permission/i);
    expect(denialLogs()).toEqual([]);
  });

  it("denies a member with no roles at all", async () => {
    expect((await rejection(call(createPaymentProbe, "u-none"))).code).toBe("permission-denied");
  });

  it("honours anyOf", async () => {
    await expect(call(anyOfProbe, "u-admin")).resolves.toBe("ok"); // webhooks:manage
    await expect(call(anyOfProbe, "u-owner")).resolves.toBe("ok");
    expect((await rejection(call(anyOfProbe, "u-member"))).code).toBe("permission-denied");
    expect(denialLogs()[0]).toMatchObject({ permission: "anyOf(tenant:manage|webhooks:manage)" });
  });

  it("honours allOf", async () => {
    await expect(call(allOfProbe, "u-admin")).resolves.toBe("ok");
    // a member has payments:create but not webhooks:read
    expect((await rejection(call(allOfProbe, "u-member"))).code).toBe("permission-denied");
    expect(denialLogs()[0]).toMatchObject({ permission: "allOf(payments:create&webhooks:read)" });
  });

  it("does not resolve or reveal a tenant to a non-member", async () => {
    expect((await rejection(call(createPaymentProbe, "u-stranger"))).code).toBe("not-found");
  });
});

describe("requireMfa", () => {
  it("refuses a session without a second factor with a reason the client can act on", async () => {
    const error = await rejection(call(mfaProbe, "u-admin"));
    expect(error.code).toBe("failed-precondition");
    expect(error.details).toMatchObject({ reason: "mfa-required" });
  });

  it("ignores an `mfa: true` claim that no live MFA session backs", async () => {
    const error = await rejection(mfaProbe.run(request("u-admin", {}, { mfa: true })));
    expect(error.details).toMatchObject({ reason: "mfa-required" });
  });

  it("admits an MFA session that also holds the permission, and still checks the permission", async () => {
    await expect(mfaProbe.run(request("u-admin", {}, { sid: MFA_SID, mfa: true }))).resolves.toBe("ok");
    expect((await rejection(mfaProbe.run(request("u-none", {}, { sid: MFA_SID, mfa: true })))).code).toBe(
      "permission-denied",
    );
  });
});

describe("requires() and guard() inside handlers", () => {
  it("requires() checks before the handler runs", async () => {
    // a viewer passes the wrapper's payments:read but not requires("payments:create")
    const error = await rejection(call(refundProbe, "u-viewer", { amount: 5 }));
    expect(error.code).toBe("permission-denied");
    expect(denialLogs()).toEqual([
      expect.objectContaining({ uid: "u-viewer", tenantId: TID, permission: "payments:create", fn: "refundProbe" }),
    ]);
  });

  it("guard() applies an input-dependent check and can() asks without logging", async () => {
    await expect(call(refundProbe, "u-member", { amount: 5 })).resolves.toEqual({
      refunded: 5,
      canManageWebhooks: false,
    });
    expect(denialLogs()).toEqual([]);
    expect((await rejection(call(refundProbe, "u-admin", { amount: 5000 }))).code).toBe("permission-denied");
    expect(denialLogs()[0]).toMatchObject({ permission: "tenant:manage", uid: "u-admin" });
    await expect(call(refundProbe, "u-owner", { amount: 5000 })).resolves.toEqual({
      refunded: 5000,
      canManageWebhooks: true,
    });
  });

  it("guard() fails closed on a context without resolved permissions", () => {
    expect(() => guard({ uid: "u1" }, "tenant:read")).toThrow(expect.objectContaining({ code: "permission-denied" }));
    expect(can({}, "tenant:read")).toBe(false);
  });
});

describe("describeRequirement", () => {
  it("renders the three requirement forms", () => {
    expect(describeRequirement("roles:read")).toBe("roles:read");
    expect(describeRequirement({ anyOf: ["roles:read", "roles:manage"] })).toBe("anyOf(roles:read|roles:manage)");
    expect(describeRequirement({ allOf: ["roles:read", "roles:manage"] })).toBe("allOf(roles:read&roles:manage)");
  });
});
