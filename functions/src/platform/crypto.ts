/**
 * Encryption at rest for small secrets (TOTP seeds, webhook endpoint secrets) and keyed
 * derivations, all from the `DATA_ENCRYPTION_KEY` secret.
 *
 * The secret is a keyring: either one base64 key of 32 bytes (key id "1"), or a comma-separated
 * list `id:base64Key,…` whose first entry is the primary. New ciphertexts use the primary; any
 * listed key decrypts. To rotate: prepend a new key, and drop the old one once no ciphertext
 * uses it (`needsReencryption` tells; nothing re-encrypts stored ciphertext yet).
 *
 * Ciphertext format (ASCII, safe to store in Firestore): `enc1.<keyId>.<iv>.<ciphertext+tag>`,
 * with base64url parts. AES-256-GCM, 96-bit random IV, 128-bit tag. Callers pass associated
 * data (e.g. the document path) so a ciphertext copied to another document fails to decrypt.
 *
 * Functions that call anything here must bind the secret: `options: { secrets: [secrets.dataEncryptionKey] }`.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";
import { secrets } from "./config";
import { ConfigError } from "./errors";

const FORMAT = "enc1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** Decoded encryption keys: the primary id and every key by id. */
export interface Keyring {
  readonly primary: string;
  readonly keys: ReadonlyMap<string, Buffer>;
}

/** Thrown when a ciphertext is malformed, tampered with, or made with an unknown key. */
export class DecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecryptionError";
  }
}

function decodeKey(id: string, b64: string): Buffer {
  const key = Buffer.from(b64.trim(), "base64");
  if (key.length !== 32) throw new ConfigError(`DATA_ENCRYPTION_KEY key "${id}" must be 32 bytes of base64`);
  return key;
}

/** Parses the secret's value: `base64Key` or `id:base64Key,id:base64Key,…` (first is primary). */
export function parseKeyring(raw: string): Keyring {
  const entries = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new ConfigError("DATA_ENCRYPTION_KEY is empty");
  const keys = new Map<string, Buffer>();
  let primary = "";
  for (const entry of entries) {
    const colon = entry.indexOf(":");
    const [id, b64] =
      colon < 0 && entries.length === 1 ? ["1", entry] : [entry.slice(0, colon), entry.slice(colon + 1)];
    if (colon < 0 && entries.length > 1) throw new ConfigError("DATA_ENCRYPTION_KEY keyring entries must be id:key");
    if (!KEY_ID.test(id)) throw new ConfigError(`DATA_ENCRYPTION_KEY key id "${id}" must be 1-32 of [A-Za-z0-9_-]`);
    if (keys.has(id)) throw new ConfigError(`DATA_ENCRYPTION_KEY key id "${id}" appears twice`);
    keys.set(id, decodeKey(id, b64));
    primary ||= id;
  }
  return { primary, keys };
}

let cached: { raw: string; ring: Keyring } | undefined;

/** The instance keyring from the bound secret, parsed once per distinct value. */
export function keyring(): Keyring {
  const raw = secrets.dataEncryptionKey.value();
  if (!raw) throw new ConfigError("DATA_ENCRYPTION_KEY is not bound to this function");
  if (cached?.raw !== raw) cached = { raw, ring: parseKeyring(raw) };
  return cached.ring;
}

export interface CryptoOptions {
  /** Associated data bound into the tag, e.g. the document path and field. */
  aad?: string;
  /** A keyring other than the instance one (tests, rotation tools). */
  keyring?: Keyring;
}

/** Encrypts `plaintext` with the primary key; returns the versioned ciphertext string. */
export function encrypt(plaintext: string | Buffer, options: CryptoOptions = {}): string {
  const ring = options.keyring ?? keyring();
  const key = ring.keys.get(ring.primary) as Buffer;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  if (options.aad !== undefined) cipher.setAAD(Buffer.from(options.aad, "utf8"));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return [FORMAT, ring.primary, iv.toString("base64url"), body.toString("base64url")].join(".");
}

/** Decrypts a ciphertext made by `encrypt` (with the same `aad`); throws `DecryptionError` otherwise. */
export function decrypt(ciphertext: string, options: CryptoOptions = {}): Buffer {
  const parts = typeof ciphertext === "string" ? ciphertext.split(".") : [];
  if (parts.length !== 4 || parts[0] !== FORMAT) throw new DecryptionError("Not a ciphertext of a known format");
  const [, keyId, ivPart, bodyPart] = parts;
  const key = (options.keyring ?? keyring()).keys.get(keyId);
  if (!key) throw new DecryptionError(`No key "${keyId}" in the keyring`);
  const iv = Buffer.from(ivPart, "base64url");
  const body = Buffer.from(bodyPart, "base64url");
  if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw new DecryptionError("Malformed ciphertext");
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
    if (options.aad !== undefined) decipher.setAAD(Buffer.from(options.aad, "utf8"));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new DecryptionError("Ciphertext failed authentication");
  }
}

/** `decrypt` as a UTF-8 string. */
export function decryptString(ciphertext: string, options: CryptoOptions = {}): string {
  return decrypt(ciphertext, options).toString("utf8");
}

/** True when `ciphertext` was made with a key other than the primary (re-encrypt it on next write). */
export function needsReencryption(ciphertext: string, ring: Keyring = keyring()): boolean {
  return ciphertext.split(".")[1] !== ring.primary;
}

/**
 * A 32-byte subkey for one purpose (HKDF-SHA256), so the data key is never used directly for
 * two different primitives. `keyId` selects a non-primary key (values derived before a rotation).
 */
export function deriveKey(
  purpose: string,
  options: { keyId?: string; keyring?: Keyring } = {},
): {
  keyId: string;
  key: Buffer;
} {
  const ring = options.keyring ?? keyring();
  const keyId = options.keyId ?? ring.primary;
  const master = ring.keys.get(keyId);
  if (!master) throw new DecryptionError(`No key "${keyId}" in the keyring`);
  return { keyId, key: Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), `saas-core/${purpose}`, 32)) };
}

/** HMAC-SHA256 of `message` under `key`, base64url. */
export function hmac(key: Buffer, message: string): string {
  return createHmac("sha256", key).update(message, "utf8").digest("base64url");
}
