/**
 * The session stage of admission on a warm instance: what checking the caller's session and
 * Auth revocation state adds to every call, against a bare async function call measured in the
 * same run. Goal: under 50 µs added per warm call, and 0 Firestore reads while warm (at most 1
 * cold), counted by the Firestore emulator's operation log on this run's session document.
 *
 * Rows: the bare call (baseline); the session stage for a token naming a session; for a token
 * without one; and the whole admission of a warm tenant callable with and without the session
 * stage's work (info: the difference is what a real call pays).
 *
 * Needs the Firestore and Auth emulators and a built functions/lib. Bounded: fixed iteration
 * counts and a watchdog.
 */
import { randomUUID } from "node:crypto";
import { lastSeqOf, operationLog, setUpBench } from "./lib/harness.mjs";
import { interleaved, median, microsPerCall, printTable } from "./lib/table.mjs";

const { load } = setUpBench("session-guard", {
  watchdogMs: 180_000,
  env: { DATA_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString("base64") },
});
const { adminAuth, rootFirestore } = load("platform/admin.js");
const { checkSession, configureSessionGuard } = load("platform/session-guard.js");
const { admit } = load("platform/pipeline.js");
const sessions = load("sessions/service.js");

const SAMPLES = Number(process.env.SESSION_GUARD_BENCH_SAMPLES ?? 41);
const CALLS_PER_SAMPLE = Number(process.env.SESSION_GUARD_BENCH_CALLS ?? 200);
const WARMUP_CALLS = 500;

const db = rootFirestore();
const auth = adminAuth();
const user = await auth.createUser({ email: `bench-guard-${randomUUID().slice(0, 8)}@example.test` });
const authTime = Math.floor(Date.now() / 1000);
const started = await sessions.startSession({ uid: user.uid, tid: null, mfa: false, label: "bench", authTime: authTime * 1000 });
const sid = started.sessionId;

// A warm tenant for the admission rows.
const tid = `bench-${randomUUID().slice(0, 12)}`;
const now = new Date();
await db.doc(`tenants/${tid}`).set({ name: "bench", status: "active", configVersion: 1, createdAt: now });
await db.doc(`tenants/${tid}/members/${user.uid}`).set({ roles: ["member"], status: "active", createdAt: now });

const sessionToken = { uid: user.uid, auth_time: authTime, sid, tid };
const plainToken = { uid: user.uid, auth_time: authTime, tid };
const spec = { kind: "callable", name: "benchGuard", description: "bench", auth: "required", tenant: true, permission: "tenant:read" };

async function bare(x) {
  return x;
}

// The deployed default bound (SESSION_STATUS_CACHE_SECONDS = 30 s) is far longer than one sample.
configureSessionGuard();

const rows = {
  "bare async function call": () => bare(sessionToken),
  "session stage: token with a session": () => checkSession(user.uid, sessionToken, {}),
  "session stage: token without a session": () => checkSession(user.uid, plainToken, {}),
  "whole admission, tenant callable (info)": () => admit(spec, { uid: user.uid, token: sessionToken }),
};

const sessionEntries = (log, afterSeq) => log.log.filter((e) => e.seq > afterSeq && e.path === `sessions/${sid}`);

const beforeWarmup = lastSeqOf(await operationLog());
for (const fn of Object.values(rows)) for (let i = 0; i < WARMUP_CALLS; i++) await fn();
const afterWarmup = await operationLog();
// Exactly the first (cold) call reads the session; the log must show it or "0 warm" proves nothing.
const coldReads = sessionEntries(afterWarmup, beforeWarmup).filter((e) => e.kind === "read").length;
const lastSeq = lastSeqOf(afterWarmup);

const samples = await interleaved(rows, SAMPLES, (fn) => microsPerCall(fn, CALLS_PER_SAMPLE));
const warmReads = sessionEntries(await operationLog(), lastSeq).filter((e) => e.kind === "read").length;

const baseline = median(samples["bare async function call"]);
const GOAL_US = 50;
const table = Object.keys(rows).map((name) => {
  const value = median(samples[name]);
  const isStage = name.startsWith("session stage");
  return {
    name,
    value,
    baseline: name === "bare async function call" ? undefined : baseline,
    unit: "µs",
    digits: 3,
    goal: isStage ? `< ${GOAL_US} µs added` : undefined,
    ok: isStage ? value - baseline < GOAL_US : undefined,
  };
});
table.push({
  name: "reads of the session document, cold (first call)",
  value: coldReads,
  unit: "reads",
  digits: 0,
  goal: "exactly 1",
  ok: coldReads === 1,
});
table.push({
  name: `reads of the session document over ${SAMPLES * CALLS_PER_SAMPLE * 3} warm calls`,
  value: warmReads,
  unit: "reads",
  digits: 0,
  goal: "0",
  ok: warmReads === 0,
});

printTable(
  `Session stage on a warm instance: median µs per call over ${SAMPLES} samples of ${CALLS_PER_SAMPLE} calls, Node ${process.version}`,
  table,
);

await db.recursiveDelete(db.doc(`tenants/${tid}`));
await db.doc(`sessions/${sid}`).delete();
await auth.deleteUser(user.uid);
const failed = table.some((r) => r.ok === false);
process.exit(failed ? 1 : 0);
