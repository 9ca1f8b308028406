/**
 * The operation log the cost and isolation proofs rest on (scripts/lib/firestore-ops-proxy.mjs in
 * front of the official emulator): it must bill as Firestore does, or every "1 read + 1 write"
 * claim in the other suites proves nothing.
 */
import { randomUUID } from "node:crypto";
import http2 from "node:http2";
import { rootFirestore } from "../../src/platform/admin";
import { countOps } from "../support/firebase";

const db = () => rootFirestore();
const base = () => `opslog/${randomUUID().slice(0, 8)}/c`;

describe("the Firestore operation log", () => {
  it("bills one write per committed write and one delete per delete, with their paths", async () => {
    const root = base();
    const { ops } = await countOps(async () => {
      const batch = db().batch();
      batch.set(db().doc(`${root}/1`), { n: 1 });
      batch.set(db().doc(`${root}/2`), { n: 2 });
      batch.delete(db().doc(`${root}/3`));
      await batch.commit();
    });
    expect({ reads: ops.reads, writes: ops.writes, deletes: ops.deletes }).toEqual({ reads: 0, writes: 2, deletes: 1 });
    expect(ops.log.map((e) => `${e.kind} ${e.path}`)).toEqual([
      `write ${root}/1`,
      `write ${root}/2`,
      `delete ${root}/3`,
    ]);
  });

  it("does not bill a write the emulator refused (create of an existing document)", async () => {
    const path = `${base()}/doc`;
    await db().doc(path).create({ n: 1 });
    const { ops } = await countOps(() =>
      db()
        .doc(path)
        .create({ n: 2 })
        .catch((e: { code: number }) => e.code),
    );
    expect(ops.writes).toBe(0);
    expect(ops.reads).toBe(0);
  });

  it("bills a read per document a query returns, and one read for an empty result", async () => {
    const root = base();
    await db().doc(`${root}/1/q/1`).set({ n: 1 });
    await db().doc(`${root}/1/q/2`).set({ n: 2 });
    const full = await countOps(() => db().collection(`${root}/1/q`).get());
    expect(full.result.size).toBe(2);
    expect(full.ops.reads).toBe(2);
    const empty = await countOps(() => db().collection(`${root}/1/none`).get());
    expect(empty.ops.reads).toBe(1);
    expect(empty.ops.log[0].path).toBe(`${root}/1/none`);
  });

  it("bills a read for a missing document and marks reads inside transactions", async () => {
    const root = base();
    const { ops } = await countOps(() =>
      db().runTransaction(async (tx) => {
        const snap = await tx.get(db().doc(`${root}/missing`));
        tx.set(db().doc(`${root}/written`), { existed: snap.exists });
      }),
    );
    expect(ops.log.map((e) => [e.kind, e.path, e.transaction])).toEqual([
      ["read", `${root}/missing`, true],
      ["write", `${root}/written`, true],
    ]);
  });

  it("bills a contended transaction's retries as the extra reads they are", async () => {
    const path = `${base()}/counter`;
    await db().doc(path).set({ n: 0 });
    const { ops } = await countOps(() =>
      Promise.all(
        Array.from({ length: 5 }, () =>
          db().runTransaction(async (tx) => {
            const n = (await tx.get(db().doc(path))).get("n") as number;
            tx.update(db().doc(path), { n: n + 1 });
          }),
        ),
      ),
    );
    expect((await db().doc(path).get()).get("n")).toBe(5);
    // Exactly five commits landed; every attempt read once.
    expect(ops.writes).toBe(5);
    expect(ops.reads).toBeGreaterThanOrEqual(5);
    // The official emulator resolves contention with lock waits and aborts: seconds, not ms.
  }, 60_000);

  it("outlives a client that resets its call with an error code, and serves the next call", async () => {
    const session = http2.connect(`http://${process.env.FIRESTORE_EMULATOR_HOST}`);
    session.on("error", () => undefined);
    const call = session.request({
      ":method": "POST",
      ":path": "/google.firestore.v1.Firestore/Listen",
      "content-type": "application/grpc",
    });
    call.on("error", () => undefined);
    // Reset as soon as the call is open, while the proxy still holds it.
    await new Promise((resolve) => call.once("ready", resolve));
    call.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    await new Promise((resolve) => call.once("close", resolve));
    session.close();
    const path = `${base()}/after-reset`;
    await db().doc(path).set({ n: 1 });
    expect((await db().doc(path).get()).get("n")).toBe(1);
  });
});
