import type { DecodedIdToken } from "firebase-admin/auth";
import type { Firestore } from "firebase-admin/firestore";
import { checkTenantMfaPolicy, configureSessionGuard, isSessionActive } from "../../src/platform/session-guard";
import type { Principal } from "../../src/platform/pipeline";

/** A Firestore that fails the test if anything reads from it. */
const noFirestore = new Proxy(
  {},
  {
    get() {
      throw new Error("Firestore must not be touched on this path");
    },
  },
) as Firestore;

const principal = (claims: Record<string, unknown>): Principal => ({
  uid: "u1",
  token: { uid: "u1", ...claims } as unknown as DecodedIdToken,
});

beforeEach(() => configureSessionGuard({ firestore: noFirestore, ttlMs: 0 }));
afterAll(() => configureSessionGuard());

describe("tenant MFA policy, paths that need no read", () => {
  it("lets everyone through when the tenant has no policy", async () => {
    await expect(checkTenantMfaPolicy(principal({}), undefined, ["owner"])).resolves.toBeUndefined();
    await expect(checkTenantMfaPolicy(principal({}), [], ["owner"])).resolves.toBeUndefined();
  });

  it("lets members outside the covered roles through", async () => {
    await expect(checkTenantMfaPolicy(principal({}), ["owner", "admin"], ["member"])).resolves.toBeUndefined();
  });

  it("lets an MFA-verified session through, and only `mfa === true` counts", async () => {
    await expect(checkTenantMfaPolicy(principal({ mfa: true }), ["owner"], ["owner"])).resolves.toBeUndefined();
    await expect(checkTenantMfaPolicy(principal({ mfa: "true" }), ["owner"], ["owner"])).rejects.toThrow(
      "must not be touched",
    );
  });
});

describe("session status check", () => {
  it("refuses a malformed session id without a read", async () => {
    for (const sid of ["", "../x", "A".repeat(32), "0".repeat(31)]) {
      await expect(isSessionActive(sid, "u1")).resolves.toBe(false);
    }
  });
});
