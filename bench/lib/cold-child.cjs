// One cold start: load a codebase and serve one callable, then print the milliseconds to loaded and to answered.
// argv[2] = "product" (functions/lib/index.js) or "baseline" (firebase-functions + firebase-admin only).
const started = process.hrtime.bigint();
const path = require("node:path");
const functionsDir = path.resolve(__dirname, "../../functions");
const load = (m) => require(require.resolve(m, { paths: [functionsDir] }));

async function main() {
  let fn;
  if (process.argv[2] === "product") {
    // Params get their declared defaults, as the Firebase CLI provides them in a deployment.
    require(path.join(functionsDir, "lib/platform/config.js")).applyParamDefaults();
    fn = require(path.join(functionsDir, "lib/index.js")).whoami;
  } else {
    const { onCall } = load("firebase-functions/v2/https");
    const { initializeApp } = load("firebase-admin/app");
    initializeApp();
    // Deployed, onCall verifies the caller's ID token with firebase-admin/auth before any handler
    // runs; `run()` below skips that check, so the baseline loads what it would.
    load("firebase-admin/auth").getAuth();
    fn = onCall(async (request) => ({ uid: request.auth && request.auth.uid }));
  }
  const loaded = process.hrtime.bigint();
  const result = await fn.run({
    data: {},
    auth: { uid: "bench-user", token: { uid: "bench-user" } },
    rawRequest: { headers: {} },
    acceptsStreaming: false,
  });
  if (!result || result.uid !== "bench-user") throw new Error("unexpected result");
  // On a line of its own: the product's request log line goes to stdout too.
  process.stdout.write(`\n${Number(loaded - started) / 1e6} ${Number(process.hrtime.bigint() - started) / 1e6}\n`);
  // Measured; do not wait for the metrics aggregator's first flush (a Firestore write) to end.
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
