import { AppError } from "../../src/platform/errors";
import { CLAIMS_BUDGET_BYTES, CLAIMS_LIMIT_BYTES, claimsBytes, mergeClaims } from "../../src/tenancy/service";

describe("custom claims merging", () => {
  it("keeps every claim tenancy does not own and replaces tid and roles", () => {
    const existing = { platformAdmin: true, sid: "fam_123", mfa: true, tid: "old", roles: ["viewer"] };
    expect(mergeClaims(existing, { tid: "new", roles: ["admin", "admin"] })).toEqual({
      platformAdmin: true,
      sid: "fam_123",
      mfa: true,
      tid: "new",
      roles: ["admin"],
    });
  });

  it("removes only tid and roles when no tenant is active", () => {
    expect(mergeClaims({ platformAdmin: true, tid: "t", roles: ["owner"] }, null)).toEqual({ platformAdmin: true });
    expect(mergeClaims(undefined, null)).toEqual({});
  });

  it("stays far below the 1,000-byte limit for a realistic member", () => {
    const claims = mergeClaims(
      { platformAdmin: true, sid: "f".repeat(40), mfa: true },
      { tid: "t".repeat(20), roles: ["owner", "billing-manager", "support-agent"] },
    );
    const bytes = claimsBytes(claims);
    expect(bytes).toBeLessThan(200);
    expect(bytes).toBe(Buffer.byteLength(JSON.stringify(claims)));
  });

  it("drops custom role names rather than exceed the budget, keeping built-in roles", () => {
    const custom = Array.from({ length: 10 }, (_, i) => `custom-role-${i}-${"x".repeat(50)}`);
    const claims = mergeClaims({ sid: "fam" }, { tid: "a".repeat(128), roles: ["admin", ...custom] });
    expect(claims.roles).toEqual(["admin"]);
    expect(claims.tid).toBe("a".repeat(128));
    expect(claimsBytes(claims)).toBeLessThanOrEqual(CLAIMS_BUDGET_BYTES);
    expect(CLAIMS_BUDGET_BYTES).toBeLessThan(CLAIMS_LIMIT_BYTES);
  });

  it("refuses (failed-precondition) when other claims alone leave no room", () => {
    const bloated = { note: "n".repeat(CLAIMS_BUDGET_BYTES) };
    expect(() => mergeClaims(bloated, { tid: "t", roles: ["owner"] })).toThrow(AppError);
    try {
      mergeClaims(bloated, { tid: "t", roles: ["owner"] });
    } catch (error) {
      expect((error as AppError).code).toBe("failed-precondition");
      expect((error as AppError).details.reason).toBe("claims-too-large");
    }
  });
});
