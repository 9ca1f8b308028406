import assert from "node:assert/strict";
import { test } from "node:test";
import { IDBFactory } from "fake-indexeddb";
import { inProcessLock, refreshLock } from "../../src/lock.js";
import { indexedDbStorage, memoryStorage, type SessionStorage } from "../../src/storage.js";

const session = (n: number) => ({
  sessionId: "s1",
  refreshToken: `token-${n}`,
  mfa: false,
  expiresAt: "2030-01-01T00:00:00.000Z",
  idleExpiresAt: "2030-01-01T00:00:00.000Z",
});

async function keepsOnlyTheNewest(storage: SessionStorage) {
  assert.equal(await storage.get(), null);
  await storage.set(session(1));
  await storage.set(session(2));
  assert.deepEqual(await storage.get(), session(2));
  await storage.clear();
  assert.equal(await storage.get(), null);
}

test("memory storage keeps only the newest token", () => keepsOnlyTheNewest(memoryStorage()));

test("IndexedDB storage keeps only the newest token, shared by every handle on the database", async () => {
  const indexedDB = new IDBFactory();
  await keepsOnlyTheNewest(indexedDbStorage({ indexedDB }));
  await indexedDbStorage({ indexedDB, name: "shared" }).set(session(3));
  assert.deepEqual(await indexedDbStorage({ indexedDB, name: "shared" }).get(), session(3));
});

test("the in-process lock runs one holder at a time, in order, and survives a failing holder", async () => {
  const lock = inProcessLock("unit");
  const events: string[] = [];
  const holder = (name: string, fail = false) =>
    lock.run(async () => {
      events.push(`${name}:in`);
      await new Promise((resolve) => setImmediate(resolve));
      events.push(`${name}:out`);
      if (fail) throw new Error(name);
      return name;
    });
  const results = await Promise.allSettled([holder("a"), holder("b", true), holder("c")]);
  assert.deepEqual(events, ["a:in", "a:out", "b:in", "b:out", "c:in", "c:out"]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["fulfilled", "rejected", "fulfilled"],
  );
});

test("refreshLock uses the Web Locks manager it is given", async () => {
  const requested: string[] = [];
  const locks = {
    request: <T>(name: string, _options: { mode: "exclusive" }, fn: () => Promise<T>) => {
      requested.push(name);
      return fn();
    },
  };
  assert.equal(await refreshLock("tabs", locks).run(async () => 7), 7);
  assert.deepEqual(requested, ["tabs"]);
});
