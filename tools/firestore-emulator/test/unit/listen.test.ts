import { Firestore } from "@google-cloud/firestore";
import { EmulatorHandle, start } from "../../src";

/** Collects snapshots until `predicate` holds for the latest one. */
function waitFor<T>(subscribe: (push: (v: T) => void) => () => void, predicate: (v: T) => boolean): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no matching snapshot within 5 s")), 5000);
    const unsubscribe = subscribe((v) => {
      if (!predicate(v)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(v);
    });
  });
}

describe("Listen (onSnapshot)", () => {
  let emu: EmulatorHandle;
  let db: Firestore;
  beforeAll(async () => {
    emu = await start({ quiet: true });
    db = new Firestore({ projectId: "listen-unit", host: emu.host, port: emu.port, ssl: false, customHeaders: { Authorization: "Bearer owner" } });
  });
  afterAll(async () => {
    // Let the closed listen streams deliver their final status while jest's environment is up.
    await new Promise((r) => setTimeout(r, 300));
    await db.terminate();
    await emu.stop();
  });

  it("delivers a query's initial results and then each change as it is committed", async () => {
    await db.doc("l/a").set({ n: 1 });
    const seen: string[][] = [];
    const unsubscribe = db
      .collection("l")
      .where("n", ">", 0)
      .onSnapshot((s) => seen.push(s.docs.map((d) => `${d.id}=${d.get("n")}`)));
    await waitFor<string[][]>((push) => {
      const t = setInterval(() => push(seen), 10);
      return () => clearInterval(t);
    }, (v) => v.length === 1);
    await db.doc("l/b").set({ n: 2 });
    await db.doc("l/a").update({ n: 0 });
    await waitFor<string[][]>((push) => {
      const t = setInterval(() => push(seen), 10);
      return () => clearInterval(t);
    }, (v) => v.length > 0 && v[v.length - 1].join() === "b=2");
    unsubscribe();
    expect(seen[0]).toEqual(["a=1"]);
  });

  it("reports a watched document's creation and deletion", async () => {
    const ref = db.doc("l/watched");
    const states: boolean[] = [];
    const unsubscribe = ref.onSnapshot((s) => states.push(s.exists));
    const poll = (want: boolean[]) =>
      waitFor<boolean[]>((push) => {
        const t = setInterval(() => push(states), 10);
        return () => clearInterval(t);
      }, (v) => v.join() === want.join());
    await poll([false]);
    await ref.set({ x: 1 });
    await poll([false, true]);
    await ref.delete();
    await poll([false, true, false]);
    unsubscribe();
  });
});
