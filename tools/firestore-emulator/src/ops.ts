/**
 * Operation accounting per project, mirroring how Firestore bills: document reads, writes and
 * deletes, plus an ordered log of which document each operation touched.
 */

export type OpKind = "read" | "write" | "delete";

export interface OpEntry {
  seq: number;
  kind: OpKind;
  /** Path relative to `.../documents/`, no leading slash. */
  path: string;
  method: string;
  transaction: boolean;
}

/** The log keeps the newest entries only, so a long benchmark cannot exhaust memory; counters stay exact. */
export const OP_LOG_LIMIT = 100_000;

/** Counters and log of one project. */
export class OpLog {
  reads = 0;
  writes = 0;
  deletes = 0;
  private seq = 0;
  private entries: OpEntry[] = [];

  /** Records one billed operation. */
  record(kind: OpKind, path: string, method: string, transaction: boolean): void {
    if (kind === "read") this.reads++;
    else if (kind === "write") this.writes++;
    else this.deletes++;
    this.entries.push({ seq: ++this.seq, kind, path, method, transaction });
    if (this.entries.length > OP_LOG_LIMIT * 1.1) this.entries = this.entries.slice(-OP_LOG_LIMIT);
  }

  /** Records `count` reads against one path (aggregations bill per 1000 index entries). */
  recordReads(count: number, path: string, method: string, transaction: boolean): void {
    for (let i = 0; i < count; i++) this.record("read", path, method, transaction);
  }

  /** Zeroes counters and empties the log. */
  reset(): void {
    this.reads = this.writes = this.deletes = this.seq = 0;
    this.entries = [];
  }

  /** JSON shape served by `GET /emulator/v1/projects/{p}/operations`. */
  toJSON(): { reads: number; writes: number; deletes: number; log: OpEntry[] } {
    if (this.entries.length > OP_LOG_LIMIT) this.entries = this.entries.slice(-OP_LOG_LIMIT);
    return { reads: this.reads, writes: this.writes, deletes: this.deletes, log: this.entries };
  }
}
