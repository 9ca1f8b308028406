/**
 * Tenant isolation: for every exported callable and HTTPS function, users of tenant A try to
 * reach tenant B — B's id in the input, B's document ids, path traversal in ids, claims that name
 * B, a member of A whose membership was removed (stale claims), a suspended tenant — and each
 * attempt must be refused with the expected code (or succeed without any of B's data) and, per
 * the Firestore emulator's operation log, touch no path of any tenant but the caller's own.
 *
 * The case table below is checked against the exports: a function without an entry, or one that
 * takes ids without an attack on them, fails the suite. Task-queue functions are not reachable by
 * clients (Cloud Tasks OIDC) and are left out.
 */
import { randomUUID } from "node:crypto";
import type { DecodedIdToken } from "firebase-admin/auth";
import { HttpsError } from "firebase-functions/v2/https";
import { adminAuth, rootFirestore } from "../../src/platform/admin";
import type { FunctionSpec } from "../../src/platform/spec";
import { exportedFunction, exportedFunctions, inputKeys } from "../support/exports";
import {
  callAs,
  callHttps,
  countOps,
  createTestUser,
  decode,
  refreshUser,
  seedTenant,
  type OperationLog,
  type TestUser,
} from "../support/firebase";

jest.setTimeout(300_000);

type Outcome =
  "ok" | "invalid-argument" | "not-found" | "permission-denied" | "unauthenticated" | "failed-precondition";

/** Who makes an attempt. */
type Who =
  | "ownerA" // owner of A, active tenant A
  | "staleA" // was a member of A, removed; still holds an ID token naming A
  | "claimsB" // member of A only, whose token (as if stale or tampered) names B
  | "ownerS" // owner of the suspended tenant S
  | "anon";

interface World {
  A: string;
  B: string;
  S: string;
  users: Record<Exclude<Who, "anon">, TestUser> & { ownerB: TestUser; memberB: TestUser };
  staleToken: { raw: string; decoded: DecodedIdToken };
  /** B's documents, by kind. */
  b: {
    paymentId: string;
    endpointId: string;
    deadLetterId: string;
    deliveryId: string;
    roleId: string;
    sessionId: string;
    fileId: string;
    invitationId: string;
    jobId: string;
  };
  /** A string planted in every B document: it must never come back to anyone else. */
  marker: string;
}

interface Attempt {
  label: string;
  as?: Who;
  /** Callable data, or for HTTPS the request. */
  input: (w: World) => unknown;
  expect: Outcome[];
  /** Root-level records of B's users a function may read (never write) to check ownership. */
  ownershipReads?: (w: World) => string[];
}

interface Case {
  /** An input that passes validation, used for the suspended / stale / foreign-claims attempts. */
  valid?: (w: World) => unknown;
  attacks?: Attempt[];
  /** Why the generic "tenantId in the input" attempt is not made (e.g. it is a real parameter). */
  noInjection?: string;
}

const TRAVERSALS = (w: World) => [`../${w.B}/x`, "..", "%2e%2e", "__name__", `tenants/${w.B}/x/y`, "a/../../b"];

/** Attacks on one id field: B's real id (expected `onForeign`) and traversal strings (invalid-argument). */
function idAttacks(
  field: string,
  foreign: (w: World) => string,
  onForeign: Outcome[],
  base: (w: World) => Record<string, unknown> = () => ({}),
  traversalOutcomes: Outcome[] = ["invalid-argument"],
): Attempt[] {
  const attempts: Attempt[] = [
    { label: `${field} = B's id`, input: (w) => ({ ...base(w), [field]: foreign(w) }), expect: onForeign },
  ];
  for (let i = 0; i < 6; i++) {
    attempts.push({
      label: `${field} = traversal #${i + 1}`,
      input: (w) => ({ ...base(w), [field]: TRAVERSALS(w)[i] }),
      expect: traversalOutcomes,
    });
  }
  return attempts;
}

const platformOnly = (input: (w: World) => unknown): Attempt[] => [
  { label: "a tenant owner (not a platform admin) names B", input, expect: ["permission-denied"] },
];

const webhookEndpointFns = (extra: Record<string, unknown> = {}): Case => ({
  valid: (w) => ({ endpointId: w.b.endpointId, ...extra }),
  attacks: idAttacks(
    "endpointId",
    (w) => w.b.endpointId,
    ["not-found"],
    () => extra,
  ),
});

/** The isolation case of every exported callable and HTTPS function. */
const CASES: Record<string, Case> = {
  // platform
  health: {
    attacks: [
      {
        label: "asks about B",
        input: (w) => ({ method: "GET", query: { tenantId: w.B } }),
        expect: ["ok", "invalid-argument"],
      },
    ],
    noInjection: "public HTTPS endpoint; the attack above sends B's id",
  },
  metrics: {
    attacks: [
      {
        label: "no operator token",
        as: "anon",
        input: () => ({ method: "GET" }),
        expect: ["unauthenticated", "permission-denied"],
      },
      {
        label: "a tenant user's ID token instead of the operator token",
        input: (w) => ({
          method: "GET",
          headers: { authorization: `Bearer ${w.users.ownerA.idToken}` },
          query: { tenantId: w.B },
        }),
        expect: ["unauthenticated", "permission-denied"],
      },
    ],
    noInjection: "HTTPS endpoint; covered by the attacks above",
  },
  whoami: { valid: () => ({}) },

  // tenancy
  createTenant: { valid: () => ({ name: "x" }) },
  getTenant: { valid: () => ({}) },
  updateTenant: { valid: () => ({ name: "Hijacked" }) },
  suspendTenant: { attacks: platformOnly((w) => ({ tenantId: w.B })), noInjection: "tenantId is its parameter" },
  reactivateTenant: { attacks: platformOnly((w) => ({ tenantId: w.B })), noInjection: "tenantId is its parameter" },
  setTenantPlan: {
    attacks: platformOnly((w) => ({ tenantId: w.B, plan: "enterprise" })),
    noInjection: "tenantId is its parameter",
  },
  inviteMember: {
    valid: () => ({ email: `nobody-${randomUUID().slice(0, 8)}@example.test` }),
    attacks: [
      {
        label: "grants a custom role that exists only in B",
        input: (w) => ({ email: `x-${randomUUID().slice(0, 8)}@example.test`, roles: [w.b.roleId] }),
        expect: ["invalid-argument"],
      },
    ],
  },
  listMyInvitations: { valid: () => ({}) },
  acceptInvitation: {
    attacks: idAttacks("invitationId", (w) => w.b.invitationId, ["not-found", "failed-precondition"]),
  },
  declineInvitation: {
    attacks: idAttacks("invitationId", (w) => w.b.invitationId, ["not-found", "failed-precondition"]),
  },
  listInvitations: { valid: () => ({}) },
  revokeInvitation: {
    valid: (w) => ({ invitationId: w.b.invitationId }),
    attacks: idAttacks("invitationId", (w) => w.b.invitationId, ["not-found"]),
  },
  removeMember: {
    valid: (w) => ({ uid: w.users.memberB.uid }),
    attacks: idAttacks("uid", (w) => w.users.memberB.uid, ["not-found"]),
  },
  listMembers: {
    valid: () => ({}),
    attacks: idAttacks("pageToken", (w) => w.users.memberB.uid, ["ok"]),
  },
  switchTenant: {
    noInjection: "tenantId is its parameter",
    attacks: [
      ...idAttacks("tenantId", (w) => w.B, ["not-found"]),
      { label: "into the suspended tenant S", input: (w) => ({ tenantId: w.S }), expect: ["not-found"] },
      {
        label: "back into A after removal",
        as: "staleA",
        input: (w) => ({ tenantId: w.A }),
        // Removal revoked the tokens (refused by the session stage) unless within the sign-in's second.
        expect: ["not-found", "unauthenticated"],
      },
    ],
  },

  // rbac
  listRoles: { valid: () => ({}) },
  createRole: {
    valid: () => ({ roleId: "iso-role", permissions: ["payments:read"] }),
    attacks: [
      {
        label: "inherits a role that exists only in B",
        input: (w) => ({ roleId: "iso-child", permissions: [], inherits: [w.b.roleId] }),
        expect: ["invalid-argument"],
      },
      // Creating a role in A named like B's is legitimate; only traversal ids are attacks here.
      ...idAttacks(
        "roleId",
        (w) => w.b.roleId,
        ["invalid-argument"],
        () => ({ permissions: [] }),
      ).slice(1),
    ],
  },
  updateRole: {
    valid: (w) => ({ roleId: w.b.roleId, permissions: [] }),
    attacks: idAttacks(
      "roleId",
      (w) => w.b.roleId,
      ["not-found"],
      () => ({ permissions: ["payments:read"] }),
    ),
  },
  deleteRole: {
    valid: (w) => ({ roleId: w.b.roleId }),
    attacks: idAttacks("roleId", (w) => w.b.roleId, ["not-found"]),
  },
  assignRoles: {
    valid: (w) => ({ uid: w.users.memberB.uid, roles: ["viewer"] }),
    attacks: [
      ...idAttacks(
        "uid",
        (w) => w.users.memberB.uid,
        ["not-found"],
        () => ({ roles: ["viewer"] }),
      ),
      {
        label: "assigns a custom role that exists only in B",
        input: (w) => ({ uid: w.users.claimsB.uid, roles: [w.b.roleId] }),
        expect: ["invalid-argument"],
      },
    ],
  },

  // sessions and MFA: the caller's own records only
  startSession: { valid: () => ({}) },
  refreshSession: {
    attacks: [
      {
        label: "a forged refresh token",
        as: "anon",
        input: () => ({ refreshToken: `rt_${randomUUID()}` }),
        expect: ["unauthenticated", "invalid-argument", "permission-denied", "not-found"],
      },
    ],
  },
  listSessions: { valid: () => ({}) },
  revokeSession: {
    attacks: [
      {
        label: "B's session id",
        input: (w) => ({ sessionId: w.b.sessionId }),
        expect: ["not-found"],
        ownershipReads: (w) => [`sessions/${w.b.sessionId}`],
      },
      ...idAttacks("sessionId", () => "0".repeat(32), ["not-found"]).slice(1),
    ],
  },
  revokeAllSessions: { valid: () => ({}) },
  enrollMfa: { valid: () => ({}) },
  confirmMfa: { valid: () => ({ code: "123456" }) },
  verifyMfa: { valid: () => ({}) },
  getMfaStatus: { valid: () => ({}) },
  regenerateRecoveryCodes: { valid: () => ({}) },
  disableMfa: { valid: () => ({}) },
  setTenantMfaPolicy: { valid: () => ({ requiredRoles: [] }) },

  // payments
  createPayment: { valid: () => ({ amount: 100, currency: "usd" }) },
  getPayment: {
    valid: (w) => ({ paymentId: w.b.paymentId }),
    attacks: idAttacks("paymentId", (w) => w.b.paymentId, ["not-found"]),
  },
  listPayments: { valid: () => ({}), attacks: idAttacks("after", (w) => w.b.paymentId, ["ok"]) },
  paymentWebhook: {
    noInjection: "server-to-server endpoint; the attack sends B's id in a forged event",
    attacks: [
      {
        label: "an unsigned event routed to B",
        as: "anon",
        input: (w) => ({
          method: "POST",
          headers: { "stripe-signature": `t=${Math.floor(Date.now() / 1000)},v1=${"0".repeat(64)}` },
          body: {
            id: `evt_${randomUUID().slice(0, 8)}`,
            type: "payment_intent.succeeded",
            data: { object: { id: "pi_x", metadata: { tenantId: w.B, paymentId: w.b.paymentId } } },
          },
        }),
        expect: ["unauthenticated", "invalid-argument", "permission-denied"],
      },
    ],
  },

  // webhooks
  createWebhookEndpoint: { valid: () => ({ url: "https://example.com/hook", eventTypes: ["payment.succeeded"] }) },
  deleteWebhookEndpoint: webhookEndpointFns(),
  rotateWebhookEndpointSecret: webhookEndpointFns(),
  sendTestWebhook: webhookEndpointFns(),
  setWebhookEndpointStatus: webhookEndpointFns({ status: "disabled" }),
  updateWebhookEndpoint: webhookEndpointFns({ url: "https://example.com/other" }),
  listWebhookEndpoints: { valid: () => ({}) },
  listWebhookDeliveries: {
    valid: () => ({}),
    attacks: [
      ...idAttacks("endpointId", (w) => w.b.endpointId, ["not-found", "ok"]),
      // Delivery cursors have their own format: B's raw id is either refused or finds nothing.
      ...idAttacks(
        "after",
        (w) => w.b.deliveryId,
        ["ok", "invalid-argument"],
        () => ({}),
        ["invalid-argument", "ok"],
      ),
    ],
  },
  listDeadLetters: {
    valid: () => ({}),
    attacks: idAttacks(
      "after",
      (w) => w.b.deadLetterId,
      ["ok"],
      () => ({}),
      ["invalid-argument", "ok"],
    ),
  },
  replayDeadLetters: {
    valid: (w) => ({ ids: [w.b.deadLetterId] }),
    attacks: [
      { label: "ids = B's dead letter", input: (w) => ({ ids: [w.b.deadLetterId] }), expect: ["ok", "not-found"] },
      ...TRAVERSALS_AS_IDS(),
    ],
  },
  adminListDeadLetters: {
    attacks: platformOnly((w) => ({ tenantId: w.B, after: w.b.deadLetterId })),
    noInjection: "tenantId is its parameter",
  },
  adminReplayDeadLetters: {
    attacks: platformOnly((w) => ({ tenantId: w.B, ids: [w.b.deadLetterId] })),
    noInjection: "tenantId is its parameter",
  },

  // jobs: plain callables that resolve the caller's tenant themselves (or a platform admin's
  // named tenant), so the tenant attempts are spelled out here
  enqueueJob: jobsCase(
    () => ({ type: "example.steps", input: { steps: 1 } }),
    [
      {
        label: "a job type name that is a prototype key",
        input: () => ({ type: "__proto__" }),
        expect: ["invalid-argument"],
      },
    ],
  ),
  getJob: jobsCase(
    (w) => ({ jobId: w.b.jobId }),
    idAttacks("jobId", (w) => w.b.jobId, ["not-found"]),
  ),
  listJobs: jobsCase(
    () => ({}),
    idAttacks("after", (w) => w.b.jobId, ["ok"]),
  ),
  cancelJob: jobsCase(
    (w) => ({ jobId: w.b.jobId }),
    idAttacks("jobId", (w) => w.b.jobId, ["not-found"]),
  ),
  retryJob: jobsCase(
    (w) => ({ jobId: w.b.jobId }),
    idAttacks("jobId", (w) => w.b.jobId, ["not-found"]),
  ),

  // storage
  getUploadUrl: {
    valid: () => ({ contentType: "image/png", size: 10 }),
    attacks: [
      ...[
        (w: World) => `../${w.B}/x.png`,
        (w: World) => `../../tenants/${w.B}/x.png`,
        () => "a/../../x.png",
        () => "%2e%2e/x.png",
      ].map((name, i): Attempt => ({
        label: `name escapes the tenant prefix #${i + 1}`,
        input: (w) => ({ contentType: "image/png", size: 10, name: name(w) }),
        expect: ["invalid-argument"],
      })),
    ],
  },
  getDownloadUrl: {
    valid: (w) => ({ fileId: w.b.fileId }),
    attacks: idAttacks("fileId", (w) => w.b.fileId, ["not-found"]),
  },
  getFile: {
    valid: (w) => ({ fileId: w.b.fileId }),
    attacks: idAttacks("fileId", (w) => w.b.fileId, ["not-found"]),
  },
  listFiles: {
    valid: () => ({}),
    // B's file id as a cursor is looked up in A, finds nothing and is ignored.
    attacks: idAttacks("after", (w) => w.b.fileId, ["ok"]),
  },
  updateFile: {
    valid: (w) => ({ fileId: w.b.fileId, tags: ["x"] }),
    attacks: [
      ...idAttacks(
        "fileId",
        (w) => w.b.fileId,
        ["not-found"],
        () => ({ tags: ["x"] }),
      ),
      // A name is a label, never a path: traversal is refused, anything else is a rename in A.
      ...idAttacks(
        "name",
        (w) => `tenants/${w.B}/files/${w.b.fileId}`,
        ["not-found"],
        (w) => ({ fileId: w.b.fileId }),
        ["invalid-argument", "not-found"],
      ),
    ],
  },
  deleteFile: {
    valid: (w) => ({ fileId: w.b.fileId }),
    attacks: idAttacks("fileId", (w) => w.b.fileId, ["not-found"]),
  },
};

/** A jobs callable: its own attacks, the tenant attempts, and `tenantId` (platform admins only). */
function jobsCase(valid: (w: World) => Record<string, unknown>, attacks: Attempt[]): Case {
  return {
    noInjection: "tenantId is its parameter (platform admins only); the attacks below send B's",
    attacks: [
      ...attacks,
      {
        label: "a tenant owner names B as tenantId",
        input: (w) => ({ ...valid(w), tenantId: w.B }),
        expect: ["permission-denied"],
      },
      { label: "member of the suspended tenant", as: "ownerS", input: valid, expect: ["permission-denied"] },
      // Revocation (removal revoked the refresh tokens) or the membership check refuses: see attemptsFor.
      {
        label: "removed member with stale claims",
        as: "staleA",
        input: valid,
        expect: ["not-found", "unauthenticated"],
      },
      { label: "token names B, caller is not B's member", as: "claimsB", input: valid, expect: ["not-found"] },
      { label: "anonymous", as: "anon", input: valid, expect: ["unauthenticated"] },
    ],
  };
}

function TRAVERSALS_AS_IDS(): Attempt[] {
  return [0, 1, 2, 3, 4, 5].map((i) => ({
    label: `ids = traversal #${i + 1}`,
    input: (w: World) => ({ ids: [TRAVERSALS(w)[i]] }),
    expect: ["invalid-argument", "ok", "not-found"] as Outcome[],
  }));
}

const functions = exportedFunctions();

const ID_FIELD = /(^|[a-z])(Id|Ids|ids|uid|path|after|pageToken|name)$/;

/** The attempts made against one function: its own attacks plus the generic ones its spec calls for. */
function attemptsFor(name: string, spec: FunctionSpec): Attempt[] {
  const c = CASES[name];
  const attempts = [...(c.attacks ?? [])];
  if (c.valid) {
    const valid = c.valid;
    if (spec.tenant) {
      attempts.push(
        { label: "member of the suspended tenant", as: "ownerS", input: valid, expect: ["permission-denied"] },
        {
          label: "removed member with stale claims",
          as: "staleA",
          input: valid,
          // Every function checks revocation first (removal revoked the refresh tokens); within
          // the same second as the sign-in it does not show, and the membership check refuses.
          expect: ["not-found", "unauthenticated"],
        },
        { label: "token names B, caller is not B's member", as: "claimsB", input: valid, expect: ["not-found"] },
      );
    }
    if (!c.noInjection) {
      attempts.push({
        label: "B's tenant id added to the input",
        input: (w) => {
          const data = valid(w);
          return { ...(typeof data === "object" && data !== null ? data : {}), tenantId: w.B, tid: w.B };
        },
        // Refused by a strict schema; a function that ignores it must still touch only A.
        expect: ["invalid-argument", "ok", "not-found", "failed-precondition", "permission-denied"],
      });
    }
  }
  return attempts;
}

function outcomeOf(error: unknown): Outcome | string {
  if (error instanceof HttpsError) return error.code;
  return `thrown ${String(error)}`;
}

function httpOutcome(status: number, body: unknown): Outcome | string {
  if (status < 300) return "ok";
  const code = (body as { code?: string } | undefined)?.code;
  return code ?? `status ${status}`;
}

const tenantOf = (who: Who, w: World): string | undefined =>
  ({ ownerA: w.A, staleA: w.A, claimsB: w.A, ownerS: w.S, anon: undefined })[who];

/** Op-log entries that reach outside the caller's tenant: another suite tenant, or B's users' records. */
function escapes(ops: OperationLog, who: Who, w: World, allowedReads: string[]): string[] {
  const own = tenantOf(who, w);
  // Resolving a tenant named by the token or the input reads that tenant's document and the
  // caller's own membership in it: that is the check that refuses the call, and nothing more.
  const callerUid = who === "anon" ? undefined : w.users[who].uid;
  const membershipCheck = (path: string) =>
    [w.B, w.S, w.A].some((t) => path === `tenants/${t}` || (callerUid && path === `tenants/${t}/members/${callerUid}`));
  const foreignTenants = [w.A, w.B, w.S].filter((t) => t !== own);
  const foreignIds = [w.users.ownerB.uid, w.users.memberB.uid, w.b.sessionId];
  return ops.log
    .filter((e) => {
      const inForeignTenant = foreignTenants.some(
        (t) => e.path === `tenants/${t}` || e.path.startsWith(`tenants/${t}/`),
      );
      const ownedByB = !e.path.startsWith("tenants/") && foreignIds.some((id) => e.path.split("/").includes(id));
      if (inForeignTenant) return !(e.kind === "read" && membershipCheck(e.path));
      if (ownedByB) return e.kind !== "read" || !allowedReads.includes(e.path);
      return false;
    })
    .map((e) => `${e.kind} ${e.path} (${e.method})`);
}

describe("tenant isolation across every exported function", () => {
  let w: World;

  beforeAll(async () => {
    const [ownerA, staleA, claimsB, ownerS, ownerB, memberB] = await Promise.all(
      Array.from({ length: 6 }, () => createTestUser()),
    );
    const marker = `B-SECRET-${randomUUID()}`;
    const A = await seedTenant({
      ownerA: { user: ownerA, roles: ["owner"] },
      staleA: { user: staleA, roles: ["admin"] },
      claimsB: { user: claimsB, roles: ["member"] },
    });
    const B = await seedTenant(
      { ownerB: { user: ownerB, roles: ["owner"] }, memberB: { user: memberB, roles: ["member"] } },
      { name: marker },
    );
    const S = await seedTenant({ ownerS: { user: ownerS, roles: ["owner"] } }, { status: "suspended" });

    // B's data, written directly: ids the attacks aim at, each holding the marker.
    const db = rootFirestore();
    const b = {
      paymentId: `pay${randomUUID().slice(0, 8)}`,
      endpointId: `ep${randomUUID().slice(0, 8)}`,
      deadLetterId: `dl${randomUUID().slice(0, 8)}`,
      deliveryId: `dv${randomUUID().slice(0, 8)}`,
      roleId: `b-secret-${randomUUID().slice(0, 6)}`,
      sessionId: "",
      fileId: randomUUID().replace(/-/g, ""),
      invitationId: randomUUID().replace(/-/g, ""),
      jobId: `job${randomUUID().slice(0, 8)}`,
    };
    const now = new Date();
    await Promise.all([
      db
        .doc(`tenants/${B}/payments/${b.paymentId}`)
        .set({ amount: 4200, currency: "usd", status: "pending", description: marker, createdAt: now, updatedAt: now }),
      db.doc(`tenants/${B}/webhookEndpoints/${b.endpointId}`).set({
        url: `https://b.example.com/${marker}`,
        eventTypes: ["*"],
        status: "active",
        description: marker,
        createdAt: now,
        updatedAt: now,
      }),
      db.doc(`tenants/${B}/deadLetters/${b.deadLetterId}`).set({
        source: "webhook",
        status: "open",
        payload: { marker },
        lastError: marker,
        attempts: 8,
        createdAt: now,
        updatedAt: now,
      }),
      db
        .doc(`tenants/${B}/webhookDeliveries/${b.deliveryId}`)
        .set({ endpointId: b.endpointId, eventId: marker, status: "delivered", attempts: [], createdAt: now }),
      db.doc(`tenants/${B}/invitations/${b.invitationId}`).set({
        invitationId: b.invitationId,
        tenantId: B,
        email: memberB.email,
        roles: ["member"],
        status: "pending",
        invitedBy: ownerB.uid,
        note: marker,
        createdAt: now,
        expireAt: new Date(Date.now() + 86_400_000),
      }),
      db
        .doc(`tenants/${B}/roles/${b.roleId}`)
        .set({ permissions: ["payments:read"], inherits: [], description: marker }),
      db.doc(`tenants/${B}/files/${b.fileId}`).set({
        name: "secret.pdf",
        contentType: "application/pdf",
        size: 10,
        status: "ready",
        tags: [marker],
        uploadedBy: memberB.uid,
        objectPath: `tenants/${B}/files/${b.fileId}`,
        createdAt: now,
        updatedAt: now,
      }),
      db.doc(`tenants/${B}/jobs/${b.jobId}`).set({
        type: "example.steps",
        status: "failed",
        input: { marker },
        createdBy: ownerB.uid,
        createdAt: now,
        updatedAt: now,
      }),
    ]);

    // B's owner has a session (a root-level record keyed by a random id).
    const started = (await callAs(exportedFunction("startSession"), ownerB, {})) as Record<string, unknown>;
    const sessions = await db.collection("sessions").where("uid", "==", ownerB.uid).get();
    b.sessionId = sessions.docs[0]?.id ?? String(started.sessionId ?? "");

    // A member removed from A keeps an ID token naming A; decode it before revocation (the Auth
    // emulator refuses revoked tokens outright, deployed callables do not check revocation).
    const staleToken = { raw: staleA.idToken, decoded: await decode(staleA.idToken) };
    await callAs(exportedFunction("removeMember"), ownerA, { uid: staleA.uid });

    // A member of A whose claims name B (stale or tampered claims).
    await adminAuth().setCustomUserClaims(claimsB.uid, { tid: B, roles: ["owner"] });
    await refreshUser(claimsB);

    w = { A, B, S, users: { ownerA, staleA, claimsB, ownerS, ownerB, memberB }, staleToken, b, marker };
  });

  it("has an isolation case for every exported callable and HTTPS function", () => {
    const names = functions.map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(["getTenant", "switchTenant", "health"]));
    expect(names.filter((n) => !CASES[n])).toEqual([]);
    // Cases for functions that no longer exist would silently test nothing.
    expect(Object.keys(CASES).filter((n) => !names.includes(n))).toEqual([]);
  });

  it("attacks every id a function takes, and runs the tenant attempts for every tenant function", () => {
    const gaps: string[] = [];
    for (const { name, spec } of functions) {
      const c = CASES[name];
      if (!c) continue;
      const attempted = new Set(attemptsFor(name, spec).flatMap((a) => Object.keys(safeInput(a, name))));
      for (const key of inputKeys(spec).filter((k) => ID_FIELD.test(k))) {
        if (!attempted.has(key) && !(name.endsWith("Tenant") && key === "name")) gaps.push(`${name}.${key}`);
      }
      if (spec.tenant && !c.valid) gaps.push(`${name}: tenant function without a valid input`);
      if (!spec.tenant && !c.valid && !(c.attacks?.length ?? 0)) gaps.push(`${name}: no attempt at all`);
    }
    expect(gaps).toEqual([]);
  });

  /** Builds the input of an attempt against a placeholder world, only to see which keys it sets. */
  function safeInput(a: Attempt, _name: string): Record<string, unknown> {
    const user = { uid: "u", email: "e", idToken: "t" } as TestUser;
    const fake: World = {
      A: "a",
      B: "b",
      S: "s",
      users: { ownerA: user, staleA: user, claimsB: user, ownerS: user, ownerB: user, memberB: user },
      staleToken: { raw: "t", decoded: {} as DecodedIdToken },
      b: {
        paymentId: "p",
        endpointId: "e",
        deadLetterId: "d",
        deliveryId: "v",
        roleId: "r",
        sessionId: "s",
        fileId: "f",
        invitationId: "i",
        jobId: "j",
      },
      marker: "m",
    };
    const data = a.input(fake);
    const record = typeof data === "object" && data !== null ? (data as Record<string, unknown>) : {};
    return { ...record, ...((record.body as object) ?? {}), ...((record.query as object) ?? {}) };
  }

  it("has a checker that flags foreign paths and a log that records the attempts", async () => {
    const entry = (kind: "read" | "write" | "delete", path: string) => ({
      seq: 1,
      kind,
      path,
      method: "x",
      transaction: false,
    });
    const log = (entries: OperationLog["log"]): OperationLog => ({ reads: 0, writes: 0, deletes: 0, log: entries });
    expect(escapes(log([entry("read", `tenants/${w.B}/payments/${w.b.paymentId}`)]), "ownerA", w, [])).toHaveLength(1);
    expect(
      escapes(log([entry("write", `sessions/${w.b.sessionId}`)]), "ownerA", w, [`sessions/${w.b.sessionId}`]),
    ).toHaveLength(1);
    expect(escapes(log([entry("read", `sessions/${w.b.sessionId}`)]), "ownerA", w, [])).toHaveLength(1);
    expect(escapes(log([entry("read", `tenants/${w.A}/payments/x`)]), "ownerA", w, [])).toEqual([]);
    expect(escapes(log([entry("read", `tenants/${w.B}/members/${w.users.claimsB.uid}`)]), "claimsB", w, [])).toEqual(
      [],
    );
    expect(
      escapes(log([entry("read", `tenants/${w.B}/members/${w.users.memberB.uid}`)]), "claimsB", w, []),
    ).toHaveLength(1);

    // A forged id is looked up inside the caller's tenant, and the log sees that read.
    const { ops } = await countOps(() =>
      expect(
        callAs(exportedFunction("getPayment"), w.users.ownerA, { paymentId: w.b.paymentId }),
      ).rejects.toBeInstanceOf(HttpsError),
    );
    expect(ops.log.map((e) => e.path)).toContain(`tenants/${w.A}/payments/${w.b.paymentId}`);
  });

  const table = functions.flatMap(({ name, fn, spec }) =>
    CASES[name]
      ? attemptsFor(name, spec).map((a) => [`${name}: ${a.label}`, { name, fn, spec, attempt: a }] as const)
      : [],
  );

  it.each(table)("%s", async (_title, { fn, spec, attempt }) => {
    const who = attempt.as ?? "ownerA";
    const input = attempt.input(w);
    const { result, ops } = await countOps(async () => {
      if (spec.kind === "https") {
        const req = input as {
          method?: string;
          headers?: Record<string, string>;
          body?: unknown;
          query?: Record<string, string>;
        };
        const headers = { ...(req.headers ?? {}) };
        if (who !== "anon" && !headers.authorization) headers.authorization = `Bearer ${w.users[who].idToken}`;
        const res = await callHttps(fn as never, { ...req, headers });
        return { outcome: httpOutcome(res.status, res.body), value: res.body };
      }
      try {
        const value =
          who === "staleA"
            ? await (fn as { run(r: unknown): Promise<unknown> }).run({
                data: input,
                auth: { uid: w.users.staleA.uid, token: w.staleToken.decoded, rawToken: w.staleToken.raw },
                rawRequest: {
                  headers: { authorization: `Bearer ${w.staleToken.raw}` },
                  method: "POST",
                  body: { data: input },
                },
                acceptsStreaming: false,
              })
            : await callAs(fn as never, who === "anon" ? null : w.users[who], input);
        return { outcome: "ok" as const, value };
      } catch (error) {
        return { outcome: outcomeOf(error), value: undefined };
      }
    });

    expect(attempt.expect).toContain(result.outcome);
    expect(escapes(ops, who, w, attempt.ownershipReads?.(w) ?? [])).toEqual([]);
    // Nothing of B comes back, beyond what the attacker sent themselves.
    const sent = JSON.stringify(input);
    const leaked = [w.marker, w.users.ownerB.uid, w.users.memberB.uid, w.users.ownerB.email, w.b.sessionId].filter(
      (secret) => secret && !sent.includes(secret) && JSON.stringify(result.value ?? null).includes(secret),
    );
    expect(leaked).toEqual([]);
  });

  it("left B's data exactly as it was", async () => {
    const db = rootFirestore();
    const payment = await db.doc(`tenants/${w.B}/payments/${w.b.paymentId}`).get();
    const endpoint = await db.doc(`tenants/${w.B}/webhookEndpoints/${w.b.endpointId}`).get();
    const role = await db.doc(`tenants/${w.B}/roles/${w.b.roleId}`).get();
    const tenant = await db.doc(`tenants/${w.B}`).get();
    const members = await db.collection(`tenants/${w.B}/members`).get();
    const file = await db.doc(`tenants/${w.B}/files/${w.b.fileId}`).get();
    expect(file.data()).toMatchObject({ name: "secret.pdf", status: "ready", tags: [w.marker] });
    expect(payment.get("description")).toBe(w.marker);
    expect(endpoint.get("status")).toBe("active");
    expect(role.exists).toBe(true);
    expect(tenant.get("status")).toBe("active");
    expect(tenant.get("configVersion")).toBe(1);
    expect(members.docs.map((d) => d.id).sort()).toEqual([w.users.ownerB.uid, w.users.memberB.uid].sort());
  });
});
