import { randomBytes } from "node:crypto";
import { AppError } from "../../src/platform/errors";
import { parseKeyring } from "../../src/platform/crypto";
import {
  requireTenantRef,
  signTenantRef,
  TENANT_REF_HEADER,
  tenantFromRequest,
  verifyTenantRef,
} from "../../src/tenancy/signed-ref";

const k1 = randomBytes(32).toString("base64");
const k2 = randomBytes(32).toString("base64");
const ring = parseKeyring(k1);
const opts = { keyring: ring };

describe("signed tenant references (webhook routing)", () => {
  it("round-trips the tenant id it was minted for", () => {
    const ref = signTenantRef("acme-01", opts);
    expect(ref.startsWith("acme-01.1.")).toBe(true);
    expect(verifyTenantRef(ref, opts)).toBe("acme-01");
    expect(requireTenantRef(ref, opts)).toBe("acme-01");
  });

  it("refuses a reference whose tenant id was swapped for another tenant's", () => {
    const ref = signTenantRef("tenant-a", opts);
    const forged = ref.replace(/^tenant-a\./, "tenant-b.");
    expect(verifyTenantRef(forged, opts)).toBeNull();
    // Splicing B's id with A's MAC, or A's id with B's MAC, fails both ways.
    const refB = signTenantRef("tenant-b", opts);
    expect(verifyTenantRef(`tenant-a.1.${refB.split(".")[2]}`, opts)).toBeNull();
    expect(verifyTenantRef(`tenant-b.1.${ref.split(".")[2]}`, opts)).toBeNull();
  });

  it("refuses an altered MAC, a truncated MAC and a re-encoded MAC", () => {
    const ref = signTenantRef("tenant-a", opts);
    const [tid, keyId, mac] = ref.split(".");
    const flipped = mac.slice(0, -1) + (mac.endsWith("A") ? "B" : "A");
    expect(verifyTenantRef(`${tid}.${keyId}.${flipped}`, opts)).toBeNull();
    expect(verifyTenantRef(`${tid}.${keyId}.${mac.slice(0, 20)}`, opts)).toBeNull();
    const hex = Buffer.from(mac, "base64url").toString("hex");
    expect(verifyTenantRef(`${tid}.${keyId}.${hex}`, opts)).toBeNull();
    expect(verifyTenantRef(`${tid}.${keyId}.${mac}=`, opts)).toBeNull();
  });

  it("refuses a reference minted with another key or for another purpose", () => {
    const other = parseKeyring(k2);
    expect(verifyTenantRef(signTenantRef("tenant-a", { keyring: other }), opts)).toBeNull();
    const payments = signTenantRef("tenant-a", { ...opts, purpose: "webhook:payments" });
    expect(verifyTenantRef(payments, { ...opts, purpose: "webhook:payments" })).toBe("tenant-a");
    expect(verifyTenantRef(payments, opts)).toBeNull();
    expect(verifyTenantRef(signTenantRef("tenant-a", opts), { ...opts, purpose: "webhook:payments" })).toBeNull();
  });

  it("keeps verifying references made before a key rotation while the old key is listed", () => {
    const before = signTenantRef("tenant-a", { keyring: parseKeyring(`old:${k1}`) });
    const rotated = parseKeyring(`new:${k2},old:${k1}`);
    expect(verifyTenantRef(before, { keyring: rotated })).toBe("tenant-a");
    expect(signTenantRef("tenant-a", { keyring: rotated }).split(".")[1]).toBe("new");
    expect(verifyTenantRef(before, { keyring: parseKeyring(`new:${k2}`) })).toBeNull();
  });

  it.each([
    ["undefined", undefined],
    ["a number", 42],
    ["an empty string", ""],
    ["path traversal", "../tenant-b.1.abc"],
    ["encoded traversal", "%2e%2e.1.abc"],
    ["a reserved id", "__name__.1.abc"],
    ["too many parts", "tenant-a.1.abc.def"],
    ["too few parts", "tenant-a.abc"],
    ["an unknown key id", "tenant-a.nope.abc"],
    ["an oversized value", `tenant-a.1.${"A".repeat(10_000)}`],
    ["a slash in the id", "tenants/b.1.abc"],
  ])("refuses %s without throwing", (_label, value) => {
    expect(verifyTenantRef(value, opts)).toBeNull();
    expect(() => requireTenantRef(value, opts)).toThrow(AppError);
    try {
      requireTenantRef(value, opts);
    } catch (error) {
      expect((error as AppError).code).toBe("not-found");
    }
  });

  it("refuses to mint a reference for something that is not a tenant id", () => {
    expect(() => signTenantRef("../b", opts)).toThrow();
    expect(() => signTenantRef("a.b", opts)).toThrow();
    expect(() => signTenantRef("tenant-a", { ...opts, purpose: "Bad Purpose" })).toThrow();
  });
});

describe("tenant from an HTTPS request without an ID token", () => {
  const ref = signTenantRef("tenant-a", opts);

  it("reads the X-Tenant-Ref header, else the last path segment", () => {
    expect(tenantFromRequest({ headers: { [TENANT_REF_HEADER]: ref } }, opts)).toBe("tenant-a");
    expect(tenantFromRequest({ headers: {}, path: `/paymentWebhook/${ref}` }, opts)).toBe("tenant-a");
    expect(tenantFromRequest({ headers: {}, path: `/paymentWebhook/${ref}/` }, opts)).toBe("tenant-a");
  });

  it("prefers the header, so a path cannot override a forged header", () => {
    const forged = ref.replace("tenant-a", "tenant-b");
    expect(() => tenantFromRequest({ headers: { [TENANT_REF_HEADER]: forged }, path: `/x/${ref}` }, opts)).toThrow(
      AppError,
    );
  });

  it("refuses a request with no reference, a bare tenant id, or a traversal path", () => {
    expect(() => tenantFromRequest({ headers: {} }, opts)).toThrow(AppError);
    expect(() => tenantFromRequest({ headers: {}, path: "/paymentWebhook/tenant-a" }, opts)).toThrow(AppError);
    expect(() => tenantFromRequest({ headers: {}, path: `/paymentWebhook/${ref}/..` }, opts)).toThrow(AppError);
  });
});
