import { compareNames, compareUtf8, compareValues, valuesEqual, valuesIdentical, Value } from "../../src/values";

const int = (n: number | string): Value => ({ integerValue: String(n) });
const dbl = (n: number): Value => ({ doubleValue: n });
const str = (s: string): Value => ({ stringValue: s });

describe("Firestore value order", () => {
  it("orders types null < bool < number < timestamp < string < bytes < reference < geopoint < array < map", () => {
    const ordered: Value[] = [
      { nullValue: "NULL_VALUE" },
      { booleanValue: false },
      { booleanValue: true },
      dbl(NaN),
      dbl(-Infinity),
      int(-5),
      dbl(0.5),
      int(1),
      { timestampValue: { seconds: "1", nanos: 0 } },
      str(""),
      str("a"),
      { bytesValue: Buffer.from([0]) },
      { referenceValue: "projects/p/databases/d/documents/a/b" },
      { geoPointValue: { latitude: 0, longitude: 0 } },
      { arrayValue: { values: [] } },
      { mapValue: { fields: {} } },
    ];
    for (let i = 0; i + 1 < ordered.length; i++) {
      expect(compareValues(ordered[i], ordered[i + 1])).toBe(-1);
      expect(compareValues(ordered[i + 1], ordered[i])).toBe(1);
    }
  });

  it("compares ints and doubles numerically, with -0 equal to 0 and NaN equal to NaN", () => {
    expect(valuesEqual(int(1), dbl(1))).toBe(true);
    expect(valuesEqual(dbl(-0), int(0))).toBe(true);
    expect(valuesEqual(dbl(NaN), dbl(NaN))).toBe(true);
    expect(compareValues(int("9007199254740993"), dbl(9007199254740992))).toBe(1);
    expect(compareValues(int("-9223372036854775808"), int("9223372036854775807"))).toBe(-1);
  });

  it("treats an int and an equal double as different stored values", () => {
    expect(valuesIdentical(int(1), dbl(1))).toBe(false);
    expect(valuesIdentical(dbl(NaN), dbl(NaN))).toBe(true);
  });

  it("compares maps by sorted keys, then values", () => {
    const m = (fields: Record<string, Value>): Value => ({ mapValue: { fields } });
    expect(compareValues(m({ b: int(1), a: int(2) }), m({ a: int(2), b: int(1) }))).toBe(0);
    expect(compareValues(m({ a: int(1) }), m({ b: int(0) }))).toBe(-1);
    expect(compareValues(m({ a: int(1) }), m({ a: int(1), b: int(0) }))).toBe(-1);
  });

  it("orders strings by UTF-8 bytes, not UTF-16 code units", () => {
    // U+FFFD is one UTF-16 unit above the surrogates, but its UTF-8 encoding sorts before U+1F600's.
    expect(compareUtf8("\uFFFD", "\u{1F600}")).toBe(-1);
    expect(compareUtf8("a", "b")).toBe(-1);
  });

  it("compares resource names segment by segment", () => {
    expect(compareNames("a/b", "a-/b")).toBe(-1);
    expect(compareNames("c/a", "c/a/d/e")).toBe(-1);
    expect(compareNames("c/ab/x", "c/abc")).toBe(-1);
  });

  it("sorts numeric ids (__id<n>__) before string ids, numerically", () => {
    expect(compareNames("c/__id-9223372036854775808__", "c/0")).toBe(-1);
    expect(compareNames("c/__id2__", "c/__id10__")).toBe(-1);
    expect(compareNames("c/__id10__", "c/__id2__")).toBe(1);
  });
});
