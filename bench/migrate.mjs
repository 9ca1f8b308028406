/**
 * MongoDB → Firestore migration throughput: documents per second into the Firestore emulator for
 * the migrator (migrate/: mongodump reader, conversion, checksums, checkpoint, one BulkWriter)
 * against a naive writer that reads and converts the same documents with the same code and then
 * commits one 500-write WriteBatch at a time, in one run, alternating order, each sample into a
 * fresh emulator project. Goal: migrator / naive ≥ 2x.
 *
 * The emulator rows turn BulkWriter's 500/50/5 ramp-up off (the emulator has no tablets to warm);
 * one more row shows the production setting, which holds the start at 500 writes/s by design.
 *
 * The bound on that ratio here: the migrator's gain is overlap, converting the next documents while
 * the emulator applies the last writes, where the naive writer alternates the two. With conversion
 * time C and emulator time E on one machine, overlap gives at most (C + E) / max(C, E), which is 2x
 * only when C = E exactly; the 2x goal needs a Firestore with real round trips to hide.
 *
 * Talks to the emulator itself (FIRESTORE_CLIENT_HOST, else FIRESTORE_EMULATOR_HOST, else
 * 127.0.0.1:8080), not the stack's counting proxy, whose decoding would tax both writers. Bounded:
 * fixed document counts and a watchdog.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { interleaved, median, printTable } from "./lib/table.mjs";

const WATCHDOG_MS = 8 * 60_000;
setTimeout(() => {
  console.error(`migrate: gave up after ${WATCHDOG_MS / 1000} s`);
  process.exit(1);
}, WATCHDOG_MS).unref();
process.env.FIRESTORE_EMULATOR_HOST = process.env.FIRESTORE_CLIENT_HOST ?? process.env.FIRESTORE_EMULATOR_HOST ?? "127.0.0.1:8080";

const DOCS = Number(process.env.MIGRATE_BENCH_DOCS ?? 4000);
const SAMPLES = Number(process.env.MIGRATE_BENCH_SAMPLES ?? 5);
const NAIVE_BATCH = 500;

const pkg = join(dirname(fileURLToPath(import.meta.url)), "../migrate");
const build = spawnSync("npm", ["run", "--silent", "build"], { cwd: pkg, stdio: "inherit" });
if (build.status !== 0) process.exit(1);
const require = createRequire(join(pkg, "package.json"));
const { BSON, Decimal128, Int32, Long, ObjectId, Binary } = require("bson");
const { initializeApp } = require("firebase-admin/app");
const { getFirestore } = require("firebase-admin/firestore");
const { run, prepare } = require(join(pkg, "dist/migrate.js"));
const { convertDocument } = require(join(pkg, "dist/convert.js"));

// A mongodump of DOCS orders over 10 tenants, with the types a real collection mixes.
const dir = mkdtempSync(join(tmpdir(), "bench-migrate-"));
const dbDir = join(dir, "shop");
spawnSync("mkdir", ["-p", dbDir]);
const order = (i) => ({
  _id: new ObjectId(i.toString(16).padStart(24, "0")),
  orgId: `t${i % 10}`,
  number: new Int32(i),
  placedAt: new Date(Date.UTC(2024, 0, 1) + i * 1000),
  total: Decimal128.fromString(`${i}.99`),
  views: Long.fromNumber(i * 7),
  receipt: new Binary(Buffer.alloc(32, i & 255)),
  customer: { name: `Customer ${i}`, email: `c${i}@example.com` },
  lines: [{ sku: `sku-${i}`, qty: new Int32(2) }],
  notes: "x".repeat(200),
});
writeFileSync(join(dbDir, "orders.bson"), Buffer.concat(Array.from({ length: DOCS }, (_, i) => BSON.serialize(order(i)))));
writeFileSync(join(dbDir, "orders.metadata.json"), JSON.stringify({ collectionName: "orders", type: "collection", indexes: [] }));
const mapping = join(dir, "mapping.json");
writeFileSync(
  mapping,
  JSON.stringify({
    version: 1,
    tenants: { mode: "create" },
    collections: [{ source: "orders", target: "tenants/{tenantId}/orders/{_id}", tenant: { field: "orgId" }, drop: ["orgId"] }],
  }),
);

const firestoreFor = (project) => getFirestore(initializeApp({ projectId: project }, project));

async function migrator({ rampUp }) {
  const db = firestoreFor(`demo-bench-${randomUUID().slice(0, 8)}`);
  const stateDir = mkdtempSync(join(tmpdir(), "bench-migrate-state-"));
  const start = process.hrtime.bigint();
  const result = await run({ source: dir, mapping, db, stateDir, rampUp });
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.collections[0].written !== DOCS) throw new Error(`migrator wrote ${result.collections[0].written} of ${DOCS}`);
  rmSync(stateDir, { recursive: true, force: true });
  await db.terminate();
  return DOCS / secs;
}

/** What ad-hoc scripts do: read, convert, commit a batch of `batchSize`, wait, repeat. */
async function naive(batchSize) {
  const db = firestoreFor(`demo-bench-${randomUUID().slice(0, 8)}`);
  const start = process.hrtime.bigint();
  const { mapping: m, source } = await prepare({ source: dir, mapping });
  const c = m.collections[0];
  const tenants = new Set();
  let batch = db.batch();
  let size = 0;
  let written = 0;
  for await (const { doc } of source.read(c.source, 0)) {
    const converted = convertDocument(doc, c, db, new Map());
    if (!tenants.has(converted.tenantId)) {
      tenants.add(converted.tenantId);
      batch.set(db.doc(`tenants/${converted.tenantId}`), { name: converted.tenantId, status: "active", configVersion: 1 });
      size++;
    }
    batch.set(db.doc(converted.path), converted.data);
    size++;
    written++;
    if (size >= batchSize - 1) {
      await batch.commit();
      batch = db.batch();
      size = 0;
    }
  }
  if (size > 0) await batch.commit();
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  if (written !== DOCS) throw new Error(`naive wrote ${written} of ${DOCS}`);
  await db.terminate();
  return DOCS / secs;
}

const rows = {
  "naive: one 500-write batch at a time": () => naive(NAIVE_BATCH),
  // BulkWriter's own batch size, committed sequentially: what its concurrency alone buys.
  "naive: one 20-write batch at a time": () => naive(20),
  "migrator: BulkWriter, ramp-up off": () => migrator({ rampUp: false }),
};
// Warm the emulator's JIT and the Node code paths once, unmeasured.
for (const fn of Object.values(rows)) await fn();
const samples = await interleaved(rows, SAMPLES, (fn) => fn());
const production = await migrator({ rampUp: true });

const naiveRate = median(samples["naive: one 500-write batch at a time"]);
const naive20Rate = median(samples["naive: one 20-write batch at a time"]);
const bulkRate = median(samples["migrator: BulkWriter, ramp-up off"]);
printTable(`MongoDB → Firestore migration, ${DOCS} documents per sample, ${SAMPLES} samples (emulator ${process.env.FIRESTORE_EMULATOR_HOST})`, [
  { name: "naive: one 500-write batch at a time", value: naiveRate, unit: "docs/s", digits: 0 },
  { name: "naive: one 20-write batch at a time", value: naive20Rate, unit: "docs/s", digits: 0 },
  { name: "migrator: BulkWriter, ramp-up off", value: bulkRate, baseline: naiveRate, unit: "docs/s", digits: 0 },
  { name: "migrator / naive with 20-write batches", value: bulkRate / naive20Rate, unit: "x", digits: 2 },
  { name: "migrator: BulkWriter, ramp-up 500/50/5 (1 sample)", value: production, baseline: naiveRate, unit: "docs/s", digits: 0 },
  { name: "migrator / naive", value: bulkRate / naiveRate, unit: "x", digits: 2, goal: "≥ 2x", ok: bulkRate / naiveRate >= 2 },
]);
rmSync(dir, { recursive: true, force: true });
process.exit(bulkRate / naiveRate >= 2 ? 0 : 1);
