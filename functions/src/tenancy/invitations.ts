/**
 * Invitations with consent: an admin's `inviteMember` only records a pending invitation in
 * `tenants/{tid}/invitations/{id}` (no Auth account, no membership, nobody's active tenant
 * changes); the invitee, signed in with the verified email it was sent to, sees it with
 * `listMyInvitations` and accepts or declines it. Admins list and revoke pending invitations.
 *
 * Pending invitations expire after INVITATION_TTL_SECONDS (`expireAt`, also the field of the
 * Firestore TTL policy that deletes them later). Existing and new users follow one flow: a new
 * user signs up with the invited email and verifies it first.
 */
import { createHash } from "node:crypto";
import type { DocumentReference, Transaction } from "firebase-admin/firestore";
import { z } from "zod";
import { rootFirestore } from "../platform/admin";
import { callable, tenantCallable } from "../platform/callable";
import { intValue, params } from "../platform/config";
import { FieldValue, Timestamp, isoTime } from "../platform/firestore-sdk";
import { alreadyExists, failedPrecondition, notFound } from "../platform/errors";
import { log } from "../platform/logger";
import type { DecodedIdToken } from "firebase-admin/auth";
import { NoInput } from "../platform/validation";
import { parseRoleDoc } from "../rbac/effective";
import { isBuiltInRole, type RoleDefinition } from "../rbac/permissions";
import { MAX_CUSTOM_ROLES, MAX_ROLES_PER_MEMBER, planAssignment } from "../rbac/policy";
import { closure } from "../rbac/resolve";
import { TenantDb } from "./db";
import { bumpConfigVersion, evictLocal, syncClaims } from "./service";

const Email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254, "must be at most 254 characters")
  .pipe(z.string().email("must be an email address"));

const RoleName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "must be 1-64 letters, digits, '-' or '_'");

const InvitationId = z.string().regex(/^[0-9a-f]{32}$/, "must be an invitation id");

const InvitationInput = z.strictObject({ invitationId: InvitationId });

/** How many pending invitations one person sees at once. */
const MAX_LISTED = 50;

type InvitationStatus = "pending" | "accepted" | "declined" | "revoked";

/** An invitation as clients see it. */
export interface InvitationView {
  invitationId: string;
  tenantId: string;
  email: string;
  roles: string[];
  status: InvitationStatus | "expired";
  invitedBy: string;
  createdAt: string | null;
  expiresAt: string | null;
}

function view(d: FirebaseFirestore.DocumentData, now: number): InvitationView {
  const expired = d.status === "pending" && toMillis(d.expireAt) <= now;
  return {
    invitationId: String(d.invitationId),
    tenantId: String(d.tenantId),
    email: String(d.email),
    roles: Array.isArray(d.roles) ? d.roles.map(String) : [],
    status: expired ? "expired" : (d.status as InvitationStatus),
    invitedBy: String(d.invitedBy ?? ""),
    createdAt: isoTime(d.createdAt),
    expiresAt: isoTime(d.expireAt),
  };
}

const toMillis = (v: unknown): number =>
  typeof (v as { toMillis?: unknown })?.toMillis === "function" ? (v as Timestamp).toMillis() : 0;

/**
 * The caller's verified email. Only a verified address proves the invitation was sent to them:
 * anyone can sign up with someone else's address, unverified.
 */
function verifiedEmail(token: DecodedIdToken): string {
  if (typeof token.email !== "string" || token.email_verified !== true) {
    throw failedPrecondition("Verify your email address to see and answer invitations.", "email-not-verified");
  }
  return token.email.trim().toLowerCase();
}

/** Finds an invitation by id for its invitee; anyone else gets `not-found`, like an unknown id. */
async function findForInvitee(invitationId: string, email: string): Promise<DocumentReference> {
  // Filtered by email too, so nobody else's invitation is ever read.
  const snap = await rootFirestore()
    .collectionGroup("invitations")
    .where("invitationId", "==", invitationId)
    .where("email", "==", email)
    .limit(1)
    .get();
  if (snap.empty) throw notFound("Invitation not found.");
  return snap.docs[0].ref;
}

/** Reads a pending, unexpired invitation in `tx`, or throws. */
async function readPending(tx: Transaction, ref: DocumentReference, now: number) {
  const snap = await tx.get(ref);
  if (!snap.exists) throw notFound("Invitation not found.");
  const d = snap.data() as FirebaseFirestore.DocumentData;
  if (d.status !== "pending") {
    throw failedPrecondition(`This invitation was already ${String(d.status)}.`, "invitation-not-pending");
  }
  if (toMillis(d.expireAt) <= now) throw failedPrecondition("This invitation has expired.", "invitation-expired");
  return d;
}

export const inviteMember = tenantCallable(
  {
    name: "inviteMember",
    description:
      "Invites an email address to the caller's tenant with the given roles: a pending invitation the invitee accepts or declines.",
    input: z.strictObject({
      email: Email,
      roles: z
        .array(RoleName)
        .min(1, "give at least one role")
        .max(MAX_ROLES_PER_MEMBER, `at most ${MAX_ROLES_PER_MEMBER} roles`)
        .default(["member"]),
    }),
    permission: "members:invite",
  },
  async ({ data, db, uid, runTransaction }) => {
    const now = Date.now();
    // One invitation document per tenant and address: two concurrent invitations of the same
    // address contend on it, so exactly one is recorded. Knowing the id grants nothing: only the
    // verified address can answer it.
    const invitationId = createHash("sha256").update(`${db.tenantId}|${data.email}`).digest("hex").slice(0, 32);
    const ref = db.doc(`invitations/${invitationId}`);
    const expireAt = Timestamp.fromMillis(now + intValue(params.invitationTtlSeconds) * 1000);
    const roles = await runTransaction(async (tx) => {
      // Every check reads before the one write: bad input or an escalation writes nothing.
      const [tenant, customSnap, caller, members, previous] = await Promise.all([
        tx.get(db.tenantDoc()),
        tx.get(db.collection("roles").limit(MAX_CUSTOM_ROLES + 1)),
        tx.get(db.doc(`members/${uid}`)),
        tx.get(db.collection("members").where("email", "==", data.email).limit(1)),
        tx.get(ref),
      ]);
      const callerRoles = caller.get("status") === "active" ? (caller.get("roles") as string[]) : null;
      if (!tenant.exists || !callerRoles) throw notFound("Tenant not found.");
      const custom: Record<string, RoleDefinition> = {};
      for (const doc of customSnap.docs) custom[doc.id] = parseRoleDoc(doc.data());
      // Unknown roles → invalid-argument; roles granting more than the caller holds → permission-denied.
      const granted = planAssignment(custom, [], data.roles, closure(callerRoles, custom));
      if (members.docs.some((m) => m.get("status") === "active")) throw alreadyExists("This user is already a member.");
      if (previous.get("status") === "pending" && toMillis(previous.get("expireAt")) > now) {
        throw alreadyExists("An invitation to this address is already pending.");
      }
      // An answered, revoked or expired invitation to the same address is replaced.
      tx.set(ref, {
        invitationId,
        tenantId: db.tenantId,
        email: data.email,
        roles: granted,
        status: "pending",
        invitedBy: uid,
        createdAt: FieldValue.serverTimestamp(),
        expireAt,
      });
      return granted;
    });
    log.info("member invited", { invitationId, roles });
    return {
      invitationId,
      email: data.email,
      roles,
      status: "pending" as const,
      expiresAt: expireAt.toDate().toISOString(),
    };
  },
);

export const listMyInvitations = callable(
  {
    name: "listMyInvitations",
    description: "Lists the pending invitations sent to the caller's verified email address.",
    input: NoInput,
  },
  async ({ principal }) => {
    const email = verifiedEmail(principal.token);
    const now = Date.now();
    const snap = await rootFirestore()
      .collectionGroup("invitations")
      .where("email", "==", email)
      .where("status", "==", "pending")
      .limit(MAX_LISTED)
      .get();
    const invitations = snap.docs.map((d) => view(d.data(), now)).filter((i) => i.status === "pending");
    const tenants = invitations.length
      ? await rootFirestore().getAll(...invitations.map((i) => rootFirestore().doc(`tenants/${i.tenantId}`)))
      : [];
    return {
      invitations: invitations.map((i, n) => ({ ...i, tenantName: String(tenants[n]?.get("name") ?? "") })),
    };
  },
);

export const acceptInvitation = callable(
  {
    name: "acceptInvitation",
    description:
      "Accepts an invitation sent to the caller's verified email: the caller becomes a member with its roles.",
    input: InvitationInput,
  },
  async ({ data, uid, principal }) => {
    const email = verifiedEmail(principal.token);
    const ref = await findForInvitee(data.invitationId, email);
    const tid = ref.parent.parent?.id as string;
    const db = new TenantDb(tid, rootFirestore());
    const now = Date.now();
    const roles = await db.runTransaction(async (tx) => {
      const [invitation, tenant, member, customSnap] = await Promise.all([
        readPending(tx, ref, now),
        tx.get(db.tenantDoc()),
        tx.get(db.doc(`members/${uid}`)),
        tx.get(db.collection("roles").limit(MAX_CUSTOM_ROLES + 1)),
      ]);
      if (!tenant.exists) throw notFound("Invitation not found.");
      if (tenant.get("status") !== "active") {
        throw failedPrecondition("This workspace is suspended.", "tenant-suspended");
      }
      if (member.get("status") === "active") throw alreadyExists("You are already a member.");
      const roles = (invitation.roles as string[]).filter(
        (r) => isBuiltInRole(r) || customSnap.docs.some((d) => d.id === r),
      );
      // A custom role deleted since the invitation would make the membership grant nothing it said.
      if (roles.length !== invitation.roles.length) {
        throw failedPrecondition("This invitation names a role that no longer exists.", "invitation-stale");
      }
      tx.set(db.doc(`members/${uid}`), {
        roles,
        status: "active",
        email,
        invitedBy: invitation.invitedBy,
        createdAt: FieldValue.serverTimestamp(),
        updatedAt: FieldValue.serverTimestamp(),
      });
      tx.update(ref, { status: "accepted", acceptedBy: uid, respondedAt: FieldValue.serverTimestamp() });
      bumpConfigVersion(tx, tid);
      return roles;
    });
    evictLocal(tid, [uid]);
    // Consent given: the tenant becomes active only for someone who has none yet.
    const claims = await syncClaims(uid, { activateIfNone: tid });
    log.info("invitation accepted", { invitationId: data.invitationId, tenantId: tid });
    return { tenantId: tid, roles, active: claims.tid === tid };
  },
);

export const declineInvitation = callable(
  {
    name: "declineInvitation",
    description: "Declines an invitation sent to the caller's verified email.",
    input: InvitationInput,
  },
  async ({ data, principal }) => {
    const email = verifiedEmail(principal.token);
    const ref = await findForInvitee(data.invitationId, email);
    const now = Date.now();
    await rootFirestore().runTransaction(async (tx) => {
      await readPending(tx, ref, now);
      tx.update(ref, { status: "declined", respondedAt: FieldValue.serverTimestamp() });
    });
    return { invitationId: data.invitationId, status: "declined" as const };
  },
);

export const listInvitations = tenantCallable(
  {
    name: "listInvitations",
    description: "Lists the caller's tenant's pending invitations, newest first (at most 100).",
    input: NoInput,
    permission: "members:invite",
  },
  async ({ db }) => {
    const now = Date.now();
    const snap = await db.collection("invitations").where("status", "==", "pending").limit(100).get();
    const invitations = snap.docs
      .map((d) => view(d.data(), now))
      .sort((a, b) => (b.createdAt ?? "").localeCompare(a.createdAt ?? ""));
    return { invitations };
  },
);

export const revokeInvitation = tenantCallable(
  {
    name: "revokeInvitation",
    description: "Revokes a pending invitation of the caller's tenant; it can no longer be accepted.",
    input: InvitationInput,
    permission: "members:invite",
  },
  async ({ data, db, uid, runTransaction }) => {
    const ref = db.doc(`invitations/${data.invitationId}`);
    await runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      if (!snap.exists) throw notFound("Invitation not found.");
      if (snap.get("status") !== "pending") {
        throw failedPrecondition(
          `This invitation was already ${String(snap.get("status"))}.`,
          "invitation-not-pending",
        );
      }
      tx.update(ref, { status: "revoked", revokedBy: uid, respondedAt: FieldValue.serverTimestamp() });
    });
    log.info("invitation revoked", { invitationId: data.invitationId });
    return { invitationId: data.invitationId, status: "revoked" as const };
  },
);
