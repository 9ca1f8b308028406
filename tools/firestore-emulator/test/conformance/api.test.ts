/**
 * Our programmatic API (start / stop / reset) and CLI — the contract tests and tools rely on.
 * Runs our emulator in-process regardless of FIRESTORE_EMULATOR_HOST (it is our code under test).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { Firestore } from "@google-cloud/firestore";
import { EmulatorHandle, loadStart } from "./helpers";

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

function client(h: EmulatorHandle, projectId: string): Firestore {
  return new Firestore({
    projectId,
    host: h.host,
    port: h.port,
    ssl: false,
    customHeaders: { Authorization: "Bearer owner" },
  });
}

describe("programmatic start() / stop() / reset()", () => {
  it("start({port: 0}) listens on an ephemeral port and reports host, port and url", async () => {
    const h = await loadStart()({ host: "127.0.0.1", port: 0, quiet: true });
    try {
      expect(h.host).toBe("127.0.0.1");
      expect(h.port).toBeGreaterThan(0);
      expect(h.url).toBe(`http://127.0.0.1:${h.port}`);
      expect(await canConnect(h.port)).toBe(true);
    } finally {
      await h.stop();
    }
    expect(await canConnect(h.port)).toBe(false);
  });

  it("runs independent instances side by side, and reset(projectId) clears one project only", async () => {
    const start = loadStart();
    const [h1, h2] = await Promise.all([
      start({ host: "127.0.0.1", port: 0, quiet: true }),
      start({ host: "127.0.0.1", port: 0, quiet: true }),
    ]);
    const a1 = client(h1, "api-a");
    const b1 = client(h1, "api-b");
    const a2 = client(h2, "api-a");
    try {
      await a1.doc("c/d").set({ v: 1 });
      await b1.doc("c/d").set({ v: 2 });
      expect((await a2.doc("c/d").get()).exists).toBe(false); // other instance
      await h1.reset("api-a");
      expect((await a1.doc("c/d").get()).exists).toBe(false);
      expect((await b1.doc("c/d").get()).get("v")).toBe(2);
      await h1.reset();
      expect((await b1.doc("c/d").get()).exists).toBe(false);
    } finally {
      await Promise.all([a1.terminate(), b1.terminate(), a2.terminate()]);
      await Promise.all([h1.stop(), h2.stop()]);
    }
  });
});

const cli = path.resolve(__dirname, "../../dist/cli.js");
(fs.existsSync(cli) ? describe : describe.skip)("CLI (dist/cli.js, after npm run build)", () => {
  it("prints a listening line, serves on the given port, and exits on SIGTERM", async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const child = spawn(process.execPath, [cli, "--host", "127.0.0.1", "--port", String(port)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error(`no output: ${out}`)), 10_000);
        child.stdout.on("data", (d) => {
          out += d;
          if (out.includes("\n")) {
            clearTimeout(timer);
            resolve(out);
          }
        });
        child.once("exit", (code) => reject(new Error(`exited ${code}`)));
      });
      expect(line).toContain(String(port));
      const r = await fetch(`http://127.0.0.1:${port}/emulator/v1/projects/cli/databases/(default)/documents`, {
        method: "DELETE",
      });
      expect(r.status).toBe(200);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    }
  });
});
