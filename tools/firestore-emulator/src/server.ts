/**
 * Transport: one TCP port serving both gRPC (HTTP/2 with prior knowledge, as gRPC clients speak
 * it in clear text) and plain HTTP/1.1 for the emulator's admin REST endpoints. Each connection's
 * first bytes decide: the HTTP/2 preface starts with "PRI", nothing else does.
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { GrpcError, Message, MethodCodec, Status, encodeGrpcMessage, firestoreCodecs, frame, unframe } from "./grpc";

/** Lets a handler react when its client goes away before the handler has settled. */
export interface CallSignal {
  onCancel(cb: () => void): void;
}

/** One RPC handler: a unary result, or the list of messages of a server-streaming response. */
export type RpcHandler = (req: Message, signal: CallSignal) => Promise<Message | Message[]> | Message | Message[];

/** The server side of a bidirectional-streaming call. */
export interface StreamCall {
  /** Sends one response message (ignored once the call is over). */
  send(msg: Message): void;
  /** Ends the call with a status (OK when no error is given). */
  end(err?: GrpcError): void;
  /** Runs `cb` when the call is over, however it ended. */
  onClose(cb: () => void): void;
}

/** Per-call state of a bidirectional-streaming RPC: receives the client's messages in order. */
export interface StreamSession {
  onMessage(req: Message): void;
}

/** Opens a session for a new bidirectional-streaming call. */
export type StreamHandler = (call: StreamCall) => StreamSession;

/** A plain HTTP request as the admin endpoints see it. */
export interface AdminRequest {
  method: string;
  path: string;
}
export interface AdminResponse {
  status: number;
  body: string;
  contentType: string;
}
export type AdminHandler = (req: AdminRequest) => AdminResponse;

const SERVICE_PREFIX = "/google.firestore.v1.Firestore/";

/** Running listener plus what is needed to close it completely. */
export interface Listener {
  host: string;
  port: number;
  close(): Promise<void>;
}

/** Starts listening; resolves once the port is bound. */
export function listen(
  host: string,
  port: number,
  rpcs: Map<string, RpcHandler>,
  streams: Map<string, StreamHandler>,
  admin: AdminHandler,
): Promise<Listener> {
  const codecs = firestoreCodecs();
  const sockets = new Set<net.Socket>();
  const h2 = http2.createServer();
  h2.on("stream", (stream, headers) => {
    const ct = String(headers["content-type"] ?? "");
    if (ct.startsWith("application/grpc")) {
      serveGrpc(stream, headers, codecs, rpcs, streams);
    } else {
      serveAdminH2(stream, headers, admin);
    }
  });
  h2.on("sessionError", () => undefined);
  const h1 = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const out = admin({ method: req.method ?? "GET", path: req.url ?? "/" });
      res.writeHead(out.status, { "content-type": out.contentType });
      res.end(out.body);
    });
  });
  h1.keepAliveTimeout = 5000;

  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.setNoDelay(true);
    socket.once("data", (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      // "PRI * HTTP/2.0" is the HTTP/2 connection preface; no HTTP/1 method starts with it.
      if (chunk.subarray(0, 3).toString("latin1") === "PRI") {
        // http2 drains the socket's buffered (unshifted) bytes itself before attaching to the
        // native handle; resuming here would emit them to nobody.
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    });
  });

  return new Promise((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(port, host, () => {
      tcp.off("error", reject);
      const addr = tcp.address() as net.AddressInfo;
      resolve({
        host,
        port: addr.port,
        close: () =>
          new Promise<void>((done) => {
            tcp.close(() => done());
            for (const s of sockets) s.destroy();
            h2.close();
            h1.closeAllConnections();
          }),
      });
    });
  });
}

function serveAdminH2(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  admin: AdminHandler,
): void {
  stream.resume();
  stream.on("end", () => {
    const out = admin({ method: String(headers[":method"]), path: String(headers[":path"]) });
    if (stream.destroyed) return;
    stream.respond({ ":status": out.status, "content-type": out.contentType });
    stream.end(out.body);
  });
  stream.on("error", () => undefined);
}

function serveGrpc(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  codecs: Map<string, MethodCodec>,
  rpcs: Map<string, RpcHandler>,
  streams: Map<string, StreamHandler>,
): void {
  stream.on("error", () => undefined);
  const pathName = String(headers[":path"] ?? "");
  const name = pathName.startsWith(SERVICE_PREFIX) ? pathName.slice(SERVICE_PREFIX.length) : "";
  const codec = codecs.get(name);
  const streamHandler = streams.get(name);
  if (codec?.requestStream && streamHandler) {
    serveBidi(stream, headers, codec, streamHandler);
    return;
  }
  const handler = rpcs.get(name);
  if (!codec || !handler || codec.requestStream) {
    stream.resume();
    sendStatus(stream, Status.UNIMPLEMENTED, `Method ${pathName} is not implemented by this emulator`, false);
    return;
  }
  // A plain callback list rather than an AbortController: abort() builds a DOMException, which
  // showed up as the top cost per request in profiles.
  let settled = false;
  let cancelCbs: (() => void)[] | undefined;
  const signal: CallSignal = { onCancel: (cb) => (cancelCbs ??= []).push(cb) };
  stream.on("close", () => {
    if (!settled && cancelCbs) for (const cb of cancelCbs) cb();
  });
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  stream.on("end", () => {
    let req: Message;
    try {
      const msgs = unframe(Buffer.concat(chunks), headers["grpc-encoding"] as string | undefined);
      if (msgs.length !== 1) throw new GrpcError(Status.INVALID_ARGUMENT, "expected exactly one request message");
      req = codec.decode(msgs[0]);
    } catch (e) {
      sendError(stream, e, codec.responseStream);
      return;
    }
    Promise.resolve()
      .then(() => handler(req, signal))
      .then(
        (res) => {
          settled = true;
          if (stream.destroyed || stream.closed) return;
          const list = Array.isArray(res) ? res : [res];
          const payload = list.length === 1 ? frame(codec.encode(list[0])) : Buffer.concat(list.map((m) => frame(codec.encode(m))));
          stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
          stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", "grpc-message": "" }));
          stream.end(payload);
        },
        (e) => {
          settled = true;
          sendError(stream, e, codec.responseStream);
        },
      );
  });
}

/**
 * A bidirectional-streaming call: headers at once, then request messages are decoded as their
 * frames complete and handed to the session, which may send responses at any time. The client
 * half-closing ends the call with OK.
 */
function serveBidi(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  codec: MethodCodec,
  handler: StreamHandler,
): void {
  const closeCbs: (() => void)[] = [];
  let over = false;
  let status: GrpcError | undefined;
  stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
  stream.once("wantTrailers", () =>
    stream.sendTrailers({ "grpc-status": String(status?.code ?? Status.OK), "grpc-message": encodeGrpcMessage(status?.message ?? "") }),
  );
  const finish = (): void => {
    if (over) return;
    over = true;
    for (const cb of closeCbs) cb();
  };
  const call: StreamCall = {
    send: (msg) => {
      if (!over && !stream.destroyed) stream.write(frame(codec.encode(msg)));
    },
    end: (err) => {
      if (over) return;
      status = err;
      finish();
      if (!stream.destroyed) stream.end();
    },
    onClose: (cb) => closeCbs.push(cb),
  };
  stream.on("close", finish);
  const session = handler(call);
  const reader = frameReader(headers["grpc-encoding"] as string | undefined);
  stream.on("data", (chunk: Buffer) => {
    try {
      for (const msg of reader(chunk)) if (!over) session.onMessage(codec.decode(msg));
    } catch (e) {
      call.end(e instanceof GrpcError ? e : new GrpcError(Status.INTERNAL, String(e)));
    }
  });
  stream.on("end", () => call.end());
}

/** Incremental unframing: returns the messages completed by each chunk. */
function frameReader(encoding: string | undefined): (chunk: Buffer) => Buffer[] {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let end = 0;
    while (pending.length - end >= 5) {
      const len = pending.readUInt32BE(end + 1);
      if (pending.length - end - 5 < len) break;
      end += 5 + len;
    }
    const complete = pending.subarray(0, end);
    pending = pending.subarray(end);
    return end === 0 ? [] : unframe(complete, encoding);
  };
}

function sendError(stream: http2.ServerHttp2Stream, e: unknown, streaming: boolean): void {
  if (e instanceof GrpcError) sendStatus(stream, e.code, e.message, streaming);
  else sendStatus(stream, Status.INTERNAL, `internal error: ${(e as Error)?.message ?? String(e)}`, streaming);
}

/**
 * Ends a call with a non-OK status. Unary calls get a trailers-only response. Server-streaming
 * calls get headers first and the status in trailers: google-gax's stream wrapper treats an
 * error that arrives before any response headers as "no response" and silently re-sends the
 * request (twice, seconds apart), which would turn every ABORTED read into a multi-second stall.
 */
function sendStatus(stream: http2.ServerHttp2Stream, code: number, message: string, streaming: boolean): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const status = { "grpc-status": String(code), "grpc-message": encodeGrpcMessage(message) };
  if (streaming) {
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers(status));
    stream.end();
  } else {
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto", ...status }, { endStream: true });
  }
}
