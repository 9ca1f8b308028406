import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Checkpoint, Watermark } from "../../src/checkpoint";
import { tmp } from "../support/fixtures";

describe("checkpoint", () => {
  it("advances only over the contiguous prefix of finished documents, whatever order they finish in", () => {
    const cp = Checkpoint.start(join(tmp(), "checkpoint.json"), "src", "hash", ["orders"]);
    const progress = cp.collection("orders");
    const mark = new Watermark(progress);
    mark.complete(2, "written");
    mark.complete(1, "failed");
    expect(progress).toMatchObject({ next: 0, written: 0, failed: 0 });
    mark.complete(0, "written");
    expect(progress).toMatchObject({ next: 3, written: 2, failed: 1 });
    mark.complete(4, "written");
    expect(progress.next).toBe(3);
  });

  it("is replaced atomically and resumes only for the same source and mapping", () => {
    const file = join(tmp(), "state", "checkpoint.json");
    const cp = Checkpoint.start(file, "mongodump /d", "h1", ["a", "b"]);
    cp.collection("a").next = 7;
    cp.save();
    expect(existsSync(`${file}.tmp`)).toBe(false);
    expect(JSON.parse(readFileSync(file, "utf8")).collections[0]).toMatchObject({ source: "a", next: 7 });
    expect(Checkpoint.resume(file, "mongodump /d", "h1").collection("a").next).toBe(7);
    expect(() => Checkpoint.resume(file, "mongodump /other", "h1")).toThrow(/is for source "mongodump \/d"/);
    expect(() => Checkpoint.resume(file, "mongodump /d", "h2")).toThrow(/the mapping changed/);
    expect(() => Checkpoint.resume(join(tmp(), "none.json"), "x", "h1")).toThrow(/no checkpoint at/);
  });
});
