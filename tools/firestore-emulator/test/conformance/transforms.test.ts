/**
 * Field transforms: serverTimestamp, increment (int and double), maximum, minimum,
 * appendMissingElements (arrayUnion), removeAllFromArray (arrayRemove) — including on missing
 * fields / documents and on fields of another type. maximum/minimum are not exposed by the
 * Node SDK, so they are sent through the raw Commit RPC; raw reads are used where the int/double
 * distinction matters (the SDK turns both into a JS number).
 */
import { FieldValue, Timestamp } from "@google-cloud/firestore";
import { Code, codeOf, setupConformance } from "./helpers";

const ctx = setupConformance(__filename);

async function rawTransform(docPath: string, transforms: Record<string, unknown>[]): Promise<any> {
  const [res] = await ctx.raw.commit(
    {
      database: `projects/${ctx.projectId}/databases/(default)`,
      writes: [
        {
          update: { name: `${ctx.docsRoot}/${docPath}`, fields: {} },
          updateMask: { fieldPaths: [] },
          updateTransforms: transforms,
        },
      ],
    },
    ctx.callOpts,
  );
  return res;
}
async function rawFields(docPath: string): Promise<any> {
  const [doc] = await ctx.raw.getDocument({ name: `${ctx.docsRoot}/${docPath}` }, ctx.callOpts);
  return doc.fields ?? {};
}
async function rawSet(docPath: string, fields: Record<string, unknown>): Promise<void> {
  await ctx.raw.commit(
    {
      database: `projects/${ctx.projectId}/databases/(default)`,
      writes: [{ update: { name: `${ctx.docsRoot}/${docPath}`, fields } }],
    },
    ctx.callOpts,
  );
}
/** {integerValue:"3"} -> ["int", 3]; {doubleValue:2.5} -> ["double", 2.5] */
function num(v: any): [string, number] {
  if (v?.integerValue !== undefined) return ["int", Number(v.integerValue)];
  if (v?.doubleValue !== undefined) return ["double", Number(v.doubleValue)];
  return ["other", NaN];
}
/**
 * A server timestamp is "the time at which the server processed the request, with millisecond
 * precision" (google.firestore.v1 DocumentTransform.FieldTransform.ServerValue.REQUEST_TIME),
 * while write/update times carry microseconds; the official emulator stores the write time
 * truncated to the millisecond. So: a whole millisecond, at most the write time, less than 1 ms
 * before it — not necessarily equal to it.
 */
function expectServerTimestampOf(at: unknown, writeTime: Timestamp): void {
  expect(at).toBeInstanceOf(Timestamp);
  const t = at as Timestamp;
  expect(t.nanoseconds % 1_000_000).toBe(0);
  const behindNs = (writeTime.seconds - t.seconds) * 1e9 + (writeTime.nanoseconds - t.nanoseconds);
  expect(behindNs).toBeGreaterThanOrEqual(0);
  expect(behindNs).toBeLessThan(1_000_000);
}

describe("serverTimestamp", () => {
  it("sets the field to the commit time, at millisecond precision", async () => {
    const ref = ctx.db.doc("t/a");
    const wr = await ref.set({ at: FieldValue.serverTimestamp(), v: 1 });
    const snap = await ref.get();
    expectServerTimestampOf(snap.get("at"), wr.writeTime);
    expect(snap.get("v")).toBe(1);
  });

  it("works on a nested path in update() and keeps sibling fields", async () => {
    const ref = ctx.db.doc("t/a");
    await ref.set({ meta: { by: "x" } });
    const wr = await ref.update({ "meta.at": FieldValue.serverTimestamp() });
    const snap = await ref.get();
    expect(snap.get("meta.by")).toBe("x");
    expectServerTimestampOf(snap.get("meta.at"), wr.writeTime);
  });

  it("creates a missing document through set merge with only a transform", async () => {
    const ref = ctx.db.doc("t/new");
    await ref.set({ at: FieldValue.serverTimestamp() }, { merge: true });
    const snap = await ref.get();
    expect(snap.exists).toBe(true);
    expect(snap.get("at")).toBeInstanceOf(Timestamp);
  });
});

describe("increment", () => {
  it("adds integers and keeps the integer type", async () => {
    await rawSet("t/a", { n: { integerValue: "5" } });
    await ctx.db.doc("t/a").update({ n: FieldValue.increment(2) });
    expect(num((await rawFields("t/a")).n)).toEqual(["int", 7]);
  });

  it("int field + double operand yields a double", async () => {
    await rawSet("t/a", { n: { integerValue: "2" } });
    await ctx.db.doc("t/a").update({ n: FieldValue.increment(0.5) });
    expect(num((await rawFields("t/a")).n)).toEqual(["double", 2.5]);
  });

  it("double field + int operand yields a double", async () => {
    await rawSet("t/a", { n: { doubleValue: 1.5 } });
    await ctx.db.doc("t/a").update({ n: FieldValue.increment(1) });
    expect(num((await rawFields("t/a")).n)).toEqual(["double", 2.5]);
  });

  it("sets a missing field to the operand", async () => {
    await ctx.db.doc("t/a").set({ other: 1 });
    await ctx.db.doc("t/a").update({ n: FieldValue.increment(3), "deep.m": FieldValue.increment(-1.5) });
    expect((await ctx.db.doc("t/a").get()).data()).toEqual({ other: 1, n: 3, deep: { m: -1.5 } });
  });

  it("creates a missing document with the operand (set merge)", async () => {
    await ctx.db.doc("t/new").set({ n: FieldValue.increment(4) }, { merge: true });
    expect((await ctx.db.doc("t/new").get()).data()).toEqual({ n: 4 });
  });

  it("replaces a non-numeric field with the operand", async () => {
    await ctx.db.doc("t/a").set({ n: "seven" });
    await ctx.db.doc("t/a").update({ n: FieldValue.increment(2) });
    expect((await ctx.db.doc("t/a").get()).get("n")).toBe(2);
  });

  it("is applied atomically: 20 parallel non-transactional increments add up to 20", async () => {
    await ctx.db.doc("t/c").set({ n: 0 });
    await Promise.all(Array.from({ length: 20 }, () => ctx.db.doc("t/c").update({ n: FieldValue.increment(1) })));
    expect((await ctx.db.doc("t/c").get()).get("n")).toBe(20);
  });

  it("fails with NOT_FOUND when update() targets a missing document", async () => {
    expect(await codeOf(ctx.db.doc("t/none").update({ n: FieldValue.increment(1) }))).toBe(Code.NOT_FOUND);
  });
});

describe("maximum / minimum (raw Commit)", () => {
  it("maximum keeps the larger value", async () => {
    await rawSet("t/a", { hi: { integerValue: "3" }, lo: { integerValue: "9" } });
    await rawTransform("t/a", [
      { fieldPath: "hi", maximum: { integerValue: "5" } },
      { fieldPath: "lo", maximum: { integerValue: "5" } },
    ]);
    const f = await rawFields("t/a");
    expect(num(f.hi)).toEqual(["int", 5]);
    expect(num(f.lo)).toEqual(["int", 9]);
  });

  it("minimum keeps the smaller value", async () => {
    await rawSet("t/a", { hi: { integerValue: "3" }, lo: { integerValue: "9" } });
    await rawTransform("t/a", [
      { fieldPath: "hi", minimum: { integerValue: "5" } },
      { fieldPath: "lo", minimum: { integerValue: "5" } },
    ]);
    const f = await rawFields("t/a");
    expect(num(f.hi)).toEqual(["int", 3]);
    expect(num(f.lo)).toEqual(["int", 5]);
  });

  it("sets a missing field, a missing document, or a non-numeric field to the operand", async () => {
    await rawSet("t/a", { s: { stringValue: "x" } });
    await rawTransform("t/a", [
      { fieldPath: "s", maximum: { integerValue: "1" } },
      { fieldPath: "m", minimum: { doubleValue: 2.5 } },
    ]);
    await rawTransform("t/fresh", [{ fieldPath: "x", maximum: { integerValue: "-4" } }]);
    const f = await rawFields("t/a");
    expect(num(f.s)).toEqual(["int", 1]);
    expect(num(f.m)).toEqual(["double", 2.5]);
    expect(num((await rawFields("t/fresh")).x)).toEqual(["int", -4]);
  });

  it("takes the type of the larger/smaller operand with mixed int/double, and leaves equivalent values (3 vs 3.0) unchanged", async () => {
    await rawSet("t/a", {
      a: { integerValue: "3" },
      b: { integerValue: "3" },
      c: { doubleValue: 3 },
      d: { integerValue: "3" },
    });
    await rawTransform("t/a", [
      { fieldPath: "a", maximum: { doubleValue: 3.5 } }, // larger operand is a double
      { fieldPath: "b", maximum: { doubleValue: 3 } }, // equivalent -> unchanged (int)
      { fieldPath: "c", minimum: { integerValue: "3" } }, // equivalent -> unchanged (double)
      { fieldPath: "d", minimum: { doubleValue: 2.5 } }, // smaller operand is a double
    ]);
    const f = await rawFields("t/a");
    expect(num(f.a)).toEqual(["double", 3.5]);
    expect(num(f.b)).toEqual(["int", 3]);
    expect(num(f.c)).toEqual(["double", 3]);
    expect(num(f.d)).toEqual(["double", 2.5]);
  });

  it("returns NaN for maximum/minimum of a number and NaN", async () => {
    await rawSet("t/a", { a: { integerValue: "3" }, b: { doubleValue: 1 } });
    await rawTransform("t/a", [
      { fieldPath: "a", maximum: { doubleValue: NaN } },
      { fieldPath: "b", minimum: { doubleValue: NaN } },
    ]);
    const snap = await ctx.db.doc("t/a").get();
    expect(Number.isNaN(snap.get("a"))).toBe(true);
    expect(Number.isNaN(snap.get("b"))).toBe(true);
  });
});

describe("arrayUnion (appendMissingElements)", () => {
  it("appends only elements not already present, in order", async () => {
    await ctx.db.doc("t/a").set({ arr: [1, 2] });
    await ctx.db.doc("t/a").update({ arr: FieldValue.arrayUnion(2, 3, 4) });
    expect((await ctx.db.doc("t/a").get()).get("arr")).toEqual([1, 2, 3, 4]);
  });

  it("compares maps by value when deciding what is missing", async () => {
    await ctx.db.doc("t/a").set({ arr: [{ a: 1 }] });
    await ctx.db.doc("t/a").update({ arr: FieldValue.arrayUnion({ a: 1 }, { a: 2 }) });
    expect((await ctx.db.doc("t/a").get()).get("arr")).toEqual([{ a: 1 }, { a: 2 }]);
  });

  it("treats 1 and 1.0 as the same element", async () => {
    await rawSet("t/a", { arr: { arrayValue: { values: [{ integerValue: "1" }] } } });
    await rawTransform("t/a", [
      { fieldPath: "arr", appendMissingElements: { values: [{ doubleValue: 1 }, { integerValue: "2" }] } },
    ]);
    const vals = (await rawFields("t/a")).arr.arrayValue.values.map(num);
    expect(vals).toEqual([
      ["int", 1],
      ["int", 2],
    ]);
  });

  it("on a missing field or document sets the field to the elements", async () => {
    await ctx.db.doc("t/a").set({ x: 1 });
    await ctx.db.doc("t/a").update({ arr: FieldValue.arrayUnion("a", "b") });
    await ctx.db.doc("t/new").set({ arr: FieldValue.arrayUnion("z") }, { merge: true });
    expect((await ctx.db.doc("t/a").get()).get("arr")).toEqual(["a", "b"]);
    expect((await ctx.db.doc("t/new").get()).get("arr")).toEqual(["z"]);
  });

  it("on a non-array field replaces it with the elements", async () => {
    await ctx.db.doc("t/a").set({ arr: "not an array" });
    await ctx.db.doc("t/a").update({ arr: FieldValue.arrayUnion(1) });
    expect((await ctx.db.doc("t/a").get()).get("arr")).toEqual([1]);
  });
});

describe("arrayRemove (removeAllFromArray)", () => {
  it("removes every instance of each given element", async () => {
    await ctx.db.doc("t/a").set({ arr: [1, 2, 1, 3, { k: "v" }, 2] });
    await ctx.db.doc("t/a").update({ arr: FieldValue.arrayRemove(1, { k: "v" }) });
    expect((await ctx.db.doc("t/a").get()).get("arr")).toEqual([2, 3, 2]);
  });

  it("treats 2 and 2.0 as the same element", async () => {
    await rawSet("t/a", { arr: { arrayValue: { values: [{ integerValue: "2" }, { integerValue: "5" }] } } });
    await rawTransform("t/a", [{ fieldPath: "arr", removeAllFromArray: { values: [{ doubleValue: 2 }] } }]);
    expect((await ctx.db.doc("t/a").get()).get("arr")).toEqual([5]);
  });

  it("on a missing or non-array field sets it to an empty array", async () => {
    await ctx.db.doc("t/a").set({ s: "str" });
    await ctx.db.doc("t/a").update({ s: FieldValue.arrayRemove(1), m: FieldValue.arrayRemove(1) });
    expect((await ctx.db.doc("t/a").get()).data()).toEqual({ s: [], m: [] });
  });
});

describe("transforms combined with field writes", () => {
  it("applies several transforms and plain fields of one write together", async () => {
    await ctx.db.doc("t/a").set({ n: 1, arr: ["x"], keep: true });
    const wr = await ctx.db.doc("t/a").update({
      n: FieldValue.increment(1),
      arr: FieldValue.arrayUnion("y"),
      at: FieldValue.serverTimestamp(),
      plain: "p",
    });
    const snap = await ctx.db.doc("t/a").get();
    expect(snap.get("n")).toBe(2);
    expect(snap.get("arr")).toEqual(["x", "y"]);
    expect(snap.get("plain")).toBe("p");
    expect(snap.get("keep")).toBe(true);
    expectServerTimestampOf(snap.get("at"), wr.writeTime);
  });
});
