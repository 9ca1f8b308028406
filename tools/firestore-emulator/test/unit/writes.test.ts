import { applyWrite } from "../../src/writes";

const NAME = "projects/p/databases/(default)/documents/c/d";
const int = (n: number | string) => ({ integerValue: String(n) });

describe("applying writes", () => {
  it("merges through an update mask, deleting masked fields absent from the update", () => {
    const r = applyWrite(
      { update: { name: NAME, fields: { a: int(1) } }, updateMask: { fieldPaths: ["a", "b"] } },
      NAME,
      { fields: { b: int(2), c: int(3) }, base: null },
      1,
    );
    expect(r.fields).toEqual({ a: int(1), c: int(3) });
  });

  it("saturates integer increments at the int64 bounds", () => {
    const r = applyWrite(
      { update: { name: NAME, fields: {} }, updateMask: { fieldPaths: [] }, updateTransforms: [{ fieldPath: "n", increment: int(1) }] },
      NAME,
      { fields: { n: int("9223372036854775807") }, base: null },
      1,
    );
    expect(r.transformResults).toEqual([int("9223372036854775807")]);
  });

  it("fails exists=false on an existing document with ALREADY_EXISTS", () => {
    expect(() =>
      applyWrite({ update: { name: NAME, fields: {} }, currentDocument: { exists: false } }, NAME, { fields: {}, base: null }, 1),
    ).toThrow(expect.objectContaining({ code: 6 }));
  });

  it("appends only missing elements, treating 1 and 1.0 as equal", () => {
    const r = applyWrite(
      {
        update: { name: NAME, fields: {} },
        updateMask: { fieldPaths: [] },
        updateTransforms: [{ fieldPath: "a", appendMissingElements: { values: [{ doubleValue: 1 }, int(2)] } }],
      },
      NAME,
      { fields: { a: { arrayValue: { values: [int(1)] } } }, base: null },
      1,
    );
    expect(r.fields!.a).toEqual({ arrayValue: { values: [int(1), int(2)] } });
  });
});
