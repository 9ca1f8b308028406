/**
 * A functions worker dies in the middle of an idempotent call. The worker is a separate Node
 * process running the built createPayment function against the same emulators; it claims the
 * idempotency key, enters the payment transaction, and is SIGKILLed there (its transaction is
 * made to hang, so the kill lands after the claim and before the commit every time). The
 * client's retry must be told the call is in flight, then take the lease over once it expires,
 * and the payment must exist exactly once.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { HttpsError } from "firebase-functions/v2/https";
import { createPayment } from "../../src/payments";
import { tenantDbFor } from "../../src/webhooks/store";
import { callAs, createTestUser, decode, seedTenant, type TestUser } from "../support/firebase";
import { eventually, sleep } from "./support";

jest.setTimeout(3 * 60_000);

const FUNCTIONS_DIR = join(__dirname, "../..");
const LEASE_SECONDS = 4;

// The worker: the built codebase, with Firestore transactions that never finish.
const WORKER = `
const { Firestore } = require("firebase-admin/firestore");
Firestore.prototype.runTransaction = function () {
  process.stdout.write("in-transaction\\n");
  return new Promise(() => {});
};
require("./lib/platform/config").applyParamDefaults();
const { createPayment } = require("./lib/payments");
const call = JSON.parse(process.env.WORKER_CALL);
createPayment.run({
  data: call.data,
  auth: { uid: call.token.uid, token: call.token, rawToken: call.idToken },
  rawRequest: { headers: { authorization: "Bearer " + call.idToken }, method: "POST" },
  acceptsStreaming: false,
});
`;

let owner: TestUser;
let tenantId: string;

beforeAll(async () => {
  owner = await createTestUser();
  tenantId = await seedTenant({ owner: { user: owner, roles: ["owner"] } });
}, 60_000);

it("takes over the lease of a killed worker and creates the payment once", async () => {
  const data = { amount: 4200, currency: "eur", idempotencyKey: randomUUID() };
  const worker = spawn(process.execPath, ["-e", WORKER], {
    cwd: FUNCTIONS_DIR,
    stdio: ["ignore", "pipe", "inherit"],
    env: {
      ...process.env,
      IDEMPOTENCY_LOCK_SECONDS: String(LEASE_SECONDS),
      WORKER_CALL: JSON.stringify({ data, idToken: owner.idToken, token: await decode(owner.idToken) }),
    },
  });
  const exited = new Promise((r) => worker.once("exit", r));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the worker never reached its transaction")), 90_000);
      worker.stdout!.on("data", (chunk: Buffer) => {
        if (!chunk.toString().includes("in-transaction")) return;
        clearTimeout(timer);
        resolve();
      });
    });
    // Mid-call: the key is claimed by the worker and no effect has committed.
    const records = await tenantDbFor(tenantId).collection("idempotency").get();
    expect(records.docs.map((d) => [d.get("state"), d.get("effectCommitted")])).toEqual([["RUNNING", undefined]]);
  } finally {
    worker.kill("SIGKILL");
    await exited;
  }

  // The client retries at once: in flight, come back later.
  let inFlight = 0;
  let result: { payment: { id: string } } | undefined;
  for (let attempt = 0; !result && attempt < 30; attempt++) {
    try {
      result = await callAs<{ payment: { id: string } }>(createPayment, owner, data);
    } catch (error) {
      expect(error).toBeInstanceOf(HttpsError);
      expect((error as HttpsError).code).toBe("aborted");
      expect((error as HttpsError).details).toMatchObject({ reason: "idempotency-request-in-flight" });
      inFlight += 1;
      await sleep(1000);
    }
  }
  expect(inFlight).toBeGreaterThan(0);
  expect(result).toBeDefined();

  const payments = await tenantDbFor(tenantId).collection("payments").get();
  expect(payments.docs.map((d) => d.id)).toEqual([result!.payment.id]);
  const record = await eventually("the completed record", async () => {
    const docs = (await tenantDbFor(tenantId).collection("idempotency").get()).docs;
    return docs[0]?.get("state") === "COMPLETED" ? docs[0] : undefined;
  });
  expect(record.get("takeovers")).toBe(1);
  // A further retry replays the same payment.
  expect((await callAs<{ payment: { id: string } }>(createPayment, owner, data)).payment.id).toBe(result!.payment.id);
});
