/**
 * The checkpoint: per source collection, how many documents (a prefix of the read order) are
 * durably done, written or recorded as errors. It only ever advances over a contiguous prefix of
 * acknowledged writes, and it is replaced atomically (write, fsync, rename), so after any crash,
 * `kill -9` included, resuming from it re-sends at most the writes that were in flight: with
 * deterministic document ids those land on the same documents, so there are neither duplicates
 * nor gaps.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export interface CollectionProgress {
  source: string;
  /** Documents [0, next) are done. */
  next: number;
  written: number;
  failed: number;
  done: boolean;
}

export interface CheckpointState {
  version: 1;
  source: string;
  mappingHash: string;
  updatedAt: string;
  collections: CollectionProgress[];
}

/** Writes `text` to `file` so that readers see either the old or the new content, never a torn one. */
export function writeFileAtomic(file: string, text: string) {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export class Checkpoint {
  private constructor(
    readonly file: string,
    readonly state: CheckpointState,
  ) {}

  /** A fresh checkpoint for `collections`. */
  static start(file: string, source: string, mappingHash: string, collections: string[]) {
    return new Checkpoint(file, {
      version: 1,
      source,
      mappingHash,
      updatedAt: new Date().toISOString(),
      collections: collections.map((c) => ({ source: c, next: 0, written: 0, failed: 0, done: false })),
    });
  }

  /** The checkpoint to resume from; throws when there is none or it belongs to another source or mapping. */
  static resume(file: string, source: string, mappingHash: string) {
    if (!existsSync(file)) throw new Error(`--resume: no checkpoint at ${file}; run without --resume to start`);
    const state = JSON.parse(readFileSync(file, "utf8")) as CheckpointState;
    if (state.version !== 1) throw new Error(`--resume: ${file} has an unknown version`);
    if (state.source !== source) throw new Error(`--resume: ${file} is for source "${state.source}", not "${source}"`);
    if (state.mappingHash !== mappingHash)
      throw new Error(`--resume: the mapping changed since ${file} was written; run without --resume to start again`);
    return new Checkpoint(file, state);
  }

  collection(source: string): CollectionProgress {
    const c = this.state.collections.find((x) => x.source === source);
    if (!c) throw new Error(`checkpoint has no collection ${source}`);
    return c;
  }

  save() {
    this.state.updatedAt = new Date().toISOString();
    writeFileAtomic(this.file, JSON.stringify(this.state, null, 2));
  }
}

/**
 * Tracks completions that arrive out of order (BulkWriter acknowledges writes concurrently) and
 * advances `progress.next` only over the contiguous prefix of finished documents.
 */
export class Watermark {
  private readonly finished = new Map<number, "written" | "failed">();

  constructor(readonly progress: CollectionProgress) {}

  complete(index: number, outcome: "written" | "failed") {
    this.finished.set(index, outcome);
    for (let o = this.finished.get(this.progress.next); o !== undefined; o = this.finished.get(this.progress.next)) {
      this.finished.delete(this.progress.next);
      if (o === "written") this.progress.written++;
      else this.progress.failed++;
      this.progress.next++;
    }
  }
}
