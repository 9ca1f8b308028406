import { start } from "../../src";

describe("transport", () => {
  it("answers the admin endpoints over HTTP/1.1 on the gRPC port and isolates instances", async () => {
    const a = await start({ quiet: true });
    const b = await start({ quiet: true });
    try {
      expect(a.port).not.toBe(b.port);
      const ok = await fetch(`${a.url}/`);
      expect(await ok.text()).toBe("Ok");
      const ops = await (await fetch(`${a.url}/emulator/v1/projects/p/operations`)).json();
      expect(ops).toEqual({ reads: 0, writes: 0, deletes: 0, log: [] });
      const cleared = await fetch(`${a.url}/emulator/v1/projects/p/databases/(default)/documents`, { method: "DELETE" });
      expect(cleared.status).toBe(200);
      expect((await fetch(`${a.url}/nope`)).status).toBe(404);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe("gRPC wire handling", () => {
  it("answers a malformed request message with INVALID_ARGUMENT, not INTERNAL", async () => {
    const http2 = await import("node:http2");
    const emu = await start({ quiet: true });
    const client = http2.connect(emu.url);
    try {
      const trailers = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const req = client.request({
          ":method": "POST",
          ":path": "/google.firestore.v1.Firestore/Commit",
          "content-type": "application/grpc",
          te: "trailers",
        });
        let status: Record<string, unknown> = {};
        req.on("response", (h) => (status = { ...h }));
        req.on("trailers", (t) => (status = { ...status, ...t }));
        req.on("end", () => resolve(status));
        req.on("error", reject);
        req.resume();
        // one frame whose payload is not a valid CommitRequest (truncated varint field)
        req.end(Buffer.from([0, 0, 0, 0, 2, 0x0a, 0xff]));
      });
      expect(trailers["grpc-status"]).toBe("3");
    } finally {
      client.close();
      await emu.stop();
    }
  });
});
