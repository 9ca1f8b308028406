/**
 * A functions worker dies in the middle of an idempotent call. The worker is a separate Node
 * process running a built function against the same emulators; its Firestore transactions are
 * made to hang, so the SIGKILL lands inside the handler's transaction, before any commit, every
 * time. The effect must still happen exactly once:
 *
 * - lease mode (getUploadUrl): the worker's claim is a RUNNING record; the client's retry is told
 *   the call is in flight, then takes the lease over once it expires and runs the handler once;
 * - transactional mode (createPayment): the claim rides in the handler's commit, so the killed
 *   worker leaves nothing behind and the retry simply runs.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { HttpsError } from "firebase-functions/v2/https";
import { createPayment } from "../../src/payments";
import { getUploadUrl } from "../../src/storage";
import { tenantDbFor } from "../../src/webhooks/store";
import { callAs, createTestUser, decode, seedTenant, type TestUser } from "../support/firebase";
import { useThrowawaySigner } from "../support/storage";
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
const call = JSON.parse(process.env.WORKER_CALL);
require(call.module)[call.fn].run({
  data: call.data,
  auth: { uid: call.token.uid, token: call.token, rawToken: call.idToken },
  rawRequest: { headers: { authorization: "Bearer " + call.idToken }, method: "POST" },
  acceptsStreaming: false,
});
`;

let owner: TestUser;
let tenantId: string;

beforeAll(async () => {
  useThrowawaySigner();
  owner = await createTestUser();
  tenantId = await seedTenant({ owner: { user: owner, roles: ["owner"] } });
}, 60_000);

/** Runs `fn` of `module` in a worker with `data` until it is inside its transaction, then kills it. */
async function killMidCall(module: string, fn: string, data: Record<string, unknown>, inspect: () => Promise<void>) {
  const worker = spawn(process.execPath, ["-e", WORKER], {
    cwd: FUNCTIONS_DIR,
    stdio: ["ignore", "pipe", "inherit"],
    env: {
      ...process.env,
      IDEMPOTENCY_LOCK_SECONDS: String(LEASE_SECONDS),
      WORKER_CALL: JSON.stringify({ module, fn, data, idToken: owner.idToken, token: await decode(owner.idToken) }),
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
    await inspect();
  } finally {
    worker.kill("SIGKILL");
    await exited;
  }
}

const idempotencyRecords = async () => (await tenantDbFor(tenantId).collection("idempotency").get()).docs;

it("lease mode: takes over the lease of a killed worker and creates the file record once", async () => {
  const data = { contentType: "application/pdf", size: 1000, name: "report.pdf", idempotencyKey: randomUUID() };
  await killMidCall("./lib/storage", "getUploadUrl", data, async () => {
    // Mid-call: the key is claimed by the worker and no effect has committed.
    const records = await idempotencyRecords();
    expect(records.map((d) => [d.get("state"), d.get("effectCommitted")])).toEqual([["RUNNING", undefined]]);
  });

  // The client retries at once: in flight, come back later.
  let inFlight = 0;
  let result: { fileId: string } | undefined;
  for (let attempt = 0; !result && attempt < 30; attempt++) {
    try {
      result = await callAs<{ fileId: string }>(getUploadUrl, owner, data);
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

  const files = await tenantDbFor(tenantId).collection("files").get();
  expect(files.docs.map((d) => d.id)).toEqual([result!.fileId]);
  const record = await eventually("the completed record", async () => {
    const docs = await idempotencyRecords();
    return docs[0]?.get("state") === "COMPLETED" ? docs[0] : undefined;
  });
  expect(record.get("takeovers")).toBe(1);
  // A further retry replays the same file.
  expect((await callAs<{ fileId: string }>(getUploadUrl, owner, data)).fileId).toBe(result!.fileId);
});

it("transactional mode: a worker killed inside its commit leaves nothing, and the retry creates the payment once", async () => {
  const data = { amount: 4200, currency: "eur", description: randomUUID(), idempotencyKey: randomUUID() };
  const before = (await idempotencyRecords()).length;
  await killMidCall("./lib/payments", "createPayment", data, async () => undefined);
  expect((await idempotencyRecords()).length).toBe(before);
  const payments = () =>
    tenantDbFor(tenantId).collection("payments").where("description", "==", data.description).get();
  expect((await payments()).size).toBe(0);

  const first = await callAs<{ payment: { id: string } }>(createPayment, owner, data);
  const again = await callAs<{ payment: { id: string } }>(createPayment, owner, data);
  expect(again.payment.id).toBe(first.payment.id);
  expect((await payments()).docs.map((d) => d.id)).toEqual([first.payment.id]);
});
