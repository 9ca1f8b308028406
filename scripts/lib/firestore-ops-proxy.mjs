/**
 * A counting proxy in front of the official Cloud Firestore emulator, for the server SDKs' gRPC
 * traffic. The official emulator keeps no operation log, and the suites prove costs ("1 read +
 * 1 write per call") and isolation ("this request touched only tenants/A") with one. The proxy
 * forwards every gRPC call unchanged, decodes requests and responses with the Firestore client's
 * own protobuf definitions, and bills them the way Firestore does: a read per document returned
 * (one for an empty result), a write or delete per committed write.
 *
 * HTTP/1.1 on the same port: `GET|DELETE /emulator/v1/projects/{p}/operations` is answered here;
 * everything else (clearing data, rules) is forwarded to the emulator.
 *
 * Usage: node firestore-ops-proxy.mjs --port 8081 --upstream 127.0.0.1:8080
 */
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { Duplex } from "node:stream";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(join(ROOT, "functions/package.json"));
const protobuf = require("protobufjs");
const root = protobuf.Root.fromJSON(require("@google-cloud/firestore/build/protos/v1.json"));
const v1 = new Proxy({}, { get: (_, name) => root.lookupType(`google.firestore.v1.${name}`) });

/** The log keeps the newest entries only, so a long benchmark cannot exhaust memory; counters stay exact. */
const LOG_LIMIT = 100_000;

class OpLog {
  reads = 0;
  writes = 0;
  deletes = 0;
  seq = 0;
  entries = [];

  record(kind, path, method, transaction) {
    if (kind === "read") this.reads++;
    else if (kind === "write") this.writes++;
    else this.deletes++;
    this.entries.push({ seq: ++this.seq, kind, path, method, transaction });
    if (this.entries.length > LOG_LIMIT * 1.1) this.entries = this.entries.slice(-LOG_LIMIT);
  }

  toJSON() {
    return { reads: this.reads, writes: this.writes, deletes: this.deletes, log: this.entries.slice(-LOG_LIMIT) };
  }
}

const logs = new Map();
const logOf = (project) => {
  if (!logs.has(project)) logs.set(project, new OpLog());
  return logs.get(project);
};

/** "projects/p/databases/(default)/documents/a/b" → { project: "p", path: "a/b" }. */
function split(name) {
  const m = /^projects\/([^/]+)\/databases\/[^/]+\/documents\/?(.*)$/.exec(name ?? "");
  return m ? { project: m[1], path: m[2] } : { project: "", path: "" };
}

/** The collection a query reads, as the log names it ("tenants/t/payments", "**" for groups). */
function queryLabel(parent, query) {
  const from = query?.from?.[0] ?? {};
  const id = from.collectionId || "*";
  const base = parent ? `${parent}/` : "";
  return from.allDescendants ? `${base}**/${id}` : `${base}${id}`;
}

const inTransaction = (req) => Boolean(req.transaction?.length || req.newTransaction);

/**
 * How each method is billed. `response` runs per decoded response message (streams bill as the
 * documents arrive); `done` runs once with the call's gRPC status, before the client sees it end.
 */
const METHODS = {
  GetDocument: {
    request: v1.GetDocumentRequest,
    response: v1.Document,
    // Billed whether or not the document exists.
    done: (req, _responses, status, bill) => status !== 14 && bill("read", split(req.name), "GetDocument", inTransaction(req)),
  },
  BatchGetDocuments: {
    request: v1.BatchGetDocumentsRequest,
    response: v1.BatchGetDocumentsResponse,
    onResponse: (req, res, bill) => {
      const name = res.found?.name ?? res.missing;
      if (name) bill("read", split(name), "BatchGetDocuments", inTransaction(req));
    },
  },
  RunQuery: {
    request: v1.RunQueryRequest,
    response: v1.RunQueryResponse,
    onResponse: (req, res, bill) => {
      if (res.document) bill("read", split(res.document.name), "RunQuery", inTransaction(req));
    },
    done: (req, responses, status, bill) => {
      if (status !== 0 || responses.some((r) => r.document)) return;
      // An empty result is still billed one read, logged against the queried collection.
      const parent = split(req.parent);
      bill("read", { ...parent, path: queryLabel(parent.path, req.structuredQuery) }, "RunQuery", inTransaction(req));
    },
  },
  RunAggregationQuery: {
    request: v1.RunAggregationQueryRequest,
    response: v1.RunAggregationQueryResponse,
    done: (req, responses, status, bill) => {
      if (status !== 0) return;
      // Aggregations bill one read per batch of up to 1000 index entries; a count tells how many.
      const fields = responses.find((r) => r.result)?.result.aggregateFields ?? {};
      const counts = Object.values(fields).map((v) => Number(v.integerValue ?? 0));
      const reads = Math.max(1, Math.ceil(Math.max(0, ...counts) / 1000));
      const parent = split(req.parent);
      const label = queryLabel(parent.path, req.structuredAggregationQuery?.structuredQuery);
      for (let i = 0; i < reads; i++) bill("read", { ...parent, path: label }, "RunAggregationQuery", inTransaction(req));
    },
  },
  ListDocuments: {
    request: v1.ListDocumentsRequest,
    response: v1.ListDocumentsResponse,
    done: (req, responses, status, bill) => {
      if (status !== 0) return;
      const docs = responses.flatMap((r) => r.documents ?? []);
      for (const d of docs) bill("read", split(d.name), "ListDocuments", inTransaction(req));
      if (docs.length === 0) {
        const parent = split(req.parent);
        bill("read", { ...parent, path: parent.path ? `${parent.path}/${req.collectionId}` : req.collectionId }, "ListDocuments", false);
      }
    },
  },
  ListCollectionIds: {
    request: v1.ListCollectionIdsRequest,
    response: v1.ListCollectionIdsResponse,
    done: (req, _responses, status, bill) => status === 0 && bill("read", split(req.parent), "ListCollectionIds", false),
  },
  Commit: {
    request: v1.CommitRequest,
    response: v1.CommitResponse,
    done: (req, _responses, status, bill) => {
      if (status !== 0) return;
      for (const w of req.writes ?? []) billWrite(w, "Commit", inTransaction(req), bill);
    },
  },
  BatchWrite: {
    request: v1.BatchWriteRequest,
    response: v1.BatchWriteResponse,
    onResponse: (req, res, bill) => {
      (req.writes ?? []).forEach((w, i) => {
        if ((res.status?.[i]?.code ?? 0) === 0) billWrite(w, "BatchWrite", false, bill);
      });
    },
  },
  CreateDocument: {
    request: v1.CreateDocumentRequest,
    response: v1.Document,
    onResponse: (_req, res, bill) => bill("write", split(res.name), "CreateDocument", false),
  },
  UpdateDocument: {
    request: v1.UpdateDocumentRequest,
    response: v1.Document,
    done: (req, _responses, status, bill) => status === 0 && bill("write", split(req.document?.name), "UpdateDocument", false),
  },
  DeleteDocument: {
    request: v1.DeleteDocumentRequest,
    response: null,
    done: (req, _responses, status, bill) => status === 0 && bill("delete", split(req.name), "DeleteDocument", false),
  },
  Listen: {
    request: v1.ListenRequest,
    response: v1.ListenResponse,
    onResponse: (_req, res, bill) => {
      if (res.documentChange?.document) bill("read", split(res.documentChange.document.name), "Listen", false);
    },
  },
};

function billWrite(w, method, transaction, bill) {
  if (w.delete) bill("delete", split(w.delete), method, transaction);
  else bill("write", split(w.update?.name ?? w.transform?.document), method, transaction);
}

function bill(kind, { project, path }, method, transaction) {
  if (project) logOf(project).record(kind, path, method, transaction);
}

/** Splits gRPC length-prefixed messages out of a byte stream; `onMessage` gets each payload. */
function frameReader(onMessage) {
  let buffer = Buffer.alloc(0);
  return (chunk) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    while (buffer.length >= 5) {
      const length = buffer.readUInt32BE(1);
      if (buffer.length < 5 + length) break;
      // Compressed messages (flag 1) are never sent by the Firestore clients; skip rather than guess.
      if (buffer[0] === 0) onMessage(buffer.subarray(5, 5 + length));
      buffer = buffer.subarray(5 + length);
    }
  };
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "http2-settings"]);

function forwardHeaders(headers) {
  const out = {};
  for (const [k, v] of Object.entries(headers)) {
    if (HOP_BY_HOP.has(k) || (k.startsWith(":") && k !== ":method" && k !== ":path")) continue;
    out[k] = v;
  }
  return out;
}

export function startProxy({ port, host = "127.0.0.1", upstream }) {
  const [upHost, upPort] = upstream.split(":");
  let session;
  const upstreamSession = () => {
    if (!session || session.closed || session.destroyed) {
      session = http2.connect(`http://${upstream}`, { createConnection: () => net.connect({ host: upHost, port: Number(upPort), noDelay: true }) });
      session.on("error", () => {});
    }
    return session;
  };

  const h2 = http2.createServer();
  h2.on("stream", (stream, headers) => {
    const method = String(headers[":path"] ?? "").split("/").pop();
    const spec = Object.hasOwn(METHODS, method) ? METHODS[method] : undefined;
    const requests = [];
    const responses = [];
    const readRequest = frameReader((bytes) => spec && requests.push(spec.request.toObject(spec.request.decode(bytes), { defaults: false, bytes: Buffer })));
    const readResponse = frameReader((bytes) => {
      if (!spec?.response) return;
      const res = spec.response.toObject(spec.response.decode(bytes), { longs: String, bytes: Buffer });
      responses.push(res);
      for (const req of requests.slice(0, 1)) spec.onResponse?.(req, res, bill);
    });
    let finished = false;
    const finish = (status) => {
      if (finished) return;
      finished = true;
      if (spec?.done && requests[0]) spec.done(requests[0], responses, status, bill);
    };
    // Ends the client's stream once, with the upstream trailers or an error status of our own.
    let ended = false;
    const endWith = (trailers) => {
      if (ended || stream.destroyed || stream.closed) return;
      ended = true;
      if (!stream.headersSent) {
        stream.respond({ ":status": 200, "content-type": "application/grpc", ...trailers }, { endStream: true });
        return;
      }
      stream.once("wantTrailers", () => stream.sendTrailers(trailers));
      stream.end();
    };
    // The emulator went away: answer as Firestore does when unreachable, retryable UNAVAILABLE.
    const fail = (message) => endWith({ "grpc-status": "14", "grpc-message": encodeURIComponent(message) });
    // A client that resets its stream (any code but CANCEL) makes it emit 'error'; unheard, that
    // would end the proxy and with it every later suite's Firestore.
    stream.on("error", () => {});

    let up;
    try {
      up = upstreamSession().request(forwardHeaders(headers));
    } catch (error) {
      fail(`Firestore emulator unreachable: ${error.message}`);
      return;
    }
    stream.on("data", (chunk) => {
      readRequest(chunk);
      if (!up.destroyed) up.write(chunk);
    });
    stream.on("end", () => up.end());
    stream.on("close", () => {
      if (!up.closed) up.close(http2.constants.NGHTTP2_CANCEL);
    });
    up.on("response", (resHeaders, flags) => {
      const out = forwardHeaders(resHeaders);
      out[":status"] = resHeaders[":status"];
      if ((flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0) {
        // Trailers-only answer (an error status).
        finish(Number(resHeaders["grpc-status"] ?? 0));
        ended = true;
        if (!stream.destroyed && !stream.closed) stream.respond(out, { endStream: true });
        return;
      }
      if (!stream.destroyed && !stream.closed) stream.respond(out, { waitForTrailers: true });
    });
    let trailers = {};
    up.on("trailers", (t) => (trailers = t));
    up.on("data", (chunk) => {
      readResponse(chunk);
      if (!stream.destroyed && !stream.closed) stream.write(chunk);
    });
    up.on("end", () => {
      if (finished) return;
      if (!stream.headersSent) return fail("Firestore emulator ended the call without an answer");
      finish(Number(trailers["grpc-status"] ?? 0));
      endWith(forwardHeaders(trailers));
    });
    up.on("error", (error) => fail(`Firestore emulator: ${error.message}`));
  });
  h2.on("sessionError", () => {});

  const h1 = http.createServer((req, res) => {
    const m = /^\/emulator\/v1\/projects\/([^/]+)\/operations\/?$/.exec(req.url ?? "");
    if (m) {
      if (req.method === "DELETE") logs.delete(m[1]);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(req.method === "DELETE" ? {} : logOf(m[1]).toJSON()));
      return;
    }
    const forward = http.request({ host: upHost, port: Number(upPort), method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    forward.on("error", (error) => {
      if (res.headersSent) return res.destroy();
      res.writeHead(502, { "content-type": "text/plain" });
      res.end(`Firestore emulator unreachable: ${error.message}`);
    });
    req.pipe(forward);
  });

  // One port for both protocols: HTTP/2 starts with its fixed connection preface. The first
  // bytes are already read when the protocol is known, and http2 reads a raw socket's handle
  // directly (unshifted bytes would be lost), so HTTP/2 gets a stream that replays them.
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on("error", () => {});
    socket.once("data", (first) => {
      if (first.subarray(0, 3).toString() !== "PRI") {
        socket.pause();
        socket.unshift(first);
        h1.emit("connection", socket);
        socket.resume();
        return;
      }
      const duplex = new Duplex({
        read: () => socket.resume(),
        write: (chunk, encoding, done) => socket.write(chunk, encoding, done),
        final: (done) => (socket.end(), done()),
        destroy: (error, done) => (socket.destroy(), done(error)),
      });
      duplex.push(first);
      socket.on("data", (chunk) => duplex.push(chunk) || socket.pause());
      socket.on("end", () => duplex.push(null));
      socket.on("close", () => duplex.destroy());
      h2.emit("connection", duplex);
    });
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // A fault in one call must not end the proxy (every later suite's Firestore); it is logged.
  process.on("uncaughtException", (error) => console.error(`firestore-ops-proxy: ${error.stack ?? error}`));
  const { values } = parseArgs({ options: { port: { type: "string" }, host: { type: "string" }, upstream: { type: "string" } } });
  await startProxy({ port: Number(values.port), host: values.host ?? "127.0.0.1", upstream: values.upstream });
}
