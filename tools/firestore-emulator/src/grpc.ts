/**
 * gRPC wire codec: status codes, the error type handlers throw, length-prefixed message framing,
 * and per-method protobuf codecs built once from the google.firestore.v1 descriptors that
 * `@google-cloud/firestore` ships.
 */
import * as path from "node:path";
import * as zlib from "node:zlib";
import * as protobuf from "protobufjs";

/** The gRPC status codes this emulator returns. */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
} as const;

/** An RPC failure with a gRPC status code; the transport turns it into trailers. */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Shorthand constructors for the common failures. */
export const invalid = (msg: string): GrpcError => new GrpcError(Status.INVALID_ARGUMENT, msg);
export const aborted = (msg: string): GrpcError => new GrpcError(Status.ABORTED, msg);

export type Message = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Decoder/encoder pair for one RPC. */
export interface MethodCodec {
  name: string;
  requestStream: boolean;
  responseStream: boolean;
  decode(buf: Uint8Array): Message;
  encode(msg: Message): Uint8Array;
}

// Plain-object conversion options: int64 as decimal strings (exact), enums by name (readable in
// handlers), bytes left as Buffers. Only set fields are materialised, so oneofs read naturally.
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String };

let codecs: Map<string, MethodCodec> | undefined;

/** Codecs for every google.firestore.v1.Firestore method, keyed by method name (loaded once). */
export function firestoreCodecs(): Map<string, MethodCodec> {
  if (codecs) return codecs;
  const pkgDir = path.dirname(require.resolve("@google-cloud/firestore/package.json"));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const json = require(path.join(pkgDir, "build/protos/v1.json"));
  const root = protobuf.Root.fromJSON(json);
  const service = root.lookupService("google.firestore.v1.Firestore");
  codecs = new Map();
  for (const method of Object.values(service.methods)) {
    method.resolve();
    const req = method.resolvedRequestType!;
    const res = method.resolvedResponseType!;
    codecs.set(method.name, {
      name: method.name,
      requestStream: !!method.requestStream,
      responseStream: !!method.responseStream,
      decode: (buf) => {
        try {
          return req.toObject(req.decode(buf), TO_OBJECT);
        } catch (e) {
          throw invalid(`Malformed ${req.name}: ${(e as Error).message}`);
        }
      },
      encode: (msg) => res.encode(res.fromObject(msg)).finish(),
    });
  }
  return codecs;
}

/** Frames one message: 1-byte compressed flag (0), 4-byte big-endian length, payload. */
export function frame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = 0;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, 5);
  return out;
}

/**
 * Splits a complete request body into its messages. Compressed messages are inflated with the
 * `grpc-encoding` the client declared (clients only compress when configured to).
 */
export function unframe(body: Buffer, encoding: string | undefined): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < body.length) {
    if (off + 5 > body.length) throw invalid("truncated gRPC frame");
    const compressed = body[off] === 1;
    const len = body.readUInt32BE(off + 1);
    const end = off + 5 + len;
    if (end > body.length) throw invalid("truncated gRPC frame");
    let msg = body.subarray(off + 5, end);
    if (compressed) {
      if (encoding === "gzip") msg = zlib.gunzipSync(msg);
      else if (encoding === "deflate") msg = zlib.inflateSync(msg);
      else throw new GrpcError(Status.UNIMPLEMENTED, `unsupported grpc-encoding ${encoding}`);
    }
    out.push(msg);
    off = end;
  }
  return out;
}

/**
 * Percent-encodes a status message as the grpc-message trailer requires: printable ASCII other
 * than `%` stays as is (clients decode only what must be encoded, so `,` must not become `%2C`).
 */
export function encodeGrpcMessage(msg: string): string {
  let out = "";
  for (const byte of Buffer.from(msg, "utf8")) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}
