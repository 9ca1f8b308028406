import { LockTable, Owner, withWriteLocks } from "../../src/transactions";

describe("wound-wait lock table", () => {
  it("makes a younger requester wait for an older holder, then grants on release", async () => {
    const t = new LockTable();
    const older = new Owner(t, 1);
    const younger = new Owner(t, 2);
    expect(t.acquire(older, "d:a", "X")).toBeUndefined();
    const wait = t.acquire(younger, "d:a", "X");
    expect(wait).toBeInstanceOf(Promise);
    t.releaseAll(older);
    await expect(wait).resolves.toBeUndefined();
    expect(younger.held.get("d:a")).toBe("X");
  });

  it("wounds a younger holder when an older transaction requests its lock", () => {
    const t = new LockTable();
    const older = new Owner(t, 1);
    const younger = new Owner(t, 2);
    t.acquire(younger, "d:a", "X");
    expect(t.acquire(older, "d:a", "X")).toBeUndefined();
    expect(younger.aborted?.code).toBe(10);
    expect(younger.held.size).toBe(0);
  });

  it("fails the pending wait of a wounded transaction at once", async () => {
    const t = new LockTable();
    const a = new Owner(t, 1);
    const b = new Owner(t, 2);
    t.acquire(a, "d:x", "X");
    t.acquire(b, "d:y", "X");
    const bWaits = t.acquire(b, "d:x", "X");
    expect(t.acquire(a, "d:y", "X")).toBeUndefined();
    await expect(bWaits).rejects.toMatchObject({ code: 10 });
  });

  it("lets shared holders coexist and blocks an exclusive request behind them", () => {
    const t = new LockTable();
    const a = new Owner(t, 1);
    const b = new Owner(t, 2);
    const c = new Owner(t, 3);
    expect(t.acquire(a, "c:x", "S")).toBeUndefined();
    expect(t.acquire(b, "c:x", "S")).toBeUndefined();
    expect(t.acquire(c, "c:x", "X")).toBeInstanceOf(Promise);
    t.releaseAll(c);
  });

  it("retries a non-transactional write that an older transaction wounds, instead of failing it", async () => {
    const t = new LockTable();
    const old = new Owner(t, 0);
    t.acquire(old, "d:b", "X");
    let runs = 0;
    const write = withWriteLocks(t, () => ["d:a", "d:b"], () => ++runs);
    // the write holds d:a and waits for d:b; the older transaction now wants d:a
    await Promise.resolve();
    expect(t.acquire(old, "d:a", "X")).toBeUndefined();
    t.releaseAll(old);
    await expect(write).resolves.toBe(1);
  });
});
