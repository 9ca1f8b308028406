import { Emulator } from "../../src/emulator";
import { Message } from "../../src/grpc";
import { CallSignal } from "../../src/server";

const DB = "projects/p/databases/(default)";
const ROOT = `${DB}/documents`;
const signal: CallSignal = { onCancel: () => undefined };
const int = (n: number) => ({ integerValue: String(n) });

/** Calls an RPC handler directly, without the transport. */
function rpc(emu: Emulator, method: string, req: Message): Promise<any> {
  return Promise.resolve(emu.handlers().get(method)!(req, signal));
}

function set(path: string, fields: Message): Message {
  return { update: { name: `${ROOT}/${path}`, fields } };
}

describe("emulator RPC handlers", () => {
  let emu: Emulator;
  beforeEach(() => {
    emu = new Emulator({ transactionTimeoutMs: 50 });
  });
  afterEach(() => emu.close());

  it("bills an empty query one read against the queried collection", async () => {
    await rpc(emu, "RunQuery", { parent: `${ROOT}/tenants/a`, structuredQuery: { from: [{ collectionId: "members" }] } });
    expect(emu.opsOf("p").toJSON().log).toEqual([
      { seq: 1, kind: "read", path: "tenants/a/members", method: "RunQuery", transaction: false },
    ]);
  });

  it("counts nothing for a commit that fails", async () => {
    await rpc(emu, "Commit", { database: DB, writes: [set("c/a", { v: int(1) })] });
    emu.opsOf("p").reset();
    const failing = rpc(emu, "Commit", {
      database: DB,
      writes: [set("c/b", {}), { ...set("c/a", {}), currentDocument: { exists: false } }],
    });
    await expect(failing).rejects.toMatchObject({ code: 6 });
    expect(emu.opsOf("p").toJSON()).toMatchObject({ reads: 0, writes: 0, deletes: 0 });
  });

  it("rejects a BatchWrite that writes one document twice", async () => {
    const req = { database: DB, writes: [set("c/a", {}), set("c/a", { v: int(1) })] };
    await expect(rpc(emu, "BatchWrite", req)).rejects.toMatchObject({ code: 3 });
  });

  it("aggregates only documents holding every aggregated field once a field is aggregated", async () => {
    await rpc(emu, "Commit", {
      database: DB,
      writes: [set("c/a", { x: int(1) }), set("c/b", { x: { stringValue: "s" } }), set("c/c", {})],
    });
    const [res] = await rpc(emu, "RunAggregationQuery", {
      parent: ROOT,
      structuredAggregationQuery: {
        structuredQuery: { from: [{ collectionId: "c" }] },
        aggregations: [{ alias: "n", count: {} }, { alias: "s", sum: { field: { fieldPath: "x" } } }],
      },
    });
    expect(res.result.aggregateFields).toEqual({ n: int(2), s: int(1) });
  });

  it("aborts an idle read-write transaction and frees its lock for others", async () => {
    await rpc(emu, "Commit", { database: DB, writes: [set("c/a", { v: int(1) })] });
    const [first] = await rpc(emu, "BatchGetDocuments", { database: DB, documents: [`${ROOT}/c/a`], newTransaction: { readWrite: {} } });
    await new Promise((r) => setTimeout(r, 1200));
    // a plain write would wait for the lock if the idle transaction still held it
    await rpc(emu, "Commit", { database: DB, writes: [set("c/a", { v: int(2) })] });
    const commit = rpc(emu, "Commit", { database: DB, transaction: first.transaction, writes: [set("c/a", { v: int(3) })] });
    await expect(commit).rejects.toMatchObject({ code: 10 });
  });

  it("gives a retried transaction its predecessor's priority, so it wounds younger holders", async () => {
    await rpc(emu, "Commit", { database: DB, writes: [set("c/a", {})] });
    const begin = (options: Message) => rpc(emu, "BeginTransaction", { database: DB, options });
    const old = (await begin({ readWrite: {} })).transaction;
    const young = (await begin({ readWrite: {} })).transaction;
    await rpc(emu, "BatchGetDocuments", { database: DB, documents: [`${ROOT}/c/a`], transaction: young });
    const retry = (await begin({ readWrite: { retryTransaction: old } })).transaction;
    await rpc(emu, "BatchGetDocuments", { database: DB, documents: [`${ROOT}/c/a`], transaction: retry });
    await expect(rpc(emu, "Commit", { database: DB, transaction: young, writes: [] })).rejects.toMatchObject({ code: 10 });
    await expect(rpc(emu, "Commit", { database: DB, transaction: retry, writes: [set("c/a", {})] })).resolves.toHaveProperty("commitTime");
  });
});
