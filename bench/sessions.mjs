/**
 * Session refresh: latency and Firestore operations per refresh, in one run, against a baseline
 * measured alongside it (a bare transaction that reads and writes one document).
 *
 * Rows: the baseline; custom-token signing alone (user lookup + createCustomToken, the non-
 * Firestore part of a refresh); a rotation (the whole refreshSession service call); a grace
 * answer (the previous token inside the grace interval). Operation counts come from the
 * Firestore emulator's operation log, filtered to the benchmark's own documents. Goal: one
 * transaction, at most 1 read + 1 write of the session document per rotation.
 *
 * Needs the Firestore and Auth emulators and a built functions/lib (`npm run build` in
 * functions/). Bounded: fixed iteration counts and a watchdog.
 */
import { randomUUID } from "node:crypto";
import { lastSeqOf, operationLog, setUpBench } from "./lib/harness.mjs";
import { median, printTable } from "./lib/table.mjs";


const { require, load } = setUpBench("sessions", { watchdogMs: 180_000, env: { DATA_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString("base64") } });
const { rootFirestore, adminAuth } = load("platform/admin.js");
const sessions = load("sessions/service.js");

const SAMPLES = Number(process.env.SESSIONS_BENCH_SAMPLES ?? 21);
const CALLS = Number(process.env.SESSIONS_BENCH_CALLS ?? 10);

const project = process.env.GCLOUD_PROJECT;

const db = rootFirestore();
const auth = adminAuth();
const user = await auth.createUser({ email: `bench-${randomUUID().slice(0, 8)}@example.test` });
await auth.setCustomUserClaims(user.uid, { tid: "bench-tenant", roles: ["member"] });

const baselineRef = db.doc(`benchSessions/${randomUUID()}`);
await baselineRef.set({ n: 0 });
let session = await sessions.startSession({ uid: user.uid, tid: "bench-tenant", mfa: false, label: "bench", authTime: Date.now() });
let previous = null;

const rows = {
  "baseline: transaction, read + write one doc": async () => {
    await db.runTransaction(async (tx) => {
      const snap = await tx.get(baselineRef);
      tx.set(baselineRef, { n: (snap.get("n") ?? 0) + 1 });
    });
  },
  "custom-token signing alone (getUser + sign)": async () => {
    const u = await auth.getUser(user.uid);
    await auth.createCustomToken(user.uid, { sid: session.sessionId, mfa: false, ...u.customClaims });
  },
  "refresh: rotation": async () => {
    previous = session.refreshToken;
    session = await sessions.refreshSession(session.refreshToken);
  },
  "refresh: grace answer (previous token)": async () => {
    const again = await sessions.refreshSession(previous);
    if (again.refreshToken !== session.refreshToken) throw new Error("grace answer differs from the successor");
  },
};

// Warm-up (module loads, connections, the emulator's JIT).
for (let i = 0; i < 5; i++) for (const fn of Object.values(rows)) await fn();

const samples = Object.fromEntries(Object.keys(rows).map((k) => [k, []]));
const ops = Object.fromEntries(Object.keys(rows).map((k) => [k, { reads: 0, writes: 0, nonTx: 0 }]));
const GRACE = "refresh: grace answer (previous token)";

/** Mean ms per call of `name` over CALLS calls. A grace answer needs a fresh rotation before it,
 * which runs outside the timed part. */
async function timeRow(name) {
  let total = 0n;
  for (let i = 0; i < CALLS; i++) {
    if (name === GRACE) await rows["refresh: rotation"]();
    const t0 = process.hrtime.bigint();
    await rows[name]();
    total += process.hrtime.bigint() - t0;
  }
  return Number(total) / 1e6 / CALLS;
}

for (let s = 0; s < SAMPLES; s++) {
  const order = Object.keys(rows);
  if (s % 2) order.reverse(); // rows take turns so machine noise hits them alike
  for (const name of order) {
    const before = lastSeqOf(await operationLog());
    samples[name].push(await timeRow(name));
    const log = (await operationLog()).log.filter((e) => e.seq > before);
    const mine = log.filter((e) => e.path.includes(`sessions/${session.sessionId}`) || e.path === baselineRef.path);
    const o = ops[name];
    for (const e of mine) {
      if (e.kind === "read") o.reads++;
      else o.writes++;
      if (!e.transaction) o.nonTx++;
    }
  }
}

// The grace row also ran one rotation per answer: take those operations out.
const rotationsInGraceRow = SAMPLES * CALLS;
const graceOps = ops[GRACE];
graceOps.reads -= rotationsInGraceRow;
graceOps.writes -= rotationsInGraceRow;
const per = (name, field) => ops[name][field] / (SAMPLES * CALLS);

const baseline = median(samples["baseline: transaction, read + write one doc"]);
const table = Object.keys(rows).map((name) => ({
  name,
  value: median(samples[name]),
  baseline: name.startsWith("baseline") ? undefined : baseline,
  unit: "ms",
  digits: 2,
}));
const rotationOk = per("refresh: rotation", "reads") <= 1 && per("refresh: rotation", "writes") <= 1;
table.push(
  {
    name: "rotation: session reads / writes per refresh",
    value: per("refresh: rotation", "reads"),
    unit: `reads, ${per("refresh: rotation", "writes").toFixed(2)} writes`,
    digits: 2,
    goal: "≤ 1 read + 1 write",
    ok: rotationOk && ops["refresh: rotation"].nonTx === 0,
  },
  {
    name: "grace answer: session reads / writes per refresh",
    value: per("refresh: grace answer (previous token)", "reads"),
    unit: `reads, ${per("refresh: grace answer (previous token)", "writes").toFixed(2)} writes`,
    digits: 2,
    goal: "1 read, 0 writes",
    ok:
      per("refresh: grace answer (previous token)", "reads") <= 1 &&
      per("refresh: grace answer (previous token)", "writes") === 0,
  },
  {
    name: "operations outside a transaction (rotation)",
    value: ops["refresh: rotation"].nonTx,
    unit: "ops",
    digits: 0,
    goal: "0 (one transaction)",
    ok: ops["refresh: rotation"].nonTx === 0,
  },
);

printTable(
  `Session refresh: median ms per call over ${SAMPLES} samples of ${CALLS} calls, Node ${process.version}, emulators`,
  table,
);

await db.doc(`sessions/${session.sessionId}`).delete();
await baselineRef.delete();
await auth.deleteUser(user.uid);
process.exit(table.some((r) => r.ok === false) ? 1 : 0);
