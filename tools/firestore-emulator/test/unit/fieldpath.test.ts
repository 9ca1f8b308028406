import { deleteField, getField, parseFieldPath, setField } from "../../src/fieldpath";
import { Fields } from "../../src/values";

describe("field paths", () => {
  it("splits dotted paths and keeps backtick-quoted segments whole", () => {
    expect(parseFieldPath("a.b")).toEqual(["a", "b"]);
    expect(parseFieldPath("`a.b`.c")).toEqual(["a.b", "c"]);
    expect(parseFieldPath("`we\\`ird`")).toEqual(["we`ird"]);
  });

  it("rejects empty segments", () => {
    expect(() => parseFieldPath("a..b")).toThrow(/empty segment/);
    expect(() => parseFieldPath("")).toThrow();
  });

  it("sets nested fields without mutating maps shared with the original", () => {
    const original: Fields = { m: { mapValue: { fields: { x: { integerValue: "1" } } } } };
    const copy = { ...original };
    setField(copy, ["m", "y"], { integerValue: "2" });
    deleteField(copy, ["m", "x"]);
    expect(getField(copy, ["m", "y"])).toEqual({ integerValue: "2" });
    expect(getField(copy, ["m", "x"])).toBeUndefined();
    expect(getField(original, ["m", "x"])).toEqual({ integerValue: "1" });
  });
});
