/**
 * The default object store (the Admin SDK's Storage client on the tenant bucket) against a local
 * HTTP server that records what the client sends: deletions name one generation when asked, and
 * an object that is already gone is not an error. This is the JSON API request shape only; Cloud
 * Storage itself is not reached (see docs/core-modules.md, Files, Limits).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Storage } from "@google-cloud/storage";
import { objectStore, setObjectStore } from "../../src/storage/objects";
import { setBucketFactory } from "../../src/storage/signer";

let server: Server;
let requests: { method: string; url: string }[];
let status: number;

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "" });
    res.writeHead(status, { "content-type": "application/json" });
    res.end(status === 204 ? undefined : JSON.stringify({ error: { code: status, message: "x" } }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const storage = new Storage({ projectId: "demo-saas-core", apiEndpoint: `http://127.0.0.1:${port}` });
  setBucketFactory(async () => storage.bucket("demo-bucket"));
  setObjectStore(undefined);
});

beforeEach(() => {
  requests = [];
  status = 204;
});

afterAll(async () => {
  setBucketFactory(undefined);
  await new Promise((resolve) => server.close(resolve));
});

const PATH = "tenants/t1/files/0123456789abcdef0123456789abcdef";

describe("the default object store", () => {
  it("deletes exactly one generation when given one", async () => {
    await objectStore().delete(PATH, "1700000000000042");
    expect(requests).toHaveLength(1);
    const url = new URL(requests[0].url, "http://x");
    expect(requests[0].method).toBe("DELETE");
    expect(decodeURIComponent(url.pathname)).toBe(`/storage/v1/b/demo-bucket/o/${PATH}`);
    expect(url.searchParams.get("generation")).toBe("1700000000000042");
  });

  it("deletes the live object without a generation, and treats a missing object as deleted", async () => {
    status = 404;
    await expect(objectStore().delete(PATH)).resolves.toBeUndefined();
    const url = new URL(requests[0].url, "http://x");
    expect(requests[0].method).toBe("DELETE");
    expect(url.searchParams.has("generation")).toBe(false);
  });

  it("surfaces other failures, so callers leave the record for the sweeper", async () => {
    status = 403;
    await expect(objectStore().delete(PATH)).rejects.toThrow();
  });
});
