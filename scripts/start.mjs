/**
 * `npm start`: builds, starts the local stack, seeds a demo tenant and prints how to call it.
 * Ctrl-C stops everything this started.
 *
 * `npm start -- --redis` (or START_REDIS=1) also starts a local redis-server and points the
 * functions at it: rate limits on the redis store and the shared L2 cache. Without it no Redis runs.
 */
import { startRedis } from "./lib/redis.mjs";
import { build, FIRESTORE_OPS_PORT, functionUrl, PORTS, startStack } from "./lib/stack.mjs";
import { DEMO_PASSWORD, DEMO_TENANT, seed } from "./lib/seed.mjs";
import { startConsole } from "./lib/console.mjs";

build();
const redis = process.argv.includes("--redis") || process.env.START_REDIS === "1" ? await startRedis() : undefined;
const stack = await startStack(redis ? { params: { REDIS_URL: redis.url, RATE_LIMIT_STORE: "redis" } } : {}).catch(async (error) => {
  await redis?.stop();
  throw error;
});
let stopping = false;
let webConsole;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  console.log("\nstopping the local stack…");
  await webConsole?.stop();
  await stack.stop();
  await redis?.stop();
  process.exit(0);
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);

const users = await seed(stack.env);
webConsole = await startConsole(stack.env, { quiet: true });
const signIn = `http://127.0.0.1:${PORTS.auth}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=demo-key`;
console.log(`
Local stack ready.

  service      port   for
  auth         ${String(PORTS.auth).padEnd(6)} connectAuthEmulator(auth, "http://127.0.0.1:${PORTS.auth}")
  functions    ${String(PORTS.functions).padEnd(6)} connectFunctionsEmulator(functions, "127.0.0.1", ${PORTS.functions})
  firestore    ${String(PORTS.firestore).padEnd(6)} connectFirestoreEmulator(db, "127.0.0.1", ${PORTS.firestore})  (official emulator, firestore.rules enforced)
  firestore    ${String(FIRESTORE_OPS_PORT).padEnd(6)} FIRESTORE_EMULATOR_HOST for server SDKs (counts operations: GET /emulator/v1/projects/demo-saas-core/operations)
  pubsub       ${String(PORTS.pubsub).padEnd(6)} PUBSUB_EMULATOR_HOST (topic dead-letters)
  tasks        ${String(PORTS.tasks).padEnd(6)} Cloud Tasks emulator (task queue functions)
  storage      -      not available here: the Storage emulator's rules runtime is a download
  redis        ${redis ? `${String(redis.port).padEnd(6)} REDIS_URL=${redis.url}: rate limits on redis, shared L2 cache` : "-      not started: rate limits per instance (npm start -- --redis for the shared tier)"}

Demo tenant "${DEMO_TENANT}" with users (password ${DEMO_PASSWORD}):
${users.map((u) => `  ${u.email.padEnd(18)} ${u.roles.join(",")}`).join("\n")}

Web console (examples/console): ${webConsole.url}

Health:
  curl ${functionUrl("health")}

Call a function as the owner:
  TOKEN=$(curl -s '${signIn}' -H 'content-type: application/json' \\
    -d '{"email":"owner@demo.test","password":"${DEMO_PASSWORD}","returnSecureToken":true}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).idToken')
  curl -s ${functionUrl("whoami")} -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"data":{}}'

Press Ctrl-C to stop.`);
await new Promise(() => {});
