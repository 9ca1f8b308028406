import { generate, verify } from "otplib";
import {
  RECOVERY_CODE_BITS,
  TOTP_PROFILE,
  findRecoveryCode,
  hashRecoveryCode,
  newRecoveryCodes,
  newTotpSecret,
  otpauthUri,
  qrCodeSvg,
  stepAt,
  totpAt,
  verifyTotp,
  type TotpProfile,
} from "../../src/mfa/totp";

// RFC 6238 Appendix B, SHA-1 rows: key is the ASCII string "12345678901234567890".
const RFC_KEY = new TextEncoder().encode("12345678901234567890");
const RFC_SHA1: [number, string][] = [
  [59, "94287082"],
  [1111111109, "07081804"],
  [1111111111, "14050471"],
  [1234567890, "89005924"],
  [2000000000, "69279037"],
  [20000000000, "65353130"],
];
const RFC_PROFILE: TotpProfile = { ...TOTP_PROFILE, digits: 8 };

describe("TOTP against the RFC 6238 Appendix B test vectors", () => {
  it.each(RFC_SHA1)("otplib itself produces the 8-digit SHA-1 value at T=%i", async (t, expected) => {
    expect(await generate({ secret: RFC_KEY, algorithm: "sha1", digits: 8, period: 30, epoch: t })).toBe(expected);
    expect((await verify({ secret: RFC_KEY, token: expected, algorithm: "sha1", digits: 8, epoch: t })).valid).toBe(
      true,
    );
  });

  it.each(RFC_SHA1)("our wrapper generates and verifies the value at T=%i", async (t, expected) => {
    expect(await totpAt(RFC_KEY, t * 1000, RFC_PROFILE)).toBe(expected);
    expect(await verifyTotp({ secret: RFC_KEY, code: expected, epochMs: t * 1000, profile: RFC_PROFILE })).toEqual({
      ok: true,
      step: Math.floor(t / 30),
    });
  });

  it.each(RFC_SHA1)("the production 6-digit profile gives the low 6 digits at T=%i", async (t, expected) => {
    expect(await totpAt(RFC_KEY, t * 1000)).toBe(expected.slice(2));
    const check = await verifyTotp({ secret: RFC_KEY, code: expected.slice(2), epochMs: t * 1000 });
    expect(check.ok).toBe(true);
  });
});

describe("TOTP verification", () => {
  const now = 1_800_000_015_000; // 15 s into a step
  let secret: string;
  beforeAll(async () => {
    secret = await newTotpSecret();
  });

  it("makes 160-bit base32 secrets", async () => {
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(await newTotpSecret()).not.toBe(secret);
  });

  it("accepts the current code and ±1 step of drift, not ±2", async () => {
    for (const drift of [-1, 0, 1]) {
      const code = await totpAt(secret, now + drift * 30_000);
      expect(await verifyTotp({ secret, code, epochMs: now })).toEqual({ ok: true, step: stepAt(now) + drift });
    }
    for (const drift of [-2, 2]) {
      const code = await totpAt(secret, now + drift * 30_000);
      expect(await verifyTotp({ secret, code, epochMs: now })).toEqual({ ok: false, reason: "invalid" });
    }
  });

  it("rejects a code whose step is not after the last accepted step (replay)", async () => {
    const code = await totpAt(secret, now);
    const first = await verifyTotp({ secret, code, epochMs: now });
    expect(first.ok).toBe(true);
    const step = (first as { step: number }).step;
    expect(await verifyTotp({ secret, code, epochMs: now + 1000, lastStep: step })).toEqual({
      ok: false,
      reason: "replayed",
    });
    // An older code still inside the drift window is a replay too.
    const older = await totpAt(secret, now - 30_000);
    expect(await verifyTotp({ secret, code: older, epochMs: now, lastStep: step })).toEqual({
      ok: false,
      reason: "replayed",
    });
    // The next step's code is accepted.
    const next = await totpAt(secret, now + 30_000);
    expect(await verifyTotp({ secret, code: next, epochMs: now + 30_000, lastStep: step })).toEqual({
      ok: true,
      step: step + 1,
    });
  });

  it("rejects malformed codes without calling into otplib", async () => {
    for (const code of ["", "12345", "1234567", "12345a", " 123456", "１２３４５６"]) {
      expect(await verifyTotp({ secret, code, epochMs: now })).toEqual({ ok: false, reason: "invalid" });
    }
  });

  it("builds an otpauth URI with the issuer and account, and a QR code SVG", async () => {
    const uri = await otpauthUri({ issuer: "SaaS Core", account: "ada@example.test", secret });
    const url = new URL(uri);
    expect(url.protocol).toBe("otpauth:");
    expect(url.host).toBe("totp");
    expect(decodeURIComponent(url.pathname)).toBe("/SaaS Core:ada@example.test");
    expect(url.searchParams.get("secret")).toBe(secret);
    expect(url.searchParams.get("issuer")).toBe("SaaS Core");
    const svg = await qrCodeSvg(uri);
    expect(svg).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain("<path");
  });
});

describe("recovery codes", () => {
  it("makes 10 distinct codes of at least 64 bits each", () => {
    const codes = newRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const c of codes) expect(c).toMatch(/^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/);
    expect(RECOVERY_CODE_BITS).toBeGreaterThanOrEqual(64);
  });

  it("finds a code by hash, tolerant of case and separators, and nothing else", () => {
    const codes = newRecoveryCodes(3);
    const hashes = codes.map(hashRecoveryCode);
    expect(hashes.join()).not.toContain(codes[1].replace(/-/g, ""));
    expect(findRecoveryCode(hashes, codes[1])).toBe(1);
    expect(findRecoveryCode(hashes, codes[2].toUpperCase().replace(/-/g, " "))).toBe(2);
    expect(findRecoveryCode(hashes, newRecoveryCodes(1)[0])).toBe(-1);
    expect(findRecoveryCode([], codes[0])).toBe(-1);
  });
});
