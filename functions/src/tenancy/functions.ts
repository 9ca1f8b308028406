/**
 * Tenant and membership callables.
 *
 * Every change to a tenant or a membership is one transaction that reads what it checks, writes,
 * and bumps the tenant's configVersion; after the commit the instance evicts its cached entries
 * and brings the affected user's claims in line (`service.ts`). Claims are a convenience for
 * clients: admission and both rules files read the membership, so a claim that lags behind never
 * grants anything. Invitations are in invitations.ts.
 */
import type { Transaction } from "firebase-admin/firestore";
import { z } from "zod";
import { rootFirestore } from "../platform/admin";
import { FieldPath, FieldValue, isoTime } from "../platform/firestore-sdk";
import { callable, tenantCallable } from "../platform/callable";
import { notFound } from "../platform/errors";
import { describeError, log } from "../platform/logger";
import { DocId, NoInput, TenantId } from "../platform/validation";
import { parseRoleDoc } from "../rbac/effective";
import type { Permission, RoleDefinition } from "../rbac/permissions";
import { assertOwnerRemains, assertWithin, MAX_CUSTOM_ROLES, ownerRoleIds } from "../rbac/policy";
import { closure, type CustomRoles } from "../rbac/resolve";
import { TenantDb } from "./db";
import { resolveTenant, tenantCache, toTenant } from "./resolver";
import { bumpConfigVersion, endMembershipClaims, evictLocal, syncClaims } from "./service";
import { emitEvent } from "../webhooks/events";

const TenantName = z.string().trim().min(1, "must not be empty").max(100, "must be at most 100 characters");

/** A tenant as clients see it. */
export interface TenantView {
  id: string;
  name: string;
  status: "active" | "suspended";
  configVersion: number;
  createdAt: string | null;
  updatedAt: string | null;
}

function tenantView(tid: string, data: FirebaseFirestore.DocumentData): TenantView {
  const { id, name, status, configVersion } = toTenant(tid, data);
  return {
    id,
    name,
    status,
    configVersion,
    createdAt: isoTime(data.createdAt),
    updatedAt: isoTime(data.updatedAt),
  };
}

function activeRolesOf(data: FirebaseFirestore.DocumentData | undefined): string[] | null {
  if (!data || (data.status && data.status !== "active")) return null;
  return Array.isArray(data.roles) ? data.roles.map(String) : [];
}

interface MembershipState {
  custom: CustomRoles;
  /** The caller's permissions as of this transaction (not the possibly cached admission). */
  caller: ReadonlySet<Permission>;
}

/**
 * Reads, inside `tx`, the tenant's custom roles and the caller's current membership. A caller
 * removed since admission (the cache may lag by up to the TTL) gets the resolver's answer.
 */
async function readMembershipState(tx: Transaction, db: TenantDb, uid: string): Promise<MembershipState> {
  const [tenant, roles, caller] = await Promise.all([
    tx.get(db.tenantDoc()),
    tx.get(db.collection("roles").limit(MAX_CUSTOM_ROLES + 1)),
    tx.get(db.doc(`members/${uid}`)),
  ]);
  const callerRoles = activeRolesOf(caller.data());
  if (!tenant.exists || !callerRoles) throw notFound("Tenant not found.");
  const custom: Record<string, RoleDefinition> = {};
  for (const doc of roles.docs) custom[doc.id] = parseRoleDoc(doc.data());
  return { custom, caller: closure(callerRoles, custom) };
}

/** Active members who are owners, directly or through a custom role that inherits owner. */
async function readOwners(tx: Transaction, db: TenantDb, custom: CustomRoles) {
  const ownerIds = ownerRoleIds(custom);
  const owners = new Map<string, { uid: string; roles: string[] }>();
  // array-contains-any takes at most 30 values per query.
  for (let i = 0; i < ownerIds.length; i += 30) {
    const snap = await tx.get(db.collection("members").where("roles", "array-contains-any", ownerIds.slice(i, i + 30)));
    for (const doc of snap.docs) {
      const roles = activeRolesOf(doc.data());
      if (roles) owners.set(doc.id, { uid: doc.id, roles });
    }
  }
  return [...owners.values()];
}

export const createTenant = callable(
  {
    name: "createTenant",
    description: "Creates a tenant with the caller as its owner and makes it the caller's active tenant.",
    input: z.strictObject({ name: TenantName }),
  },
  async ({ data, uid, principal }) => {
    const firestore = rootFirestore();
    // Server-chosen ids: a client-chosen one would let anyone probe which ids exist.
    const tid = firestore.collection("tenants").doc().id;
    const db = new TenantDb(tid, firestore);
    const now = FieldValue.serverTimestamp();
    await db.runTransaction(async (tx) => {
      tx.create(db.tenantDoc(), {
        name: data.name,
        status: "active",
        configVersion: 1,
        createdAt: now,
        updatedAt: now,
        createdBy: uid,
      });
      tx.create(db.doc(`members/${uid}`), {
        roles: ["owner"],
        status: "active",
        email: typeof principal.token.email === "string" ? principal.token.email : null,
        createdAt: now,
        updatedAt: now,
      });
    });
    evictLocal(tid, [uid]);
    const claims = await syncClaims(uid, { activate: tid });
    log.info("tenant created", { tenantId: tid });
    return { tenantId: tid, name: data.name, roles: claims.roles ?? ["owner"], refreshToken: true as const };
  },
);

export const getTenant = tenantCallable(
  {
    name: "getTenant",
    description: "Returns the caller's active tenant.",
    input: NoInput,
    permission: "tenant:read",
  },
  async ({ db }) => {
    const snap = await db.tenantDoc().get();
    if (!snap.exists) throw notFound("Tenant not found.");
    return tenantView(snap.id, snap.data() ?? {});
  },
);

export const updateTenant = tenantCallable(
  {
    name: "updateTenant",
    description: "Renames the caller's active tenant (owners and admins).",
    input: z.strictObject({ name: TenantName }),
    permission: "tenant:update",
  },
  async ({ data, db, runTransaction }) => {
    const view = await runTransaction(async (tx) => {
      const snap = await tx.get(db.tenantDoc());
      if (!snap.exists) throw notFound("Tenant not found.");
      const current = tenantView(snap.id, snap.data() ?? {});
      if (current.name === data.name) return current;
      tx.update(db.tenantDoc(), { name: data.name });
      bumpConfigVersion(tx, db.tenantId);
      return { ...current, name: data.name, configVersion: current.configVersion + 1 };
    });
    evictLocal(db.tenantId);
    return view;
  },
);

const SuspendInput = z.strictObject({
  tenantId: TenantId,
  reason: z.string().trim().max(500, "must be at most 500 characters").optional(),
});

async function setTenantStatus(
  tid: string,
  status: "active" | "suspended",
  uid: string,
  reason?: string,
): Promise<TenantView> {
  const db = new TenantDb(tid, rootFirestore());
  const view = await db.runTransaction(async (tx) => {
    const snap = await tx.get(db.tenantDoc());
    if (!snap.exists) throw notFound("Tenant not found.");
    const current = tenantView(tid, snap.data() ?? {});
    if (current.status === status) return current;
    tx.update(
      db.tenantDoc(),
      status === "suspended"
        ? {
            status,
            suspendedAt: FieldValue.serverTimestamp(),
            suspendedBy: uid,
            suspensionReason: reason ?? null,
          }
        : {
            status,
            suspendedAt: FieldValue.delete(),
            suspendedBy: FieldValue.delete(),
            suspensionReason: FieldValue.delete(),
          },
    );
    bumpConfigVersion(tx, tid);
    return { ...current, status, configVersion: current.configVersion + 1 };
  });
  // Other instances may serve the previous status for up to TENANT_CACHE_TTL_SECONDS.
  evictLocal(tid);
  log.security(status === "suspended" ? "tenant-suspended" : "tenant-reactivated", { targetTenant: tid });
  return view;
}

export const suspendTenant = callable(
  {
    name: "suspendTenant",
    description: "Suspends a tenant: its members get permission-denied on every tenant function (platform admin).",
    input: SuspendInput,
    platformAdmin: true,
  },
  async ({ data, uid }) => setTenantStatus(data.tenantId, "suspended", uid, data.reason),
);

export const reactivateTenant = callable(
  {
    name: "reactivateTenant",
    description: "Reactivates a suspended tenant (platform admin).",
    input: z.strictObject({ tenantId: TenantId }),
    platformAdmin: true,
  },
  async ({ data, uid }) => setTenantStatus(data.tenantId, "active", uid),
);

export const removeMember = tenantCallable(
  {
    name: "removeMember",
    description: "Removes a member from the caller's tenant and ends the claims that named it.",
    input: z.strictObject({ uid: DocId }),
    permission: "members:remove",
  },
  async ({ data, db, uid, runTransaction }) => {
    const target = data.uid;
    const memberRef = db.doc(`members/${target}`);
    await runTransaction(async (tx) => {
      const state = await readMembershipState(tx, db, uid);
      const snap = await tx.get(memberRef);
      const roles = activeRolesOf(snap.data());
      if (!roles) throw notFound("Member not found.");
      // Nobody removes a member who holds more than they do (leaving yourself is always in reach).
      if (target !== uid) assertWithin(closure(roles, state.custom), state.caller, "Removing this member", "outranked");
      assertOwnerRemains(await readOwners(tx, db, state.custom), state.custom, { uid: target, roles: [] });
      tx.delete(memberRef);
      bumpConfigVersion(tx, db.tenantId);
    });
    evictLocal(db.tenantId, [target]);
    try {
      await endMembershipClaims(target, db.tenantId);
    } catch (error) {
      // The membership is gone, which is what admission and rules check; a claims failure must
      // not make the caller retry a removal that already happened.
      log.error("ending claims after removal failed", { member: target, ...describeError(error) });
    }
    log.info("member removed", { member: target });
    await emitEvent(db.tenantId, "member.removed", { uid: target, by: uid });
    return { uid: target, removed: true as const };
  },
);

export const listMembers = tenantCallable(
  {
    name: "listMembers",
    description: "Lists the caller's tenant's members, a page at a time, ordered by uid.",
    input: z.strictObject({
      pageSize: z.number().int().min(1).max(100).default(50),
      pageToken: DocId.optional(),
    }),
    permission: "members:read",
  },
  async ({ data, db }) => {
    let query = db.collection("members").orderBy(FieldPath.documentId()).limit(data.pageSize);
    if (data.pageToken) query = query.startAfter(data.pageToken);
    const snap = await query.get();
    const members = snap.docs.map((doc) => ({
      uid: doc.id,
      email: typeof doc.get("email") === "string" ? (doc.get("email") as string) : null,
      roles: activeRolesOf(doc.data()) ?? [],
      status: String(doc.get("status") ?? "active"),
      createdAt: isoTime(doc.get("createdAt")),
    }));
    const nextPageToken = snap.size === data.pageSize ? snap.docs[snap.size - 1].id : null;
    return { members, nextPageToken };
  },
);

export const switchTenant = callable(
  {
    name: "switchTenant",
    description:
      "Makes another tenant the caller is a member of their active one; the client then refreshes its ID token.",
    input: z.strictObject({ tenantId: TenantId }),
  },
  async ({ data, uid }) => {
    // A switch is rare and decides what the next hour of tokens says: read, never trust the cache.
    tenantCache().evictTenant(data.tenantId);
    tenantCache().evictMember(data.tenantId, uid);
    await resolveTenant(data.tenantId, uid);
    const claims = await syncClaims(uid, { activate: data.tenantId });
    return { tenantId: data.tenantId, roles: claims.roles ?? [], refreshToken: true as const };
  },
);
