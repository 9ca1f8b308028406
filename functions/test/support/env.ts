/**
 * Emulator environment for integration and end-to-end tests. `npm test` sets these; running
 * jest by hand against an already started stack falls back to the fixed ports in firebase.json.
 */
process.env.GCLOUD_PROJECT ??= "demo-saas-core";
// Server SDKs use the operation-counting proxy; clients (web SDK, rules) the emulator itself.
process.env.FIRESTORE_EMULATOR_HOST ??= "127.0.0.1:8081";
process.env.FIRESTORE_CLIENT_HOST ??= "127.0.0.1:8080";
process.env.PUBSUB_EMULATOR_HOST ??= "127.0.0.1:8085";
process.env.FIRESTORE_EMULATOR_JAR ??=
  "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar";
process.env.FIREBASE_AUTH_EMULATOR_HOST ??= "127.0.0.1:9099";
process.env.CLOUD_TASKS_EMULATOR_HOST ??= "127.0.0.1:9499";
process.env.FUNCTIONS_EMULATOR_ORIGIN ??= "http://127.0.0.1:5001";
// Secrets as the emulator would provide them from .secret.local (test values only).
process.env.DATA_ENCRYPTION_KEY ??= Buffer.alloc(32, 7).toString("base64");
process.env.PAYMENT_WEBHOOK_SECRET ??= "whsec_test_provider_secret";
process.env.OPERATOR_TOKEN ??= "test-operator-token";

// eslint-disable-next-line @typescript-eslint/no-require-imports
(require("../../src/platform/config") as typeof import("../../src/platform/config")).applyParamDefaults();
