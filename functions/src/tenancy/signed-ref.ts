/**
 * Signed tenant references for HTTPS endpoints that are not user-facing (provider webhooks).
 * There is no ID token to read `tid` from, so the tenant travels in the URL path or a header as
 * `<tenantId>.<keyId>.<mac>`: an HMAC-SHA256 over the tenant id and a purpose, under a subkey
 * of DATA_ENCRYPTION_KEY. Only the server can mint one, so a caller cannot route a request to a
 * tenant by editing the id, and a reference minted for one purpose is refused for another.
 *
 * The key id makes rotation painless: references minted before a rotation keep verifying while
 * their key is still in the keyring.
 *
 * Functions that sign or verify must bind the secret: `options: { secrets: [secrets.dataEncryptionKey] }`.
 */
import { timingSafeEqual } from "node:crypto";
import { deriveKey, hmac, type Keyring } from "../platform/crypto";
import { notFound } from "../platform/errors";
import { DocId } from "../platform/validation";

const VERSION = "tr1";
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const PURPOSE = /^[a-z0-9][a-z0-9:_-]{0,63}$/;
/** Longest accepted reference; anything longer is refused before any hashing. */
const MAX_REF_LENGTH = 256;

export interface TenantRefOptions {
  /** What the reference is for, e.g. "webhook:payments"; part of the MAC. Default "webhook". */
  purpose?: string;
  /** A keyring other than the instance one (tests, rotation tools). */
  keyring?: Keyring;
}

function macOf(tid: string, purpose: string, keyId: string | undefined, keyring?: Keyring) {
  const derived = deriveKey("tenant-ref", { keyId, keyring });
  return { keyId: derived.keyId, mac: hmac(derived.key, `${VERSION}\n${purpose}\n${tid}`) };
}

function checkPurpose(purpose: string): string {
  if (!PURPOSE.test(purpose)) throw new Error(`Invalid tenant reference purpose ${JSON.stringify(purpose)}`);
  return purpose;
}

/** Mints the reference for `tid` (e.g. to build a provider's webhook URL). */
export function signTenantRef(tid: string, options: TenantRefOptions = {}): string {
  if (!DocId.safeParse(tid).success) throw new Error("Not a tenant id");
  const purpose = checkPurpose(options.purpose ?? "webhook");
  const { keyId, mac } = macOf(tid, purpose, undefined, options.keyring);
  return `${tid}.${keyId}.${mac}`;
}

/**
 * The tenant id a reference was minted for, or null when it is malformed, altered, minted for
 * another purpose, or signed with a key no longer in the keyring. Never throws on bad input.
 */
export function verifyTenantRef(value: unknown, options: TenantRefOptions = {}): string | null {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_REF_LENGTH) return null;
  const parts = value.split(".");
  if (parts.length !== 3) return null;
  const [tid, keyId, mac] = parts;
  if (!DocId.safeParse(tid).success || !KEY_ID.test(keyId)) return null;
  const purpose = checkPurpose(options.purpose ?? "webhook");
  let expected: string;
  try {
    expected = macOf(tid, purpose, keyId, options.keyring).mac;
  } catch {
    return null; // unknown key id
  }
  const given = Buffer.from(mac, "utf8");
  const wanted = Buffer.from(expected, "utf8");
  // Constant-time comparison; the length check only reveals the (public) MAC length.
  return given.length === wanted.length && timingSafeEqual(given, wanted) ? tid : null;
}

/** `verifyTenantRef`, throwing `not-found` (the answer for any unknown endpoint) when it fails. */
export function requireTenantRef(value: unknown, options: TenantRefOptions = {}): string {
  const tid = verifyTenantRef(value, options);
  if (!tid) throw notFound("Unknown endpoint.");
  return tid;
}

/** The header a server-to-server caller may carry the reference in. */
export const TENANT_REF_HEADER = "x-tenant-ref";

/**
 * The tenant of an HTTPS request that has no ID token: the signed reference from the
 * `X-Tenant-Ref` header, or else from the last segment of the URL path (for providers that only
 * let you configure a URL, e.g. `…/paymentWebhook/<ref>`). Throws `not-found` when neither
 * verifies. Pass the result to the admission pipeline as the tenant id.
 */
export function tenantFromRequest(
  req: { headers: Record<string, string | string[] | undefined>; path?: string },
  options: TenantRefOptions = {},
): string {
  const header = req.headers[TENANT_REF_HEADER];
  const fromHeader = Array.isArray(header) ? header[0] : header;
  const fromPath = req.path?.split("/").filter(Boolean).pop();
  return requireTenantRef(fromHeader ?? fromPath, options);
}
