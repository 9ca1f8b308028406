/**
 * Inbound webhook acknowledge path on the emulators, in one run:
 *
 * - median latency over HTTP of the acknowledge path (signature check over the raw body, JSON
 *   parse and validation, create-if-absent de-duplication record, enqueue on the real Cloud
 *   Tasks emulator) against a bare HTTPS function answering 200, both served by the same
 *   in-process HTTP server the way the functions framework serves them (express, JSON body
 *   parser keeping `rawBody`);
 * - Firestore operations per acknowledged event, from the Firestore emulator's operation log
 *   (entries for this run's events only). Goal: 1 write, 0 reads.
 *
 * The tasks go to a bench-only queue whose target is a local sink answering 204, so the
 * benchmark does not feed events to the shared functions emulator. Needs the stack's Firestore
 * (counting proxy, 127.0.0.1:8081), the Cloud Tasks emulator (127.0.0.1:9499) and a built functions/lib.
 */
import { createHmac, randomUUID } from "node:crypto";
import { lastSeqOf, operationLog, setUpBench } from "./lib/harness.mjs";
import { median, printTable } from "./lib/table.mjs";


const { require, load } = setUpBench("webhooks", { watchdogMs: 240_000, env: { CLOUD_TASKS_EMULATOR_HOST: "127.0.0.1:9499", PAYMENT_WEBHOOK_SECRET: "whsec_test_provider_secret" } });
const { httpsEndpoint } = load("platform/https.js");
const { acknowledge } = load("payments/inbound.js");
const { cloudTasksEnqueue } = load("webhooks/tasks.js");
const { onRequest } = require("firebase-functions/v2/https");
const express = require("express");
const { z } = require("zod");

const SAMPLES = Number(process.env.WEBHOOK_BENCH_SAMPLES ?? 101);
const WARMUP = 15;
const SECRET = process.env.PAYMENT_WEBHOOK_SECRET;
const project = process.env.GCLOUD_PROJECT;
const run = randomUUID().slice(0, 8);
const SINK_QUEUE = "benchWebhookSink";

// --- the two functions, served like the functions framework serves them
const bare = onRequest((_req, res) => {
  res.status(200).end();
});
const webhook = httpsEndpoint(
  {
    name: "benchPaymentWebhook",
    description: "paymentWebhook's acknowledge path with tasks sent to the bench sink queue",
    methods: ["POST"],
    input: z.unknown(),
    auth: "none",
  },
  async ({ req }) =>
    acknowledge(req.rawBody, req.headers["stripe-signature"], {
      enqueue: (_queue, payload, options) => cloudTasksEnqueue(SINK_QUEUE, payload, options),
      secrets: [SECRET],
      toleranceSeconds: 300,
      retentionDays: 4,
    }),
);

const app = express();
app.use(
  express.json({
    verify: (req, _res, buf) => {
      req.rawBody = buf;
    },
  }),
);
app.post("/bare", (req, res) => bare(req, res));
app.post("/paymentWebhook", (req, res) => webhook(req, res));
app.post("/sink", (_req, res) => res.status(204).end());
const server = await new Promise((resolve) => {
  const s = app.listen(0, "127.0.0.1", () => resolve(s));
});
const origin = `http://127.0.0.1:${server.address().port}`;

// --- the sink queue on the Cloud Tasks emulator
const tasksHost = process.env.CLOUD_TASKS_EMULATOR_HOST;
const created = await fetch(`http://${tasksHost}/projects/${project}/locations/us-central1/queues/${SINK_QUEUE}`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ defaultUri: `${origin}/sink`, retryConfig: { maxAttempts: 1 } }),
}).catch((error) => ({ ok: false, status: String(error.cause?.code ?? error) }));
if (!created.ok) throw new Error(`Cloud Tasks emulator unavailable at ${tasksHost} (${created.status})`);

// --- requests
let seq = 0;
function signedEvent() {
  seq += 1;
  const body = JSON.stringify({
    id: `evt_bench_${run}_${seq}`,
    object: "event",
    type: "payment_intent.succeeded",
    created: Math.floor(Date.now() / 1000),
    data: {
      object: {
        id: `pi_bench_${seq}`,
        object: "payment_intent",
        amount: 1000,
        currency: "eur",
        metadata: { tenantId: `bench-${run}`, paymentId: `p${seq}` },
      },
    },
  });
  const t = Math.floor(Date.now() / 1000);
  const signature = createHmac("sha256", SECRET).update(`${t}.${body}`).digest("hex");
  return { body, headers: { "content-type": "application/json", "stripe-signature": `t=${t},v1=${signature}` } };
}

async function timed(path, request) {
  const started = process.hrtime.bigint();
  const res = await fetch(`${origin}${path}`, { method: "POST", ...request });
  await res.arrayBuffer();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
  return ms;
}


for (let i = 0; i < WARMUP; i++) {
  await timed("/bare", { body: "{}", headers: { "content-type": "application/json" } });
  await timed("/paymentWebhook", signedEvent());
}

const before = await operationLog();
const lastSeq = before.log.length > 0 ? before.log[before.log.length - 1].seq : -1;
const bareMs = [];
const ackMs = [];
const firstMeasured = seq + 1;
// Interleaved, so both sides see the same machine load.
for (let i = 0; i < SAMPLES; i++) {
  bareMs.push(await timed("/bare", { body: "{}", headers: { "content-type": "application/json" } }));
  ackMs.push(await timed("/paymentWebhook", signedEvent()));
}
const after = await operationLog();
const measuredIds = new Set(Array.from({ length: SAMPLES }, (_, i) => `inboundEvents/stripe:evt_bench_${run}_${firstMeasured + i}`));
const mine = after.log.filter((e) => e.seq > lastSeq && measuredIds.has(e.path));
const ownOtherPaths = after.log.filter((e) => e.seq > lastSeq && e.path.includes(`bench-${run}`));
const writes = mine.filter((e) => e.kind === "write").length / SAMPLES;
const reads = (mine.filter((e) => e.kind === "read").length + ownOtherPaths.filter((e) => e.kind === "read").length) / SAMPLES;

const bareMedian = median(bareMs);
const ackMedian = median(ackMs);
printTable(`Inbound webhook acknowledge path (${SAMPLES} samples each, interleaved)`, [
  { name: "bare HTTPS function → 200", value: bareMedian, unit: "ms" },
  {
    name: "paymentWebhook: verify + dedupe + enqueue",
    value: ackMedian,
    baseline: bareMedian,
    unit: "ms",
    goal: "reported",
  },
  { name: "Firestore writes per acknowledged event", value: writes, unit: "", goal: "1", ok: writes === 1 },
  { name: "Firestore reads per acknowledged event", value: reads, unit: "", goal: "0", ok: reads === 0 },
]);

server.closeAllConnections?.();
server.close();
process.exit(writes === 1 && reads === 0 ? 0 : 1);
