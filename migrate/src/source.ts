/**
 * Readers for the three kinds of source: a mongodump directory (`<db>/<coll>.bson[.gz]` plus
 * `<coll>.metadata.json`), mongoexport files (Extended JSON, one document a line or one array),
 * and a live database through the official driver. Every reader yields documents in a stable
 * order with their index, so a checkpoint can say "the first N are done".
 */
import {
  closeSync,
  createReadStream,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
} from "node:fs";
import { basename, extname, join } from "node:path";
import { createInterface } from "node:readline";
import { createGunzip, gunzipSync } from "node:zlib";
import { BSON, EJSON } from "bson";

type Doc = Record<string, unknown>;

/** A source document and its position in its collection's read order. */
export interface SourceDoc {
  index: number;
  doc: Doc;
}

export interface Source {
  /** One line for logs and reports, without credentials. */
  readonly description: string;
  /** Reads every mapped collection once end to end; throws `SourceError` on anything unusable. Returns counts. */
  preflight(collections: string[]): Promise<Map<string, number>>;
  /** Documents of `collection` from index `from` on. */
  read(collection: string, from: number): AsyncIterable<SourceDoc>;
  close(): Promise<void>;
}

/** A source that cannot be read as a whole; raised before anything is written. */
export class SourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SourceError";
  }
}

// mongod's own limit is 16 MiB; mongodump adds nothing to a document.
const MAX_BSON_BYTES = 16 * 1024 * 1024 + 16 * 1024;
// int64 as bigint everywhere, so the Int64 policy sees every 64-bit integer, not only unsafe ones.
const BSON_OPTIONS = { useBigInt64: true } as const;

/** Splits a mongodump .bson stream into documents (each starts with its int32 length). */
async function* bsonFrames(file: string): AsyncGenerator<Buffer> {
  const raw = createReadStream(file);
  const stream = file.endsWith(".gz") ? raw.pipe(createGunzip()) : raw;
  let pending: Buffer = Buffer.alloc(0);
  let offset = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 4) {
      const size = pending.readInt32LE(0);
      if (size < 5 || size > MAX_BSON_BYTES)
        throw new SourceError(`${file}: corrupt BSON at byte ${offset}: document length ${size}`);
      if (pending.length < size) break;
      yield pending.subarray(0, size);
      pending = pending.subarray(size);
      offset += size;
    }
  }
  if (pending.length > 0)
    throw new SourceError(`${file}: truncated BSON document at byte ${offset} (${pending.length} trailing bytes)`);
}

function parseBson(file: string, frame: Buffer, index: number): Doc {
  try {
    return BSON.deserialize(frame, BSON_OPTIONS) as Doc;
  } catch (error) {
    throw new SourceError(`${file}: document ${index} is not valid BSON: ${(error as Error).message}`);
  }
}

/** mongodump output for one database: a directory of `<coll>.bson[.gz]`. */
class DumpSource implements Source {
  constructor(
    readonly dir: string,
    readonly description = `mongodump ${dir}`,
  ) {}

  private file(collection: string): string {
    for (const name of [`${collection}.bson`, `${collection}.bson.gz`]) {
      if (existsSync(join(this.dir, name))) return join(this.dir, name);
    }
    throw new SourceError(
      `${this.dir}: no ${collection}.bson (collections here: ${dumpCollections(this.dir).join(", ") || "none"})`,
    );
  }

  private checkMetadata(collection: string) {
    const file = [`${collection}.metadata.json`, `${collection}.metadata.json.gz`]
      .map((n) => join(this.dir, n))
      .find(existsSync);
    if (!file)
      throw new SourceError(`${this.dir}: ${collection}.metadata.json is missing (not a mongodump directory?)`);
    let meta: { collectionName?: unknown; type?: unknown };
    try {
      const bytes = readFileSync(file);
      meta = JSON.parse((file.endsWith(".gz") ? gunzipSync(bytes) : bytes).toString("utf8"));
    } catch (error) {
      throw new SourceError(`${file}: not valid JSON: ${(error as Error).message}`);
    }
    if (meta.collectionName !== undefined && meta.collectionName !== collection) {
      throw new SourceError(`${file}: describes collection "${String(meta.collectionName)}", not "${collection}"`);
    }
    if (meta.type !== undefined && meta.type !== "collection")
      throw new SourceError(`${file}: "${collection}" is a ${String(meta.type)}, not a collection`);
  }

  async preflight(collections: string[]) {
    const counts = new Map<string, number>();
    for (const c of collections) {
      const file = this.file(c);
      this.checkMetadata(c);
      let n = 0;
      for await (const frame of bsonFrames(file)) parseBson(file, frame, n++);
      counts.set(c, n);
    }
    return counts;
  }

  async *read(collection: string, from: number) {
    const file = this.file(collection);
    let index = 0;
    for await (const frame of bsonFrames(file)) {
      if (index >= from) yield { index, doc: parseBson(file, frame, index) };
      index++;
    }
  }

  async close() {}
}

const dumpCollections = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".bson") || f.endsWith(".bson.gz"))
    .map((f) => f.replace(/\.bson(\.gz)?$/, ""));

function firstBytes(file: string): string {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(4096);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

const EXPORT_EXTENSIONS = [".json", ".jsonl", ".ndjson"];

/** mongoexport output: one Extended JSON file per collection, named `<collection>.json` (or .jsonl/.ndjson). */
class ExportSource implements Source {
  constructor(
    readonly files: Map<string, string>,
    readonly description: string,
  ) {}

  private file(collection: string) {
    const file = this.files.get(collection);
    if (!file)
      throw new SourceError(
        `${this.description}: no export file for collection "${collection}" (found: ${[...this.files.keys()].join(", ") || "none"})`,
      );
    return file;
  }

  private async *documents(file: string): AsyncGenerator<Doc> {
    const first = firstBytes(file).trimStart();
    const parse = (text: string, where: string) => {
      try {
        // Canonical mode keeps Int32/Double/Long wrappers, so 64-bit integers never pass through a double.
        return EJSON.parse(text, { relaxed: false });
      } catch (error) {
        throw new SourceError(`${file}: ${where} is not valid Extended JSON: ${(error as Error).message}`);
      }
    };
    if (first.startsWith("[")) {
      // mongoexport --jsonArray: one array, read whole (mongoexport itself builds it in memory too).
      const all = parse(readFileSync(file, "utf8"), "the array");
      if (!Array.isArray(all)) throw new SourceError(`${file}: expected an array of documents`);
      for (const [i, d] of all.entries()) {
        if (typeof d !== "object" || d === null || Array.isArray(d))
          throw new SourceError(`${file}: element ${i} is not a document`);
        yield d as Doc;
      }
      return;
    }
    let line = 0;
    for await (const text of createInterface({
      input: createReadStream(file, { encoding: "utf8" }),
      crlfDelay: Infinity,
    })) {
      line++;
      if (text.trim() === "") continue;
      const d = parse(text, `line ${line}`);
      if (typeof d !== "object" || d === null || Array.isArray(d))
        throw new SourceError(`${file}: line ${line} is not a document`);
      yield d as Doc;
    }
  }

  async preflight(collections: string[]) {
    const counts = new Map<string, number>();
    for (const c of collections) {
      let n = 0;
      for await (const _ of this.documents(this.file(c))) n++;
      counts.set(c, n);
    }
    return counts;
  }

  async *read(collection: string, from: number) {
    let index = 0;
    for await (const doc of this.documents(this.file(collection))) {
      if (index >= from) yield { index, doc };
      index++;
    }
  }

  async close() {}
}

/** A live database through the official driver; documents in `_id` order. */
class LiveSource implements Source {
  readonly description: string;
  private client?: import("mongodb").MongoClient;

  constructor(
    readonly uri: string,
    readonly database: string | undefined,
  ) {
    // Never print credentials.
    this.description = `mongodb ${uri.replace(/\/\/[^@/]*@/, "//***@")}`;
  }

  private async db() {
    if (!this.client) {
      const { MongoClient } = await import("mongodb");
      this.client = new MongoClient(this.uri, { serverSelectionTimeoutMS: 10_000 });
      try {
        await this.client.connect();
      } catch (error) {
        throw new SourceError(`${this.description}: cannot connect: ${(error as Error).message}`);
      }
    }
    return this.client.db(this.database);
  }

  async preflight(collections: string[]) {
    const db = await this.db();
    const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
    const counts = new Map<string, number>();
    for (const c of collections) {
      if (!existing.has(c))
        throw new SourceError(`${this.description}: database "${db.databaseName}" has no collection "${c}"`);
      counts.set(c, await db.collection(c).countDocuments());
    }
    return counts;
  }

  async *read(collection: string, from: number) {
    const db = await this.db();
    // _id order is stable for a source that is not being written to; skip() resumes after a crash
    // regardless of the _id types in the collection (a $gt filter would only compare within one type).
    const cursor = db.collection(collection).find({}, { sort: { _id: 1 }, skip: from, useBigInt64: true });
    let index = from;
    for await (const doc of cursor) yield { index: index++, doc: doc as Doc };
  }

  async close() {
    await this.client?.close();
  }
}

/** Opens `--source`: a mongodb:// URI, a mongodump directory, or mongoexport file(s). */
export function openSource(spec: string, database?: string): Source {
  if (/^mongodb(\+srv)?:\/\//.test(spec)) return new LiveSource(spec, database);
  if (!existsSync(spec)) throw new SourceError(`${spec}: no such file or directory`);
  if (statSync(spec).isFile()) {
    const ext = extname(spec);
    if (!EXPORT_EXTENSIONS.includes(ext))
      throw new SourceError(
        `${spec}: expected a mongoexport file (${EXPORT_EXTENSIONS.join(", ")}) or a mongodump directory`,
      );
    return new ExportSource(new Map([[basename(spec, ext), spec]]), `mongoexport ${spec}`);
  }
  if (dumpCollections(spec).length > 0) return new DumpSource(spec);
  const dbDirs = readdirSync(spec).filter(
    (d) => statSync(join(spec, d)).isDirectory() && dumpCollections(join(spec, d)).length > 0,
  );
  if (dbDirs.length > 0) {
    if (database) {
      if (!dbDirs.includes(database))
        throw new SourceError(`${spec}: no database "${database}" in this dump (found: ${dbDirs.join(", ")})`);
      return new DumpSource(join(spec, database));
    }
    if (dbDirs.length > 1)
      throw new SourceError(
        `${spec}: the dump holds several databases (${dbDirs.join(", ")}); set "database" in the mapping`,
      );
    return new DumpSource(join(spec, dbDirs[0]));
  }
  const exports = readdirSync(spec).filter((f) => EXPORT_EXTENSIONS.includes(extname(f)));
  if (exports.length > 0)
    return new ExportSource(
      new Map(exports.map((f) => [basename(f, extname(f)), join(spec, f)])),
      `mongoexport ${spec}`,
    );
  throw new SourceError(`${spec}: neither a mongodump directory (<db>/<coll>.bson) nor mongoexport files (*.json)`);
}
