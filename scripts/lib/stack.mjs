/**
 * Starts and stops the local stack: the official Cloud Firestore and Pub/Sub emulators from the
 * google-cloud-cli packages (started here, since firebase-tools wants Java 21 for its own), a
 * counting proxy in front of Firestore for the server SDKs' operation log, and firebase-tools'
 * Auth, Functions and Cloud Tasks emulators.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const PROJECT_ID = "demo-saas-core";
const FIREBASE_JSON = JSON.parse(readFileSync(join(ROOT, "firebase.json"), "utf8"));
// STACK_PORT_OFFSET shifts every port, so a second stack (e.g. a CI check) can run beside one
// that is already up.
const PORT_OFFSET = Number(process.env.STACK_PORT_OFFSET ?? 0);
export const PORTS = Object.fromEntries(
  Object.entries(FIREBASE_JSON.emulators)
    .filter(([, v]) => typeof v === "object" && v.port)
    .map(([k, v]) => [k, v.port + PORT_OFFSET]),
);
const HOST = "127.0.0.1";
/** Where a quiet stack's emulators write their output, one `{name}.log` each. */
export const LOG_DIR = join(ROOT, ".firebase/logs");

/** Local-only secret values for the emulator (never used in a deployment). */
export const LOCAL_SECRETS = {
  DATA_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString("base64"),
  PAYMENT_WEBHOOK_SECRET: "whsec_test_provider_secret",
  OPERATOR_TOKEN: "test-operator-token",
};

/** Runs a command to completion, inheriting stdio; throws on failure. */
export function run(cmd, args, opts = {}) {
  const result = spawnSync(cmd, args, { stdio: "inherit", cwd: ROOT, ...opts });
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed with ${result.status}`);
}

/** Builds the functions codebase. */
export function build() {
  run("npm", ["run", "--silent", "build"], { cwd: join(ROOT, "functions") });
}

function javaMajor() {
  const out = spawnSync("java", ["-version"], { encoding: "utf8" });
  const match = /version "(\d+)/.exec(`${out.stderr}${out.stdout}`);
  return match ? Number(match[1]) : 0;
}

/** Where the google-cloud-cli packages put their emulators. */
function gcloudPlatform(path) {
  const roots = [process.env.CLOUDSDK_ROOT_DIR, "/usr/lib/google-cloud-sdk", "/usr/share/google-cloud-sdk"].filter(Boolean);
  return roots.map((root) => join(root, "platform", path)).find((candidate) => existsSync(candidate));
}

/**
 * The official emulators this stack needs, from the preinstalled google-cloud-cli packages.
 * firebase-tools refuses Java < 21 for its own copies of these (and would download them), so the
 * stack starts the jars itself; they run on Java 17.
 */
export function officialEmulators() {
  const firestoreJar = gcloudPlatform("cloud-firestore-emulator/cloud-firestore-emulator.jar");
  const pubsubJar = gcloudPlatform("pubsub-emulator/lib")
    ? readdirSync(gcloudPlatform("pubsub-emulator/lib"))
        .filter((f) => f.startsWith("cloud-pubsub-emulator-") && f.endsWith(".jar"))
        .map((f) => join(gcloudPlatform("pubsub-emulator/lib"), f))[0]
    : undefined;
  const java = javaMajor();
  const missing = [
    !java && "Java (17 or newer)",
    !firestoreJar && "the Cloud Firestore emulator (apt package google-cloud-cli-firestore-emulator)",
    !pubsubJar && "the Pub/Sub emulator (apt package google-cloud-cli-pubsub-emulator)",
  ].filter(Boolean);
  if (missing.length > 0) throw new Error(`the local stack needs ${missing.join(", ")}`);
  return { java, firestoreJar, pubsubJar };
}

/** The port of the operation-counting proxy in front of the Firestore emulator (server SDKs). */
export const FIRESTORE_OPS_PORT = PORTS.firestore + 1;

/** What the stack runs, as one line per service for the start banner and test summaries. */
export function describeStack(java) {
  return [
    `firestore: official Cloud Firestore emulator (google-cloud-cli, Java ${java}) on ${HOST}:${PORTS.firestore} with firestore.rules; clients connect here`,
    `firestore: operation-counting proxy for the server SDKs (functions, tests, benchmarks) on ${HOST}:${FIRESTORE_OPS_PORT}`,
    `pubsub: official Pub/Sub emulator (google-cloud-cli) on ${HOST}:${PORTS.pubsub}, topic ${DEAD_LETTER_TOPIC}`,
    `auth, functions, tasks: firebase-tools emulators on ${PORTS.auth}, ${PORTS.functions}, ${PORTS.tasks}`,
    "storage: not available (the Storage emulator's rules runtime is a download, unreachable here); signed URLs are verified by signature instead",
  ];
}

const DEAD_LETTER_TOPIC = "dead-letters";

function portOpen(port) {
  return new Promise((done) => {
    const socket = createConnection({ host: HOST, port });
    socket.once("connect", () => (socket.destroy(), done(true)));
    socket.once("error", () => done(false));
  });
}

async function waitFor(check, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Param overrides for the emulator (functions/.env.local, read only by the emulator): http
 * receivers on loopback, short Cloud Tasks backoff, bounded task concurrency. Tests also turn on
 * the emulator-only fault-injection hook that the webhook retry test exercises.
 */
export function emulatorParams({ test = false } = {}) {
  return {
    WEBHOOK_ALLOW_HTTP: "true",
    WEBHOOK_MIN_BACKOFF_SECONDS: "1",
    WEBHOOK_MAX_BACKOFF_SECONDS: "4",
    WEBHOOK_TASK_CONCURRENCY: "4",
    WEBHOOK_FAULT_INJECTION_PERCENT: test ? "30" : "0",
    JOB_MIN_BACKOFF_SECONDS: "1",
    JOB_MAX_BACKOFF_SECONDS: "2",
    JOB_TASK_CONCURRENCY: "4",
  };
}

/** Writes the emulator-only config: local secrets, params, and a firebase.json variant without the UI download. */
function writeLocalConfig(withUi, test, params = {}) {
  const secretFile = join(ROOT, "functions/.secret.local");
  writeFileSync(secretFile, Object.entries(LOCAL_SECRETS).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
  const envFile = join(ROOT, "functions/.env.local");
  writeFileSync(envFile, Object.entries({ ...emulatorParams({ test }), ...params }).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
  const config = structuredClone(FIREBASE_JSON);
  // firebase-tools resolves paths against the config file's directory (.firebase/).
  config.functions = config.functions.map((f) => ({ ...f, source: `../${f.source}`, predeploy: undefined }));
  config.firestore = { rules: "../firestore.rules", indexes: "../firestore.indexes.json" };
  config.storage = { rules: "../storage.rules" };
  for (const [name, port] of Object.entries(PORTS)) config.emulators[name].port = port;
  if (!withUi) config.emulators.ui = { enabled: false };
  mkdirSync(join(ROOT, ".firebase"), { recursive: true });
  const path = join(ROOT, ".firebase/firebase.local.json");
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/** Starts a detached child (its own process group, so stop() ends what it spawned too). */
function startChild(cmd, args, { stdio, env = process.env } = {}) {
  return spawn(cmd, args, { stdio, detached: true, env, cwd: ROOT });
}

/** Ends children in reverse start order: SIGINT, then SIGKILL after 10 s. */
async function stopChildren(children) {
  for (const child of [...children].reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((r) => child.once("exit", () => r(true)));
    try {
      process.kill(-child.pid, "SIGINT");
    } catch {
      continue;
    }
    if (!(await Promise.race([exited, new Promise((r) => setTimeout(() => r(false), 10_000))]))) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
  }
}

/** Creates the dead-letter topic in the Pub/Sub emulator, as an operator does once per project. */
async function createTopic(topic) {
  const res = await fetch(`http://${HOST}:${PORTS.pubsub}/v1/projects/${PROJECT_ID}/topics/${topic}`, { method: "PUT" });
  if (!res.ok && res.status !== 409) throw new Error(`creating Pub/Sub topic ${topic} failed: ${res.status}`);
}

/**
 * Starts the stack: the official Firestore emulator (rules loaded) with the operation-counting
 * proxy in front of it for server SDKs, the official Pub/Sub emulator, then firebase-tools' Auth,
 * Functions and Cloud Tasks emulators. Resolves once every emulator answers; `stop()` ends
 * everything it started. `log` receives one line per notable event.
 */
export async function startStack({ log = console.log, quiet = false, functions = true, test = false, params = {} } = {}) {
  const own = { firestore: PORTS.firestore, firestoreOps: FIRESTORE_OPS_PORT, pubsub: PORTS.pubsub, auth: PORTS.auth, tasks: PORTS.tasks, hub: PORTS.hub, ...(functions ? { functions: PORTS.functions } : {}) };
  for (const [name, port] of Object.entries(own)) {
    if (await portOpen(port)) throw new Error(`port ${port} (${name}) is already in use: stop the other stack first, or set STACK_PORT_OFFSET`);
  }
  const { java, firestoreJar, pubsubJar } = officialEmulators();
  for (const line of describeStack(java)) log(line);
  // Quiet stacks log to files, not pipes: a parent busy in spawnSync (the test runner) reads no
  // pipe, and a child whose pipe fills stops mid-write.
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = (name) => join(LOG_DIR, `${name}.log`);
  const output = (name) => {
    if (!quiet) return ["ignore", "inherit", "inherit"];
    const fd = openSync(logFile(name), "w");
    return ["ignore", fd, fd];
  };
  const children = [];
  let ready = false;
  let stopping = false;
  // Once the stack is up, a child that ends on its own is reported; the tests would only see refusals.
  const watched = (name, child) => {
    child.once("exit", (code, signal) => {
      if (!stopping && ready) log(`${name} exited unexpectedly (${signal ?? `code ${code}`})${quiet ? `; its log is in ${LOG_DIR}` : ""}`);
    });
    return child;
  };
  const firestoreHost = `${HOST}:${PORTS.firestore}`;
  const opsHost = `${HOST}:${FIRESTORE_OPS_PORT}`;
  try {
    children.push(
      watched(
        "the Firestore emulator",
        startChild(
          "java",
          [
            "-cp",
            firestoreJar,
            "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
            "start",
            `--host=${HOST}`,
            `--port=${PORTS.firestore}`,
            `--rules=${join(ROOT, "firestore.rules")}`,
            `--functions_emulator=${HOST}:${PORTS.functions}`,
          ],
          { stdio: quiet ? output("firestore-emulator") : "ignore" },
        ),
      ),
      watched("the Pub/Sub emulator", startChild("java", ["-jar", pubsubJar, `--host=${HOST}`, `--port=${PORTS.pubsub}`], { stdio: quiet ? output("pubsub-emulator") : "ignore" })),
      watched(
        "the Firestore operation proxy",
        startChild(process.execPath, [join(ROOT, "scripts/lib/firestore-ops-proxy.mjs"), "--port", String(FIRESTORE_OPS_PORT), "--upstream", firestoreHost], { stdio: output("firestore-ops-proxy") }),
      ),
    );
    await Promise.all([
      waitFor(() => portOpen(PORTS.firestore), "the Firestore emulator", 60_000),
      waitFor(() => portOpen(PORTS.pubsub), "the Pub/Sub emulator", 60_000),
      waitFor(() => portOpen(FIRESTORE_OPS_PORT), "the Firestore operation proxy", 15_000),
    ]);
    await createTopic(DEAD_LETTER_TOPIC);
  } catch (error) {
    await stopChildren(children);
    throw error;
  }

  const env = {
    GCLOUD_PROJECT: PROJECT_ID,
    // Server SDKs go through the counting proxy; clients (web SDK, rules tests) use FIRESTORE_CLIENT_HOST.
    FIRESTORE_EMULATOR_HOST: opsHost,
    FIRESTORE_CLIENT_HOST: firestoreHost,
    PUBSUB_EMULATOR_HOST: `${HOST}:${PORTS.pubsub}`,
    FIREBASE_AUTH_EMULATOR_HOST: `${HOST}:${PORTS.auth}`,
    CLOUD_TASKS_EMULATOR_HOST: `${HOST}:${PORTS.tasks}`,
    FUNCTIONS_EMULATOR_ORIGIN: `http://${HOST}:${PORTS.functions}`,
  };
  const only = ["auth", "tasks", ...(functions ? ["functions"] : [])];
  const uiCache = join(homedir(), ".cache/firebase/emulators");
  const withUi = existsSync(uiCache) && readdirSync(uiCache).some((f) => f.startsWith("ui-"));
  const configPath = writeLocalConfig(withUi, test, params);
  const firebaseBin = join(ROOT, "node_modules/firebase-tools/lib/bin/firebase.js");
  const firebaseProc = watched("the firebase-tools emulators", spawn(process.execPath, [firebaseBin, "emulators:start", "--only", only.join(","), "--project", PROJECT_ID, "--config", configPath], {
    stdio: quiet ? output("firebase-emulators") : ["ignore", "pipe", "inherit"],
    detached: true,
    env: { ...process.env, FIRESTORE_EMULATOR_HOST: opsHost, PUBSUB_EMULATOR_HOST: env.PUBSUB_EMULATOR_HOST, GCLOUD_PROJECT: PROJECT_ID },
    cwd: ROOT,
  }));
  children.push(firebaseProc);
  const readyPromise = new Promise((resolveReady, reject) => {
    const isReady = (text) => {
      if (!ready && text.includes("All emulators ready")) {
        ready = true;
        resolveReady();
      }
      return ready;
    };
    if (quiet) {
      waitFor(() => isReady(readFileSync(logFile("firebase-emulators"), "utf8")), "firebase emulators", 120_000).catch(() => {});
    } else {
      let buffer = "";
      firebaseProc.stdout.on("data", (chunk) => {
        const text = chunk.toString();
        process.stdout.write(text);
        buffer = (buffer + text).slice(-4000);
        isReady(buffer);
      });
    }
    firebaseProc.once("exit", (code) => {
      if (!ready) reject(new Error(`firebase emulators exited with ${code} before becoming ready`));
    });
  });
  const stop = () => {
    stopping = true;
    return stopChildren(children);
  };
  try {
    await Promise.race([readyPromise, new Promise((_, reject) => setTimeout(() => reject(new Error("emulators did not start within 120 s")), 120_000))]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { env, stop, children, java };
}

/** The URL of a function in the functions emulator. */
export function functionUrl(name, region = "us-central1") {
  return `http://${HOST}:${PORTS.functions}/${PROJECT_ID}/${region}/${name}`;
}
