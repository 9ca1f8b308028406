#!/usr/bin/env node
/**
 * `npm run load`: a load test of the local stack with autocannon. Runs, one after another, each
 * at a sustained request rate for a bounded time:
 *
 *   health         GET  health (readiness: Firestore round trip, Auth, queues, topic)
 *   whoami         POST whoami as the demo owner (token verification only)
 *   createPayment  POST createPayment with a fresh idempotency key per request (claim + transaction)
 *   paymentWebhook POST signed provider events about the payments just created (verify, record, enqueue)
 *
 * and prints p50/p95/p99 latency, throughput and every non-2xx answer by status code. Exits 1
 * when any answer is not the expected 200 (or on connection errors and timeouts).
 *
 * Uses the stack already running at STACK_PORT_OFFSET when its functions emulator answers,
 * otherwise starts one there (and stops it afterwards). Loopback only: every URL is 127.0.0.1.
 * The functions emulator runs one worker process per concurrent request, so the defaults keep
 * concurrency low; each function is called once before its measured run (worker cold start).
 *
 *   npm run load -- --duration 20 --rate 10 --connections 2
 */
import { createHmac, randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { createConnection } from "node:net";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { build, functionUrl, LOCAL_SECRETS, PORTS, PROJECT_ID, ROOT, startStack } from "./lib/stack.mjs";
import { DEMO_PASSWORD, DEMO_TENANT, seed } from "./lib/seed.mjs";

const require = createRequire(join(ROOT, "functions/package.json"));
const autocannon = require("autocannon");

const { values: opts } = parseArgs({
  options: {
    duration: { type: "string", default: "15" },
    rate: { type: "string", default: "10" },
    connections: { type: "string", default: "2" },
  },
});
const DURATION = Number(opts.duration);
const RATE = Number(opts.rate);
const CONNECTIONS = Number(opts.connections);

const HOST = "127.0.0.1";
const functionsOrigin = `http://${HOST}:${PORTS.functions}`;
const localEnv = {
  GCLOUD_PROJECT: PROJECT_ID,
  FIRESTORE_EMULATOR_HOST: `${HOST}:${PORTS.firestore + 1}`,
  FIREBASE_AUTH_EMULATOR_HOST: `${HOST}:${PORTS.auth}`,
};

/** True when something listens on the functions emulator's port (a running stack). */
function listening(port) {
  return new Promise((done) => {
    const socket = createConnection({ host: HOST, port });
    socket.once("connect", () => (socket.destroy(), done(true)));
    socket.once("error", () => done(false));
  });
}

async function ownerToken() {
  const res = await fetch(
    `http://${HOST}:${PORTS.auth}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=demo-key`,
    {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "owner@demo.test", password: DEMO_PASSWORD, returnSecureToken: true }),
    },
  );
  const json = await res.json();
  if (!res.ok) throw new Error(`sign-in failed: ${JSON.stringify(json)}`);
  return json.idToken;
}

function signature(body) {
  const t = Math.floor(Date.now() / 1000);
  const secret = LOCAL_SECRETS.PAYMENT_WEBHOOK_SECRET;
  return `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")}`;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** One unmeasured request, so the measured run does not include the worker's cold start. */
async function warmUp(url, request) {
  const req = request.setupRequest ? request.setupRequest({ ...request }) : request;
  const res = await fetch(url, { method: req.method, headers: req.headers, body: req.body, signal: AbortSignal.timeout(120_000) });
  const text = await res.text();
  if (res.status === 200) request.onResponse?.(res.status, text);
  else console.log(`load: warm-up ${url.pathname} answered ${res.status}: ${text.slice(0, 200)}`);
}

/** Runs one scenario and returns its figures; `request` is an autocannon request spec. */
async function scenario(name, request) {
  const url = new URL(functionUrl(name));
  if (url.hostname !== HOST) throw new Error(`refusing to load a non-loopback host: ${url.hostname}`);
  await warmUp(url, request);
  const latencies = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: url.origin,
        connections: CONNECTIONS,
        overallRate: RATE,
        duration: DURATION,
        timeout: 30,
        requests: [{ ...request, path: url.pathname + (request.query ?? "") }],
      },
      (error, result) => {
        if (error) return reject(error);
        latencies.sort((a, b) => a - b);
        const byStatus = {};
        for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) byStatus[code] = count;
        resolve({
          name,
          requests: latencies.length,
          throughput: latencies.length / DURATION,
          p50: percentile(latencies, 50),
          p95: percentile(latencies, 95),
          p99: percentile(latencies, 99),
          byStatus,
          errors: result.errors,
          timeouts: result.timeouts,
        });
      },
    );
    instance.on("response", (_client, _status, _bytes, responseTime) => latencies.push(responseTime));
  });
}

let stack;
if (await listening(PORTS.functions)) {
  console.log(`load: using the stack already running on ${functionsOrigin}`);
} else {
  build();
  console.log(`load: starting a stack (STACK_PORT_OFFSET=${process.env.STACK_PORT_OFFSET ?? 0})`);
  stack = await startStack({ quiet: true, log: (line) => console.log(`load: ${line}`) });
}
const stop = async () => stack && (await stack.stop());
process.on("SIGINT", () => stop().then(() => process.exit(130)));

let failed = false;
try {
  await seed(stack?.env ?? localEnv);
  const token = await ownerToken();
  const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  const paymentIds = [];

  const results = [];
  results.push(await scenario("health", { method: "GET" }));
  results.push(await scenario("whoami", { method: "POST", headers: auth, body: JSON.stringify({ data: {} }) }));
  results.push(
    await scenario("createPayment", {
      method: "POST",
      headers: auth,
      setupRequest: (req) => ({
        ...req,
        body: JSON.stringify({ data: { amount: 1200, currency: "eur", idempotencyKey: randomUUID() } }),
      }),
      onResponse: (status, body) => {
        if (status === 200) paymentIds.push(JSON.parse(body).result.payment.id);
      },
    }),
  );
  if (paymentIds.length === 0) {
    throw new Error(`no payment was created (answers: ${JSON.stringify(results)})`);
  }
  let sent = 0;
  results.push(
    await scenario("paymentWebhook", {
      method: "POST",
      setupRequest: (req) => {
        const paymentId = paymentIds[sent++ % paymentIds.length];
        const id = `evt_${randomUUID().replace(/-/g, "")}`;
        const body = JSON.stringify({
          id,
          object: "event",
          type: "payment_intent.processing",
          created: Math.floor(Date.now() / 1000),
          data: {
            object: {
              id: `pi_${paymentId}`,
              object: "payment_intent",
              amount: 1200,
              currency: "eur",
              metadata: { tenantId: DEMO_TENANT, paymentId },
            },
          },
        });
        return { ...req, headers: { "content-type": "application/json", "stripe-signature": signature(body) }, body };
      },
    }),
  );

  const ms = (v) => `${v.toFixed(0)} ms`.padStart(8);
  console.log(`\nload: ${DURATION} s per scenario at ${RATE} req/s over ${CONNECTIONS} connections`);
  console.log("scenario        requests  req/s     p50      p95      p99  non-2xx");
  for (const r of results) {
    const non2xx = Object.entries(r.byStatus).filter(([code]) => !code.startsWith("2"));
    const extra = [...non2xx.map(([code, n]) => `${code}×${n}`), r.errors ? `errors×${r.errors}` : "", r.timeouts ? `timeouts×${r.timeouts}` : ""].filter(Boolean);
    console.log(
      `${r.name.padEnd(15)} ${String(r.requests).padStart(8)} ${r.throughput.toFixed(1).padStart(6)} ${ms(r.p50)} ${ms(r.p95)} ${ms(r.p99)}  ${extra.join(" ") || "none"}`,
    );
    const unexpected = Object.keys(r.byStatus).filter((code) => code !== "200");
    if (unexpected.length > 0 || r.errors > 0 || r.timeouts > 0 || r.requests === 0) failed = true;
  }
  if (failed) console.error("load: FAILED: some answers were not the expected 200");
} finally {
  await stop();
}
process.exit(failed ? 1 : 0);
