#!/usr/bin/env node
/**
 * Comparative benchmark: our emulator (dist/cli.js) vs @firestore-emulator/server 0.3.15,
 * driven through the Admin SDK (@google-cloud/firestore) with the same workload.
 *
 *   npm run build && npm run bench        (or: node bench/run.mjs [--iterations 300])
 *
 * - Each emulator runs in its own child process (so neither shares the client's event loop);
 *   one Firestore client per target, each with its own host/port.
 * - Warm-up, then per operation N iterations, interleaving the two targets (alternating which
 *   goes first) so drift (GC, CPU frequency, other load) biases neither.
 * - Prints: operation | ours median ms | theirs median ms | ratio (ours/theirs) | goal <= 1.0,
 *   our startup time (CLI spawn -> first HTTP answer, and in-process start()), and a
 *   correctness row: 20 concurrent read-modify-write transactions per target -> final value.
 * - Bounded runtime (hard watchdog ~115 s); every child process it started is killed on exit.
 * - Exit 0 when it ran (even if a ratio misses the goal: it reports); 1 on crash / setup
 *   failure; 3 if OUR emulator is incorrect in the correctness row.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import fs from "node:fs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PKG = path.resolve(HERE, "..");
const require = createRequire(path.join(PKG, "package.json"));

const args = process.argv.slice(2);
const argVal = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : dflt;
};
const N = argVal("--iterations", 300);
const WARMUP = argVal("--warmup", 40);
const STARTUP_RUNS = argVal("--startup-runs", 5);
const HARD_LIMIT_MS = 115_000;
const T0 = performance.now();
const elapsed = () => performance.now() - T0;

// The SDK lets FIRESTORE_EMULATOR_HOST override explicit host settings: make sure it cannot.
delete process.env.FIRESTORE_EMULATOR_HOST;

const children = new Set();
const clients = [];
function killAll() {
  for (const c of children) {
    try {
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    } catch {
      /* already gone */
    }
  }
  children.clear();
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}
const watchdog = setTimeout(() => {
  console.error(`bench: hard time limit ${HARD_LIMIT_MS} ms reached, aborting`);
  killAll();
  process.exit(1);
}, HARD_LIMIT_MS);
watchdog.unref();

function log(msg) {
  process.stderr.write(`[bench ${(elapsed() / 1000).toFixed(1)}s] ${msg}\n`);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function httpAnswers(port) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/emulator/v1/projects/bench-probe/operations`, {
      signal: AbortSignal.timeout(500),
    });
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

/** Spawns our CLI; resolves once the port answers HTTP. Returns {child, port, readyMs}. */
async function spawnOurs() {
  const cli = path.join(PKG, "dist", "cli.js");
  const port = await freePort();
  const t = performance.now();
  const child = spawn(process.execPath, [cli, "--host", "127.0.0.1", "--port", String(port)], {
    cwd: PKG,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.resume();
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`our CLI exited with ${child.exitCode}: ${stderr.slice(0, 500)}`);
    if (await httpAnswers(port)) return { child, port, readyMs: performance.now() - t };
    await sleep(5);
  }
  throw new Error(`our CLI did not answer on port ${port} within 10 s: ${stderr.slice(0, 500)}`);
}

/** Spawns @firestore-emulator/server in a child process via its documented API. */
async function spawnTheirs() {
  const port = await freePort();
  const entry = require.resolve("@firestore-emulator/server");
  const script = `
    const { FirestoreServer } = require(${JSON.stringify(entry)});
    const server = new FirestoreServer();
    server.start(${port}).then(() => console.log("READY"), (e) => { console.error(e); process.exit(1); });
    process.on("SIGTERM", () => { server.stop(); process.exit(0); });
  `;
  const child = spawn(process.execPath, ["-e", script], { cwd: PKG, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`theirs not ready in 10 s: ${stderr.slice(0, 500)}`)), 10_000);
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("READY")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`theirs exited with ${code}: ${stderr.slice(0, 500)}`));
    });
  });
  child.removeAllListeners("exit");
  return { child, port };
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => {
      child.kill("SIGKILL");
    }, 2000);
    child.once("exit", () => {
      clearTimeout(t);
      children.delete(child);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

function median(xs) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
function pct(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
    }),
  ]);
}

async function main() {
  if (!fs.existsSync(path.join(PKG, "dist", "cli.js"))) {
    console.error("bench: dist/cli.js not found — run `npm run build` first");
    process.exit(1);
  }
  const { Firestore } = require("@google-cloud/firestore");

  // ---- startup: CLI spawn -> first HTTP answer (median of STARTUP_RUNS) ----
  log("measuring startup");
  const spawnTimes = [];
  for (let i = 0; i < STARTUP_RUNS; i++) {
    const s = await spawnOurs();
    spawnTimes.push(s.readyMs);
    await stopChild(s.child);
  }
  // in-process start() from dist (first call includes module loading; later calls do not)
  const inProcTimes = [];
  let inProcFirst = NaN;
  try {
    const t = performance.now();
    const { start } = require(path.join(PKG, "dist", "index.js"));
    const h0 = await start({ host: "127.0.0.1", port: 0, quiet: true });
    inProcFirst = performance.now() - t;
    await h0.stop();
    for (let i = 0; i < STARTUP_RUNS; i++) {
      const t1 = performance.now();
      const h = await start({ host: "127.0.0.1", port: 0, quiet: true });
      inProcTimes.push(performance.now() - t1);
      await h.stop();
    }
  } catch (e) {
    log(`in-process start() failed: ${e.message}`);
  }

  // ---- targets ----
  log("starting both emulators");
  const ours = await spawnOurs();
  const theirs = await spawnTheirs();
  const runId = Date.now().toString(36);
  const mk = (port, projectId) => {
    const db = new Firestore({
      projectId,
      host: "127.0.0.1",
      port,
      ssl: false,
      customHeaders: { Authorization: "Bearer owner" },
    });
    clients.push(db);
    return db;
  };
  const targets = [
    { name: "ours", db: mk(ours.port, `bench-ours-${runId}`), samples: {}, errors: {} },
    { name: "theirs", db: mk(theirs.port, `bench-theirs-${runId}`), samples: {}, errors: {} },
  ];

  // ---- seed ----
  log("seeding");
  for (const t of targets) {
    const b = t.db.batch();
    for (let i = 0; i < 100; i++) {
      b.set(t.db.doc(`items/i${String(i).padStart(3, "0")}`), {
        i,
        group: i % 10,
        name: `item ${i}`,
        tags: ["a", `t${i % 7}`],
        nested: { score: i * 1.5, flag: i % 2 === 0 },
      });
    }
    b.set(t.db.doc("single/get"), { name: "read me", n: 1, nested: { a: [1, 2, 3] } });
    b.set(t.db.doc("counter/rmw"), { n: 0 });
    await withTimeout(b.commit(), 10_000, `${t.name} seed`);
  }

  let setCounter = 0;
  const operations = [
    {
      name: "single-document get",
      run: async (db) => {
        const s = await db.doc("single/get").get();
        if (!s.exists) throw new Error("doc missing");
      },
    },
    {
      name: "single-document set",
      run: async (db) => {
        await db.doc("single/set").set({ n: setCounter++, at: "x", nested: { k: 1 } });
      },
    },
    {
      name: "10-document query (100 docs, where + limit 10)",
      run: async (db) => {
        const s = await db.collection("items").where("group", "==", 3).limit(10).get();
        if (s.size !== 10) throw new Error(`query returned ${s.size} docs`);
      },
    },
    {
      name: "read-modify-write transaction",
      run: async (db) => {
        await db.runTransaction(async (tx) => {
          const ref = db.doc("counter/rmw");
          const s = await tx.get(ref);
          tx.set(ref, { n: (s.get("n") ?? 0) + 1 });
        });
      },
    },
  ];

  // ---- warm-up ----
  log(`warm-up (${WARMUP} per op per target)`);
  for (const op of operations) {
    for (const t of targets) {
      for (let i = 0; i < WARMUP; i++) {
        try {
          await withTimeout(op.run(t.db), 5000, `${t.name} ${op.name}`);
        } catch (e) {
          t.errors[op.name] = e.message;
          break;
        }
      }
    }
  }

  // ---- measurement ----
  const measureBudgetMs = Math.max(10_000, HARD_LIMIT_MS - 35_000 - elapsed());
  const perOpBudget = measureBudgetMs / operations.length;
  for (const op of operations) {
    log(`measuring: ${op.name}`);
    const opStart = performance.now();
    for (const t of targets) t.samples[op.name] = [];
    for (let i = 0; i < N; i++) {
      const order = i % 2 === 0 ? targets : [targets[1], targets[0]];
      for (const t of order) {
        if (t.errors[op.name]) continue;
        const s = performance.now();
        try {
          await withTimeout(op.run(t.db), 5000, `${t.name} ${op.name}`);
          t.samples[op.name].push(performance.now() - s);
        } catch (e) {
          t.errors[op.name] = e.message;
        }
      }
      if (performance.now() - opStart > perOpBudget) {
        log(`  time budget for this operation reached after ${i + 1} iterations`);
        break;
      }
    }
  }

  // ---- correctness: 20 concurrent read-modify-write transactions ----
  log("correctness: 20 concurrent increments per target");
  const correctness = {};
  for (const t of targets) {
    const ref = t.db.doc("counter/concurrent");
    try {
      await t.db.doc("counter/concurrent").set({ n: 0 });
      const results = await withTimeout(
        Promise.allSettled(
          Array.from({ length: 20 }, () =>
            t.db.runTransaction(async (tx) => {
              const s = await tx.get(ref);
              tx.set(ref, { n: (s.get("n") ?? 0) + 1 });
            }),
          ),
        ),
        20_000,
        `${t.name} concurrent increments`,
      );
      const failed = results.filter((r) => r.status === "rejected").length;
      const final = (await ref.get()).get("n");
      correctness[t.name] = { final, failed };
    } catch (e) {
      correctness[t.name] = { error: e.message };
    }
  }

  // ---- report ----
  const fmt = (x) => (Number.isFinite(x) ? x.toFixed(3) : "n/a");
  const rows = [["operation", "ours median ms", "theirs median ms", "ratio (ours/theirs)", "goal ≤ 1.0"]];
  const notes = [];
  for (const op of operations) {
    const o = targets[0].samples[op.name] ?? [];
    const th = targets[1].samples[op.name] ?? [];
    const mo = median(o);
    const mt = median(th);
    const ratio = mo / mt;
    let verdict = Number.isFinite(ratio) ? (ratio <= 1.0 ? "ok" : "FAIL") : "n/a";
    if (targets[0].errors[op.name]) verdict = "FAIL (ours errored)";
    rows.push([op.name, fmt(mo), fmt(mt), Number.isFinite(ratio) ? ratio.toFixed(2) : "n/a", verdict]);
    notes.push(
      `  ${op.name}: n=${o.length}/${th.length}, p90 ours ${fmt(pct(o, 90))} ms, theirs ${fmt(pct(th, 90))} ms`,
    );
    for (const t of targets) if (t.errors[op.name]) notes.push(`  ${t.name} error on "${op.name}": ${t.errors[op.name]}`);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  const line = (r) => "| " + r.map((v, c) => String(v).padEnd(widths[c])).join(" | ") + " |";
  const sep = "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|";
  console.log("");
  console.log(`Firestore emulator benchmark — Node ${process.version}, ${N} iterations requested per op, warm-up ${WARMUP}`);
  console.log(line(rows[0]));
  console.log(sep);
  for (const r of rows.slice(1)) console.log(line(r));
  console.log("");
  console.log("details:");
  for (const n of notes) console.log(n);

  const sMed = median(spawnTimes);
  console.log("");
  console.log(
    `startup (ours): CLI spawn -> first HTTP answer median ${fmt(sMed)} ms over ${spawnTimes.length} runs ` +
      `[${spawnTimes.map((x) => x.toFixed(0)).join(", ")}] — goal < 1000 ms: ${sMed < 1000 ? "ok" : "FAIL"}`,
  );
  if (inProcTimes.length) {
    console.log(
      `startup (ours): in-process start() first call (incl. module load) ${fmt(inProcFirst)} ms, ` +
        `then median ${fmt(median(inProcTimes))} ms over ${inProcTimes.length} runs`,
    );
  }

  console.log("");
  console.log("correctness: 20 concurrent read-modify-write transactions on one counter (expected 20)");
  let oursCorrect = false;
  for (const t of targets) {
    const c = correctness[t.name];
    const ok = c.final === 20 && !c.failed;
    if (t.name === "ours") oursCorrect = ok;
    console.log(
      `  ${t.name.padEnd(6)} final value: ${c.error ? `error (${c.error})` : c.final}` +
        `${c.failed ? `, ${c.failed} transactions failed` : ""} — ${ok ? "ok" : "WRONG"}`,
    );
  }
  console.log(`total bench time ${(elapsed() / 1000).toFixed(1)} s`);

  await Promise.allSettled(clients.map((c) => withTimeout(c.terminate(), 3000, "terminate")));
  await stopChild(ours.child);
  await stopChild(theirs.child);
  killAll();
  return oursCorrect ? 0 : 3;
}

main().then(
  (code) => {
    clearTimeout(watchdog);
    process.exit(code);
  },
  (e) => {
    console.error(`bench crashed: ${e?.stack ?? e}`);
    killAll();
    process.exit(1);
  },
);
