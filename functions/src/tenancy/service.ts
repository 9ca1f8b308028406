/**
 * The tenancy service API other modules call after they change a membership or a tenant:
 *
 * - `bumpConfigVersion(tx, tid)` inside the transaction that makes the change, so every cache
 *   keyed by configVersion (effective permissions, member entries) sees a new version;
 * - `evictLocal(tid, uids)` after the commit, so this instance serves the change at once;
 * - `syncClaims(uid, …)` after the commit, so the caller's custom claims `{tid, roles}` follow.
 *
 * Claims are a convenience for clients: neither admission nor the security rules (firestore.rules,
 * storage.rules) trust their roles, all read the membership; `tid` is read only as the caller's
 * choice of tenant. Session custom tokens carry no `tid`/`roles` (sessions/service.ts), so the
 * claims set here are what every later ID token shows.
 */
import type { Auth } from "firebase-admin/auth";
import type { DocumentSnapshot, Firestore, Transaction } from "firebase-admin/firestore";
import { adminAuth, rootFirestore } from "../platform/admin";
import { FieldValue } from "../platform/firestore-sdk";
import { failedPrecondition, notFound } from "../platform/errors";
import { log } from "../platform/logger";
import { forgetUserState } from "../platform/session-guard";
import { BUILT_IN_ROLES } from "../rbac/permissions";
import { assertSafeSegment } from "./db";
import { tenantCache } from "./resolver";

/** The claims tenancy owns; every other claim (platformAdmin, sid, mfa, …) is kept as is. */
export interface TenantClaims {
  tid?: string;
  roles?: string[];
}

/** Firebase refuses custom claims over 1,000 bytes of JSON; we stay well under it. */
export const CLAIMS_LIMIT_BYTES = 1000;
/** Our own ceiling for the whole claims object, leaving room for other modules' claims. */
export const CLAIMS_BUDGET_BYTES = 600;

/** `tenants/{tid}`, after checking the id is a safe path segment. */
export function tenantPath(tid: string): string {
  assertSafeSegment(tid);
  return `tenants/${tid}`;
}

/** `tenants/{tid}/members/{uid}`, after checking both ids. */
export function memberPath(tid: string, uid: string): string {
  assertSafeSegment(uid);
  return `${tenantPath(tid)}/members/${uid}`;
}

/**
 * Increments the tenant's configVersion inside `tx`. Call it in every transaction that changes
 * the tenant, a membership or a role definition, after the transaction's reads (Firestore
 * requires reads before writes). Caches keyed by configVersion then never serve the old state
 * once they see the new version.
 */
export function bumpConfigVersion(
  tx: Transaction,
  tid: string,
  firestore: Firestore = rootFirestore(),
  /** Other tenant fields the same change sets (one update per document per transaction). */
  fields: Record<string, unknown> = {},
): void {
  tx.update(firestore.doc(tenantPath(tid)), {
    ...fields,
    configVersion: FieldValue.increment(1),
    updatedAt: FieldValue.serverTimestamp(),
  });
}

/**
 * Drops this instance's cached tenant and the given memberships. Call after the commit that
 * changed them; other instances catch up within TENANT_CACHE_TTL_SECONDS.
 */
export function evictLocal(tid: string, uids: readonly string[] = []): void {
  const cache = tenantCache();
  cache.evictTenant(tid);
  for (const uid of uids) cache.evictMember(tid, uid);
}

/**
 * Merges tenancy's claims into `existing`: other claims are kept, `tid`/`roles` are replaced
 * (or removed when `active` is null). If the result would exceed the budget, custom role names
 * are dropped from the claim (built-in roles kept): the server never reads roles from claims,
 * so this only coarsens what security rules and the client UI see.
 */
export function mergeClaims(
  existing: Record<string, unknown> | undefined,
  active: { tid: string; roles: readonly string[] } | null,
): Record<string, unknown> {
  const { tid: _tid, roles: _roles, ...others } = existing ?? {};
  if (!active) return others;
  let claims: Record<string, unknown> = { ...others, tid: active.tid, roles: [...new Set(active.roles)] };
  if (claimsBytes(claims) > CLAIMS_BUDGET_BYTES) {
    const builtIn = active.roles.filter((r) => (BUILT_IN_ROLES as readonly string[]).includes(r));
    claims = { ...others, tid: active.tid, roles: [...new Set(builtIn)] };
    log.warn("custom roles left out of claims to stay within the claims budget", { tenantId: active.tid });
  }
  if (claimsBytes(claims) > CLAIMS_BUDGET_BYTES) {
    throw failedPrecondition("This account's custom claims are too large.", "claims-too-large");
  }
  return claims;
}

/** The size Firebase counts against the 1,000-byte limit: the JSON of the claims object. */
export function claimsBytes(claims: Record<string, unknown>): number {
  return Buffer.byteLength(JSON.stringify(claims), "utf8");
}

export interface SyncClaimsOptions {
  /** Make `tid` the active tenant; the user must be an active member (else `not-found`). */
  activate?: string;
  /** Make `tid` active only if the user has no active tenant yet (e.g. after an invitation). */
  activateIfNone?: string;
  /** The user left `tid`: if it is the active tenant, clear `tid` and `roles`. */
  deactivate?: string;
}

interface SyncDeps {
  auth?: Auth;
  firestore?: Firestore;
}

function activeRoles(snap: DocumentSnapshot): string[] | null {
  const data = snap.exists ? snap.data() : undefined;
  if (!data || (data.status && data.status !== "active")) return null;
  return Array.isArray(data.roles) ? data.roles.map(String) : [];
}

/** Re-reads are bounded: each pass converges unless the membership keeps changing under us. */
const MAX_SYNC_PASSES = 3;

/**
 * Brings `uid`'s custom claims in line with their membership in the active tenant and returns
 * the tenancy claims now set. Without options it refreshes `roles` for the tenant that is
 * already active (call it after changing someone's roles).
 *
 * Claims are derived from the membership document, not from a delta, and the membership is
 * re-read after the claims are written: if it changed meanwhile (a concurrent role change or
 * removal) the claims are recomputed, so the last writer cannot leave stale roles behind.
 */
export async function syncClaims(
  uid: string,
  options: SyncClaimsOptions = {},
  deps: SyncDeps = {},
): Promise<TenantClaims> {
  const auth = deps.auth ?? adminAuth();
  const firestore = deps.firestore ?? rootFirestore();
  const user = await auth.getUser(uid);
  let existing: Record<string, unknown> = { ...(user.customClaims ?? {}) };
  const current = typeof existing.tid === "string" ? existing.tid : undefined;
  const target: string | undefined =
    options.activate ?? (current !== undefined && current !== options.deactivate ? current : options.activateIfNone);

  const ref = target === undefined ? undefined : firestore.doc(memberPath(target, uid));
  let settled = false;
  for (let pass = 0; pass < MAX_SYNC_PASSES && !settled; pass++) {
    const seen = ref ? await ref.get() : undefined;
    const roles = seen ? activeRoles(seen) : null;
    // Nothing written yet: refuse to activate a tenant the user does not belong to.
    if (pass === 0 && options.activate !== undefined && !roles) throw notFound("Tenant not found.");
    const next = mergeClaims(existing, target !== undefined && roles ? { tid: target, roles } : null);
    if (JSON.stringify(next) !== JSON.stringify(existing)) {
      await auth.setCustomUserClaims(uid, next);
      existing = next;
    }
    // If the membership moved while we wrote, go round again from the newer state.
    settled = !ref || !seen || sameMembership(seen, await ref.get());
  }
  if (!settled) log.warn("claims sync did not settle; membership kept changing", { uid });
  const result = tenantClaimsOf(existing);
  if (options.activate !== undefined && result.tid !== options.activate) throw notFound("Tenant not found.");
  return result;
}

function sameMembership(a: DocumentSnapshot, b: DocumentSnapshot): boolean {
  if (a.exists !== b.exists) return false;
  if (!a.exists) return true;
  return a.updateTime?.isEqual(b.updateTime as NonNullable<typeof b.updateTime>) ?? false;
}

function tenantClaimsOf(claims: Record<string, unknown>): TenantClaims {
  return {
    ...(typeof claims.tid === "string" ? { tid: claims.tid } : {}),
    ...(Array.isArray(claims.roles) ? { roles: claims.roles.map(String) } : {}),
  };
}

/**
 * Ends a removed member's tokens: clears `tid`/`roles` when the removed tenant was active and
 * revokes the user's refresh tokens, which also ends every app session started before it
 * (every function refuses them within SESSION_STATUS_CACHE_SECONDS). ID tokens already issued
 * keep their claims until they expire (≤ 1 h), but admission and both security rules files check
 * the membership document, so those stale claims open nothing.
 */
export async function endMembershipClaims(uid: string, tid: string, deps: SyncDeps = {}): Promise<void> {
  const auth = deps.auth ?? adminAuth();
  await syncClaims(uid, { deactivate: tid }, deps);
  await auth.revokeRefreshTokens(uid);
  forgetUserState(uid);
}
