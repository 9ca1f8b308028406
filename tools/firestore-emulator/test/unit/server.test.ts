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
