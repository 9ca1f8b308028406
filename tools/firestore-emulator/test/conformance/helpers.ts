/**
 * Shared plumbing for the conformance suite.
 *
 * Target selection (decided synchronously, at module load, so `it.skip` can be chosen while
 * jest collects tests):
 *  - `FIRESTORE_EMULATOR_HOST` set (by the user, or by globalSetup.ts which starts our emulator)
 *    -> every file talks to that host.
 *  - not set (the suite was run with a jest config that has no globalSetup, e.g. the package's
 *    root jest.config.js) -> each file starts our emulator in-process on an ephemeral port in
 *    beforeAll and stops it in afterAll.
 *
 * Op-log tests (our `/emulator/v1/projects/{p}/operations` endpoints) run only when
 * `FIRESTORE_EMULATOR_OPLOG=1`. globalSetup.ts probes the endpoint and sets the flag; when the
 * user points the suite at some other emulator without the flag, we assume the official
 * emulator and skip them (they are reported as skipped, with "[ours only]" in their name).
 */
import * as path from "node:path";
import { Firestore } from "@google-cloud/firestore";
import { EmulatorHandle, loadStart } from "./load-emulator";

export type { EmulatorHandle };
export { loadStart };


// No GCE metadata-server probing from google-auth-library (firebase-admin without credentials).
process.env.METADATA_SERVER_DETECTION ??= "none";

const externalHost = process.env.FIRESTORE_EMULATOR_HOST;
/** true when op-log endpoints are available (our emulator). */
export const HAS_OPLOG: boolean =
  process.env.FIRESTORE_EMULATOR_OPLOG !== undefined
    ? process.env.FIRESTORE_EMULATOR_OPLOG === "1"
    : externalHost === undefined; // nothing given: we start ours per file

/** `it` for tests that need our op-log endpoints; skipped against the official emulator. */
export const itOurs: jest.It = HAS_OPLOG ? it : it.skip;
export const OURS_ONLY = "[ours only] ";
if (!HAS_OPLOG && process.env.CONFORMANCE_QUIET !== "1") {
  // eslint-disable-next-line no-console
  console.log(
    `conformance: op-log endpoints unavailable at ${externalHost}; tests named "${OURS_ONLY}..." are skipped`,
  );
}

/** A valid, per-file project id: conf-<file basename>. */
export function projectIdFor(file: string): string {
  const base = path
    .basename(file)
    .replace(/\.test\.ts$/, "")
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-");
  return `conf-${base}`.slice(0, 30);
}

let currentHost: string | undefined = externalHost;
export function emulatorHost(): string {
  if (!currentHost) throw new Error("emulator not started yet (use inside tests/hooks)");
  return currentHost;
}

export async function http(method: string, urlPath: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://${emulatorHost()}${urlPath}`, {
    method,
    headers: { Authorization: "Bearer owner" },
  });
  const text = await res.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not json */
  }
  return { status: res.status, body };
}

export async function clearProject(projectId: string): Promise<void> {
  const r = await http("DELETE", `/emulator/v1/projects/${projectId}/databases/(default)/documents`);
  if (r.status !== 200) throw new Error(`clear ${projectId} -> HTTP ${r.status}: ${JSON.stringify(r.body)}`);
}

export interface OpLogEntry {
  seq: number;
  kind: "read" | "write" | "delete";
  path: string;
  method: string;
  transaction?: string | null;
}
export interface Ops {
  reads: number;
  writes: number;
  deletes: number;
  log: OpLogEntry[];
}
export async function getOps(projectId: string): Promise<Ops> {
  const r = await http("GET", `/emulator/v1/projects/${projectId}/operations`);
  if (r.status !== 200) throw new Error(`operations ${projectId} -> HTTP ${r.status}`);
  return r.body as Ops;
}
export async function resetOps(projectId: string): Promise<void> {
  const r = await http("DELETE", `/emulator/v1/projects/${projectId}/operations`);
  if (r.status !== 200) throw new Error(`reset operations ${projectId} -> HTTP ${r.status}`);
}

/**
 * Everything a test file needs: a Firestore client bound to a per-file project, data cleared
 * before each test, the raw GAPIC client for requests the SDK does not let us express.
 */
export interface Ctx {
  readonly projectId: string;
  readonly db: Firestore;
  /** the low-level google.firestore.v1 client (same protocol as the SDK, no client-side checks) */
  readonly raw: any;
  /** `projects/{p}/databases/(default)/documents` */
  readonly docsRoot: string;
  /** call options for raw calls (auth + resource-prefix headers, as the SDK sends them) */
  readonly callOpts: any;
  newDb(): Firestore;
}

export function setupConformance(file: string, opts: { clearEach?: boolean } = {}): Ctx {
  const projectId = projectIdFor(file);
  let db: Firestore | undefined;
  let raw: any;
  let local: EmulatorHandle | undefined;
  const extraDbs: Firestore[] = [];

  beforeAll(async () => {
    if (!currentHost) {
      const start = loadStart();
      local = await start({ host: "127.0.0.1", port: 0, quiet: true });
      currentHost = `${local.host}:${local.port}`;
      process.env.FIRESTORE_EMULATOR_HOST = currentHost;
    }
    db = new Firestore({ projectId });
    await clearProject(projectId);
  });
  if (opts.clearEach !== false) {
    beforeEach(async () => {
      await clearProject(projectId);
    });
  }
  afterAll(async () => {
    if (raw) await raw.close().catch(() => undefined);
    for (const d of extraDbs) await d.terminate().catch(() => undefined);
    if (db) await db.terminate();
    if (local) {
      await local.stop();
      currentHost = undefined;
      delete process.env.FIRESTORE_EMULATOR_HOST;
    }
  });

  const docsRoot = `projects/${projectId}/databases/(default)/documents`;
  return {
    projectId,
    docsRoot,
    get db(): Firestore {
      if (!db) throw new Error("db used before beforeAll");
      return db;
    },
    get raw(): any {
      if (!raw) raw = makeRawClient(projectId);
      return raw;
    },
    callOpts: {
      otherArgs: {
        headers: {
          Authorization: "Bearer owner",
          "google-cloud-resource-prefix": `projects/${projectId}/databases/(default)`,
        },
      },
    },
    newDb(): Firestore {
      const d = new Firestore({ projectId });
      extraDbs.push(d);
      return d;
    },
  };
}

/** The GAPIC v1 client over an insecure channel, built with the same grpc module the SDK uses. */
function makeRawClient(projectId: string): any {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const firestoreMod = require("@google-cloud/firestore");
  const gaxPath = require.resolve("google-gax", {
    paths: [path.dirname(require.resolve("@google-cloud/firestore"))],
  });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const gax = require(gaxPath);
  const [host, portStr] = splitHost(emulatorHost());
  return new firestoreMod.v1.FirestoreClient({
    servicePath: host,
    apiEndpoint: host,
    port: Number(portStr),
    sslCreds: gax.grpc.credentials.createInsecure(),
    projectId,
  });
}

function splitHost(h: string): [string, string] {
  const i = h.lastIndexOf(":");
  return [h.slice(0, i), h.slice(i + 1)];
}

/** Sorted ids of a query snapshot's docs, or ids in result order with `ordered`. */
export function ids(snap: { docs: { id: string }[] }): string[] {
  return snap.docs.map((d) => d.id);
}
export function sortedIds(snap: { docs: { id: string }[] }): string[] {
  return ids(snap).sort();
}

/** gRPC status code of a rejected SDK/GAPIC call. */
export async function codeOf(p: Promise<unknown>): Promise<number | "resolved"> {
  try {
    await p;
    return "resolved";
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return typeof code === "number" ? code : -1;
  }
}

export const Code = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
} as const;

export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a raw (server-streaming) RunQuery / RunAggregationQuery and collects every response. */
export function rawRunQuery(ctx: Ctx, request: any, method: "runQuery" | "runAggregationQuery" = "runQuery"): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const out: any[] = [];
    const stream = ctx.raw[method](request, ctx.callOpts);
    stream.on("data", (d: any) => out.push(d));
    stream.on("error", reject);
    stream.on("end", () => resolve(out));
  });
}
