import { randomBytes } from "node:crypto";
import {
  DecryptionError,
  decrypt,
  decryptString,
  deriveKey,
  encrypt,
  keyring,
  needsReencryption,
  parseKeyring,
} from "../../src/platform/crypto";
import { ConfigError } from "../../src/platform/errors";

const k1 = randomBytes(32).toString("base64");
const k2 = randomBytes(32).toString("base64");

describe("AES-256-GCM encryption at rest", () => {
  const ring = parseKeyring(k1);

  it("round-trips and never contains the plaintext", () => {
    const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    const c = encrypt(secret, { keyring: ring, aad: "users/u1/private/mfa" });
    expect(c.startsWith("enc1.1.")).toBe(true);
    expect(c).not.toContain(secret);
    expect(c).not.toContain(Buffer.from(secret).toString("base64url"));
    expect(decryptString(c, { keyring: ring, aad: "users/u1/private/mfa" })).toBe(secret);
  });

  it("uses a fresh IV each time", () => {
    expect(encrypt("same", { keyring: ring })).not.toBe(encrypt("same", { keyring: ring }));
  });

  it("refuses a ciphertext moved to another document (associated data)", () => {
    const c = encrypt("s", { keyring: ring, aad: "users/u1/private/mfa" });
    expect(() => decrypt(c, { keyring: ring, aad: "users/u2/private/mfa" })).toThrow(DecryptionError);
    expect(() => decrypt(c, { keyring: ring })).toThrow(DecryptionError);
  });

  it("refuses a tampered ciphertext", () => {
    const c = encrypt("attack at dawn", { keyring: ring });
    const parts = c.split(".");
    const body = Buffer.from(parts[3], "base64url");
    body[0] ^= 1;
    parts[3] = body.toString("base64url");
    expect(() => decrypt(parts.join("."), { keyring: ring })).toThrow(DecryptionError);
    expect(() => decrypt("enc1.1.abc", { keyring: ring })).toThrow(DecryptionError);
    expect(() => decrypt("plaintext", { keyring: ring })).toThrow(DecryptionError);
  });

  it("decrypts with an old key after rotation and flags the value for re-encryption", () => {
    const before = parseKeyring(`a:${k1}`);
    const c = encrypt("seed", { keyring: before });
    const rotated = parseKeyring(`b:${k2},a:${k1}`);
    expect(decryptString(c, { keyring: rotated })).toBe("seed");
    expect(needsReencryption(c, rotated)).toBe(true);
    const again = encrypt("seed", { keyring: rotated });
    expect(again.split(".")[1]).toBe("b");
    expect(needsReencryption(again, rotated)).toBe(false);
    expect(() => decrypt(again, { keyring: before })).toThrow(/No key "b"/);
  });

  it("rejects malformed keyrings", () => {
    expect(() => parseKeyring("")).toThrow(ConfigError);
    expect(() => parseKeyring(Buffer.alloc(16).toString("base64"))).toThrow(/32 bytes/);
    expect(() => parseKeyring(`a:${k1},${k2}`)).toThrow(ConfigError);
    expect(() => parseKeyring(`a:${k1},a:${k2}`)).toThrow(/twice/);
    expect(() => parseKeyring(`bad id:${k1}`)).toThrow(ConfigError);
  });

  it("reads the keyring from the DATA_ENCRYPTION_KEY secret", () => {
    const previous = process.env.DATA_ENCRYPTION_KEY;
    process.env.DATA_ENCRYPTION_KEY = k2;
    try {
      const c = encrypt("x");
      expect(decryptString(c, { keyring: parseKeyring(k2) })).toBe("x");
      expect(keyring().primary).toBe("1");
    } finally {
      if (previous === undefined) delete process.env.DATA_ENCRYPTION_KEY;
      else process.env.DATA_ENCRYPTION_KEY = previous;
    }
  });
});

describe("key derivation", () => {
  it("derives distinct, stable subkeys per purpose and key id", () => {
    const ring = parseKeyring(`b:${k2},a:${k1}`);
    const x = deriveKey("refresh-token", { keyring: ring });
    expect(x.keyId).toBe("b");
    expect(x.key).toHaveLength(32);
    expect(deriveKey("refresh-token", { keyring: ring }).key.equals(x.key)).toBe(true);
    expect(deriveKey("other", { keyring: ring }).key.equals(x.key)).toBe(false);
    expect(deriveKey("refresh-token", { keyring: ring, keyId: "a" }).key.equals(x.key)).toBe(false);
    expect(x.key.equals(ring.keys.get("b") as Buffer)).toBe(false);
  });
});
