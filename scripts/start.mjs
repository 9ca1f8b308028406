/**
 * `npm start`: builds, starts the local stack, seeds a demo tenant and prints how to call it.
 * Ctrl-C stops everything this started.
 */
import { build, functionUrl, PORTS, startStack } from "./lib/stack.mjs";
import { DEMO_PASSWORD, DEMO_TENANT, seed } from "./lib/seed.mjs";

build();
const stack = await startStack();
let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  console.log("\nstopping the local stack…");
  await stack.stop();
  process.exit(0);
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);

const users = await seed(stack.env);
const signIn = `http://127.0.0.1:${PORTS.auth}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=demo-key`;
console.log(`
Local stack ready (Firestore: ${stack.firestore === "tools" ? "tools/firestore-emulator" : "official emulator"}).

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
