/**
 * Test helpers over the real emulators: users with real ID tokens from the Auth emulator,
 * invoking wrapped functions, and the Firestore emulator's operation log.
 */
import { randomUUID } from "node:crypto";
import functionsTest from "firebase-functions-test";
import type { DecodedIdToken } from "firebase-admin/auth";
import { HttpsError } from "firebase-functions/v2/https";
import type { CallableRequest, Request } from "firebase-functions/v2/https";
import { adminAuth, rootFirestore } from "../../src/platform/admin";
import type { HttpResult } from "../../src/platform/https";

export const projectId = (): string => process.env.GCLOUD_PROJECT as string;
const firestoreHost = (): string => process.env.FIRESTORE_EMULATOR_HOST as string;
const authHost = (): string => process.env.FIREBASE_AUTH_EMULATOR_HOST as string;

export interface OperationLog {
  reads: number;
  writes: number;
  deletes: number;
  log: { seq: number; kind: "read" | "write" | "delete"; path: string; method: string; transaction: boolean }[];
}

/** The operation counters and log for this project (scripts/lib/firestore-ops-proxy.mjs). */
export async function firestoreOps(): Promise<OperationLog> {
  const res = await fetch(`http://${firestoreHost()}/emulator/v1/projects/${projectId()}/operations`);
  if (!res.ok)
    throw new Error(`operation log unavailable (${res.status}): is the stack's Firestore operation proxy running?`);
  return (await res.json()) as OperationLog;
}

/** Resets the operation counters and log. */
export async function resetFirestoreOps(): Promise<void> {
  await fetch(`http://${firestoreHost()}/emulator/v1/projects/${projectId()}/operations`, { method: "DELETE" });
}

/** Deletes every document of this project in the Firestore emulator. */
export async function clearFirestore(): Promise<void> {
  await fetch(`http://${firestoreHost()}/emulator/v1/projects/${projectId()}/databases/(default)/documents`, {
    method: "DELETE",
  });
}

/** Counts the Firestore operations `fn` causes (reads, writes, deletes) and its log entries. */
export async function countOps<T>(fn: () => Promise<T>): Promise<{ result: T; ops: OperationLog }> {
  const before = await firestoreOps();
  const result = await fn();
  const after = await firestoreOps();
  const lastSeq = before.log.length > 0 ? before.log[before.log.length - 1].seq : -1;
  return {
    result,
    ops: {
      reads: after.reads - before.reads,
      writes: after.writes - before.writes,
      deletes: after.deletes - before.deletes,
      log: after.log.filter((e) => e.seq > lastSeq),
    },
  };
}

export interface TestUser {
  uid: string;
  email: string;
  password: string;
  idToken: string;
  refreshToken: string;
}

async function authRest<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(`http://${authHost()}/identitytoolkit.googleapis.com/v1/${path}?key=fake-api-key`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as T & { error?: { message: string } };
  if (!res.ok) throw new Error(`auth emulator ${path}: ${json.error?.message ?? res.status}`);
  return json;
}

/** Signs up a new user through the Auth emulator's REST API (a real ID token). */
export async function createTestUser(
  opts: { email?: string; claims?: Record<string, unknown> } = {},
): Promise<TestUser> {
  const email = opts.email ?? `user-${randomUUID().slice(0, 12)}@example.test`;
  const password = "correct-horse-battery";
  const signUp = await authRest<{ localId: string; idToken: string; refreshToken: string }>("accounts:signUp", {
    email,
    password,
    returnSecureToken: true,
  });
  const user: TestUser = {
    uid: signUp.localId,
    email,
    password,
    idToken: signUp.idToken,
    refreshToken: signUp.refreshToken,
  };
  if (opts.claims) {
    await adminAuth().setCustomUserClaims(user.uid, opts.claims);
    await refreshUser(user);
  }
  return user;
}

/** Signs in an existing email/password user again (fresh ID token with current claims). */
export async function refreshUser(user: TestUser): Promise<TestUser> {
  const signIn = await authRest<{ idToken: string; refreshToken: string }>("accounts:signInWithPassword", {
    email: user.email,
    password: user.password,
    returnSecureToken: true,
  });
  user.idToken = signIn.idToken;
  user.refreshToken = signIn.refreshToken;
  return user;
}

/** Exchanges a Firebase custom token for an ID token (as signInWithCustomToken does). */
export async function signInWithCustomToken(token: string): Promise<{ idToken: string; refreshToken: string }> {
  return authRest<{ idToken: string; refreshToken: string }>("accounts:signInWithCustomToken", {
    token,
    returnSecureToken: true,
  });
}

/** Verifies an ID token against the Auth emulator. */
export function decode(idToken: string): Promise<DecodedIdToken> {
  return adminAuth().verifyIdToken(idToken);
}

type Runnable<R> = { run: (request: CallableRequest) => R | Promise<R> };

const fft = functionsTest({ projectId: process.env.GCLOUD_PROJECT });

/**
 * Calls a wrapped callable in-process, as `user` (a real, verified ID token) or anonymously.
 * Rejects with the `HttpsError` a client would see.
 */
export async function callAs<R>(
  fn: Runnable<R>,
  user: TestUser | { idToken: string } | null,
  data: unknown,
): Promise<R> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  let auth: CallableRequest["auth"];
  if (user) {
    const token = await decode(user.idToken);
    auth = { uid: token.uid, token, rawToken: user.idToken };
    headers.authorization = `Bearer ${user.idToken}`;
  }
  const request = {
    data,
    auth,
    rawRequest: { headers, method: "POST", body: { data } } as unknown as Request,
    acceptsStreaming: false,
  } as CallableRequest;
  return fft.wrap(fn as never)(request as never) as Promise<R>;
}

export interface WireAnswer {
  status: number;
  body: {
    result?: unknown;
    error?: { status: string; message: string; details?: { fields?: Record<string, string[]>; [k: string]: unknown } };
  };
}

/**
 * Calls a callable through firebase-functions' own protocol handler, in-process: `rawBody` is
 * the HTTP body exactly as a client sends it (`{"data": …}`), JSON-parsed as the functions
 * framework does, then checked, token-verified and decoded by the library itself. Unlike
 * `callAs`, this sees what the wire does to keys such as `__proto__`.
 */
export async function callOverWire(
  fn: unknown,
  user: { idToken: string } | null,
  rawBody: string,
): Promise<WireAnswer> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (user) headers.authorization = `Bearer ${user.idToken}`;
  const req = {
    method: "POST",
    url: "/",
    headers,
    body: JSON.parse(rawBody) as unknown,
    rawBody: Buffer.from(rawBody),
    header: (name: string) => headers[name.toLowerCase()],
    get: (name: string) => headers[name.toLowerCase()],
  };
  return new Promise((resolve) => {
    const sent: Record<string, unknown> = {};
    const res = {
      statusCode: 200,
      headersSent: false,
      setHeader: (name: string, value: unknown) => void (sent[name.toLowerCase()] = value),
      getHeader: (name: string) => sent[name.toLowerCase()],
      removeHeader: (name: string) => void delete sent[name.toLowerCase()],
      on: () => res,
      status(code: number) {
        res.statusCode = code;
        return res;
      },
      send(body: unknown) {
        res.headersSent = true;
        resolve({ status: res.statusCode, body: (typeof body === "string" ? JSON.parse(body) : body) as never });
      },
      end() {
        res.headersSent = true;
        resolve({ status: res.statusCode, body: {} });
      },
    };
    (fn as (req: unknown, res: unknown) => void)(req, res);
  });
}

/** Calls a wrapped HTTPS endpoint in-process and returns its result (status, body, headers). */
export async function callHttps(
  fn: { run: (req: Request) => Promise<HttpResult> },
  opts: {
    method?: string;
    headers?: Record<string, string>;
    body?: unknown;
    rawBody?: Buffer;
    query?: Record<string, string>;
  } = {},
): Promise<HttpResult> {
  const rawBody = opts.rawBody ?? (opts.body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(opts.body)));
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k.toLowerCase()] = v;
  if (rawBody.length > 0) headers["content-type"] ??= "application/json";
  let body: unknown = opts.body;
  if (body === undefined && rawBody.length > 0 && headers["content-type"]?.includes("json")) {
    try {
      body = JSON.parse(rawBody.toString("utf8"));
    } catch {
      body = undefined;
    }
  }
  const req = {
    method: opts.method ?? "POST",
    headers,
    body,
    rawBody,
    query: opts.query ?? {},
    header: (n: string) => headers[n.toLowerCase()],
  };
  return fn.run(req as unknown as Request);
}

/** Asserts that `promise` rejects with an HttpsError of `code`; returns the error. */
export async function expectHttpsError(promise: Promise<unknown>, code: string): Promise<HttpsError> {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof HttpsError)) throw new Error(`expected HttpsError(${code}), got ${String(error)}`);
    if (error.code !== code) throw new Error(`expected HttpsError(${code}), got ${error.code}: ${error.message}`);
    return error;
  }
  throw new Error(`expected HttpsError(${code}), but the call succeeded`);
}

/** A fresh random tenant id, so tests never share data. */
export function newTenantId(prefix = "t"): string {
  return `${prefix}-${randomUUID().slice(0, 12)}`;
}

/**
 * Seeds a tenant with members directly through the Admin SDK (no callable), sets each member's
 * claims `{tid, roles}` and refreshes their ID token. For tests of other modules.
 */
export async function seedTenant(
  members: Record<string, { user: TestUser; roles: string[] }>,
  opts: { tenantId?: string; status?: "active" | "suspended"; name?: string } = {},
): Promise<string> {
  const tid = opts.tenantId ?? newTenantId();
  const db = rootFirestore();
  const batch = db.batch();
  const now = new Date();
  batch.set(db.doc(`tenants/${tid}`), {
    name: opts.name ?? `Tenant ${tid}`,
    status: opts.status ?? "active",
    configVersion: 1,
    createdAt: now,
    updatedAt: now,
  });
  for (const { user, roles } of Object.values(members)) {
    batch.set(db.doc(`tenants/${tid}/members/${user.uid}`), {
      roles,
      status: "active",
      email: user.email,
      createdAt: now,
    });
  }
  await batch.commit();
  for (const { user, roles } of Object.values(members)) {
    await adminAuth().setCustomUserClaims(user.uid, { tid, roles });
    await refreshUser(user);
  }
  return tid;
}
