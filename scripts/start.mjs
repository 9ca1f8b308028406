/**
 * `npm start`: builds, starts the local stack, seeds a demo tenant and prints how to call it.
 * Ctrl-C stops everything this started.
 *
 * `npm start -- --redis` (or START_REDIS=1) also starts a local redis-server and points the
 * functions at it: rate limits on the redis store and the shared L2 cache. Without it no Redis runs.
 */
import { startRedis } from "./lib/redis.mjs";
import { build, functionUrl, PORTS, startStack } from "./lib/stack.mjs";
import { DEMO_PASSWORD, DEMO_TENANT, seed } from "./lib/seed.mjs";

build();
const redis = process.argv.includes("--redis") || process.env.START_REDIS === "1" ? await startRedis() : undefined;
const stack = await startStack(redis ? { params: { REDIS_URL: redis.url, RATE_LIMIT_STORE: "redis" } } : {}).catch(async (error) => {
  await redis?.stop();
  throw error;
});
let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  console.log("\nstopping the local stack…");
  await stack.stop();
  await redis?.stop();
  process.exit(0);
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);

const users = await seed(stack.env);
const signIn = `http://127.0.0.1:${PORTS.auth}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=demo-key`;
console.log(`
Local stack ready (Firestore: ${stack.firestore === "tools" ? "tools/firestore-emulator" : "official emulator"}; ${redis ? `Redis: ${redis.url}, rate limits on redis` : "no Redis: rate limits per instance (npm start -- --redis for the shared tier)"}).

Demo tenant "${DEMO_TENANT}" with users (password ${DEMO_PASSWORD}):
${users.map((u) => `  ${u.email.padEnd(18)} ${u.roles.join(",")}`).join("\n")}

Health:
  curl ${functionUrl("health")}

Call a function as the owner:
  TOKEN=$(curl -s '${signIn}' -H 'content-type: application/json' \\
    -d '{"email":"owner@demo.test","password":"${DEMO_PASSWORD}","returnSecureToken":true}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).idToken')
  curl -s ${functionUrl("whoami")} -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"data":{}}'

Press Ctrl-C to stop.`);
await new Promise(() => {});
