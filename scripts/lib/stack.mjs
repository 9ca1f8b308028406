/**
 * Starts and stops the local stack: the Firestore emulator (official when Java >= 21 and its jar
 * are present, otherwise tools/firestore-emulator) and the firebase-tools emulators for Auth,
 * Functions and Cloud Tasks (plus Pub/Sub and Storage with the official set).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
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

/** Builds the functions codebase and the Firestore emulator. */
export function build() {
  run("npm", ["run", "--silent", "build"], { cwd: join(ROOT, "tools/firestore-emulator") });
  run("npm", ["run", "--silent", "build"], { cwd: join(ROOT, "functions") });
}

function javaMajor() {
  const out = spawnSync("java", ["-version"], { encoding: "utf8" });
  const match = /version "(\d+)/.exec(`${out.stderr}${out.stdout}`);
  return match ? Number(match[1]) : 0;
}

function cachedJar(prefix) {
  const dir = join(homedir(), ".cache/firebase/emulators");
  return existsSync(dir) && readdirSync(dir).some((f) => f.startsWith(prefix) && f.endsWith(".jar"));
}

/** The official Cloud Firestore emulator shipped by the google-cloud-cli package, if installed. */
export function gcloudFirestoreJar() {
  const candidates = [
    process.env.CLOUDSDK_ROOT_DIR && join(process.env.CLOUDSDK_ROOT_DIR, "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"),
    "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar",
    "/usr/share/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar",
  ].filter(Boolean);
  return candidates.find((path) => existsSync(path));
}

/**
 * Starts the official Firestore emulator from the google-cloud-cli jar (it runs on Java 17) for
 * the security-rules suite, which our emulator cannot serve. Resolves to `{host, stop}` or null.
 */
export async function startRulesEmulator({ log = console.log } = {}) {
  const jar = gcloudFirestoreJar();
  if (!jar || javaMajor() === 0) return null;
  const port = (PORTS.firestore ?? 8080) + 100;
  if (await portOpen(port)) throw new Error(`port ${port} (rules emulator) is already in use`);
  const child = spawn("java", ["-cp", jar, "com.google.cloud.datastore.emulator.firestore.CloudFirestore", "start", `--host=${HOST}`, `--port=${port}`], {
    stdio: "ignore",
    detached: true,
  });
  await waitFor(() => portOpen(port), "the official Firestore emulator", 60_000);
  log(`rules: official Cloud Firestore emulator (${jar}) on ${HOST}:${port}`);
  return {
    host: `${HOST}:${port}`,
    stop: async () => {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        /* already gone */
      }
    },
  };
}

/** Which Firestore emulator to use, and what the choice leaves out. */
export function chooseFirestore() {
  const java = javaMajor();
  if (java >= 21 && cachedJar("cloud-firestore-emulator")) {
    return {
      kind: "official",
      line: `firestore: official Cloud Firestore emulator (Java ${java}); Pub/Sub and Storage emulators start where their jars are cached`,
    };
  }
  const why = java >= 21 ? "its jar is not cached and cannot be downloaded here" : `Java ${java || "none"} < 21`;
  return {
    kind: "tools",
    line: `firestore: tools/firestore-emulator (official emulator unavailable: ${why}); not available: security-rules evaluation, real-time listeners, Pub/Sub and Storage emulators`,
  };
}

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
function writeLocalConfig(withUi, test) {
  const secretFile = join(ROOT, "functions/.secret.local");
  writeFileSync(secretFile, Object.entries(LOCAL_SECRETS).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
  const envFile = join(ROOT, "functions/.env.local");
  writeFileSync(envFile, Object.entries(emulatorParams({ test })).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
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

/**
 * Starts the stack. Resolves once every emulator answers; `stop()` ends everything it started.
 * `log` receives one line per notable event.
 */
export async function startStack({ log = console.log, quiet = false, functions = true, test = false } = {}) {
  for (const [name, port] of Object.entries(PORTS)) {
    if (["ui", "pubsub", "storage", "logging", "hub"].includes(name)) continue;
    if (await portOpen(port)) throw new Error(`port ${port} (${name}) is already in use: stop the other stack first`);
  }
  const children = [];
  const firestore = chooseFirestore();
  log(firestore.line);
  const env = {
    ...process.env,
    FIRESTORE_EMULATOR_HOST: `${HOST}:${PORTS.firestore}`,
    GCLOUD_PROJECT: PROJECT_ID,
  };
  const stdio = quiet ? ["ignore", "ignore", "inherit"] : "inherit";
  if (firestore.kind === "tools") {
    children.push(
      spawn(process.execPath, [join(ROOT, "tools/firestore-emulator/dist/cli.js"), "--host", HOST, "--port", String(PORTS.firestore)], {
        stdio,
        detached: true,
      }),
    );
    await waitFor(() => portOpen(PORTS.firestore), "the Firestore emulator", 15_000);
  }
  const only = ["auth", "tasks", ...(functions ? ["functions"] : [])];
  if (firestore.kind === "official") only.push("firestore", ...(cachedJar("cloud-storage-rules") ? ["storage"] : []), ...(cachedJar("pubsub-emulator") ? ["pubsub"] : []));
  const withUi = existsSync(join(homedir(), ".cache/firebase/emulators")) && readdirSync(join(homedir(), ".cache/firebase/emulators")).some((f) => f.startsWith("ui-"));
  const configPath = writeLocalConfig(withUi, test);
  const firebaseBin = join(ROOT, "node_modules/firebase-tools/lib/bin/firebase.js");
  const firebaseProc = spawn(process.execPath, [firebaseBin, "emulators:start", "--only", only.join(","), "--project", PROJECT_ID, "--config", configPath], {
    stdio: ["ignore", "pipe", "inherit"],
    detached: true,
    env,
    cwd: ROOT,
  });
  children.push(firebaseProc);
  let ready = false;
  const readyPromise = new Promise((resolveReady, reject) => {
    let buffer = "";
    firebaseProc.stdout.on("data", (chunk) => {
      const text = chunk.toString();
      if (!quiet) process.stdout.write(text);
      buffer = (buffer + text).slice(-4000);
      if (!ready && buffer.includes("All emulators ready")) {
        ready = true;
        resolveReady();
      }
    });
    firebaseProc.once("exit", (code) => {
      if (!ready) reject(new Error(`firebase emulators exited with ${code} before becoming ready`));
    });
  });
  const stop = async () => {
    for (const child of children.reverse()) {
      if (child.exitCode !== null) continue;
      try {
        process.kill(-child.pid, "SIGINT");
      } catch {
        /* already gone */
      }
      const exited = await Promise.race([
        new Promise((r) => child.once("exit", () => r(true))),
        new Promise((r) => setTimeout(() => r(false), 10_000)),
      ]);
      if (!exited) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      }
    }
  };
  try {
    await Promise.race([readyPromise, new Promise((_, reject) => setTimeout(() => reject(new Error("emulators did not start within 120 s")), 120_000))]);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    firestore: firestore.kind,
    env: {
      GCLOUD_PROJECT: PROJECT_ID,
      FIRESTORE_EMULATOR_HOST: `${HOST}:${PORTS.firestore}`,
      FIREBASE_AUTH_EMULATOR_HOST: `${HOST}:${PORTS.auth}`,
      CLOUD_TASKS_EMULATOR_HOST: `${HOST}:${PORTS.tasks}`,
      FUNCTIONS_EMULATOR_ORIGIN: `http://${HOST}:${PORTS.functions}`,
    },
    stop,
  };
}

/** The URL of a function in the functions emulator. */
export function functionUrl(name, region = "us-central1") {
  return `http://${HOST}:${PORTS.functions}/${PROJECT_ID}/${region}/${name}`;
}
