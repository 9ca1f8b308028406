import assert from "node:assert/strict";
import { test } from "node:test";
import { FunctionsError } from "firebase/functions";
import { idempotent, retryDelayMs } from "../../src/idempotent.js";

const err = (code: string, details?: unknown) => new FunctionsError(code as never, "message", details);

/** A callable stand-in that fails with `failures` in turn, then succeeds; records each input. */
function flaky(failures: Error[]) {
  const inputs: { idempotencyKey?: string }[] = [];
  const fn = async (_client: null, input: { idempotencyKey?: string }) => {
    inputs.push(input);
    const next = failures.shift();
    if (next) throw next;
    return "done";
  };
  return { fn, inputs };
}

test("retries on the documented retryable codes with one key for the whole action", async () => {
  const waits: number[] = [];
  const { fn, inputs } = flaky([
    err("aborted", { reason: "idempotency-request-in-flight", retryAfterSeconds: 1 }),
    err("resource-exhausted", { retryAfterSeconds: 2 }),
    err("unavailable"),
  ]);
  const result = await idempotent(
    null,
    fn,
    { amount: 1 },
    { sleep: async (ms) => void waits.push(ms), baseDelayMs: 100 },
  );
  assert.equal(result, "done");
  assert.equal(inputs.length, 4);
  assert.equal(new Set(inputs.map((i) => i.idempotencyKey)).size, 1);
  assert.match(inputs[0].idempotencyKey!, /^[0-9a-f-]{36}$/);
  assert.deepEqual(waits, [1000, 2000, 400]);
});

test("never retries a refused input, permission or precondition", async () => {
  for (const error of [
    err("invalid-argument", { fields: { amount: ["Too small"] } }),
    err("permission-denied"),
    err("failed-precondition", { reason: "idempotency-key-reused" }),
    err("resource-exhausted", { reason: "too-many-roles" }),
    new TypeError("not a server error"),
  ]) {
    const { fn, inputs } = flaky([error]);
    await assert.rejects(idempotent(null, fn, {}, { sleep: async () => undefined }), error);
    assert.equal(inputs.length, 1);
  }
});

test("gives up after the attempts, and on a wait longer than maxDelayMs (a lockout)", async () => {
  const { fn, inputs } = flaky([err("unavailable"), err("unavailable"), err("unavailable")]);
  await assert.rejects(idempotent(null, fn, {}, { attempts: 2, sleep: async () => undefined }));
  assert.equal(inputs.length, 2);
  const locked = flaky([err("resource-exhausted", { reason: "mfa-locked-out", retryAfterSeconds: 900 })]);
  await assert.rejects(idempotent(null, locked.fn, {}, { sleep: async () => undefined }));
  assert.equal(locked.inputs.length, 1);
});

test("reuses a given key, as for a repeated click", async () => {
  const { fn, inputs } = flaky([]);
  await idempotent(null, fn, {}, { key: "order-42" });
  assert.equal(inputs[0].idempotencyKey, "order-42");
  assert.equal(retryDelayMs(err("deadline-exceeded"), 3, 10), 80);
});
