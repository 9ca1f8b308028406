/**
 * A throwaway Redis for the suites and benchmarks that need one (rate limits, the L2 cache):
 * Debian's redis-server, installed with apt-get when missing (CI machines start without it), run
 * on 6379 + STACK_PORT_OFFSET with no persistence, and stopped by `stop()`.
 */
import { spawn, spawnSync } from "node:child_process";
import { aptInstall } from "./apt.mjs";
import { createConnection } from "node:net";

const HOST = "127.0.0.1";
export const REDIS_PORT = 6379 + Number(process.env.STACK_PORT_OFFSET ?? 0);

/** The redis-server binary, installing Debian's package first when it is missing. */
export function redisServerBin({ log = console.log } = {}) {
  const which = () => spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).stdout.trim();
  let bin = which();
  if (bin) return bin;
  aptInstall(["redis-server"], { log: (line) => log(`redis: ${line}`) });
  bin = which();
  if (!bin) throw new Error("redis: could not install redis-server with apt-get");
  return bin;
}

function portOpen(port) {
  return new Promise((done) => {
    const socket = createConnection({ host: HOST, port });
    socket.once("connect", () => (socket.destroy(), done(true)));
    socket.once("error", () => done(false));
  });
}

/**
 * Starts redis-server on `port`. Resolves to `{url, port, bin, stop}` once it accepts
 * connections; `stop()` ends it.
 */
export async function startRedis({ port = REDIS_PORT, log = console.log } = {}) {
  const bin = redisServerBin({ log });
  if (await portOpen(port)) throw new Error(`port ${port} (redis) is already in use`);
  const child = spawn(bin, ["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
    detached: true,
  });
  const deadline = Date.now() + 15_000;
  while (!(await portOpen(port))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  log(`redis: redis-server on ${HOST}:${port}`);
  return {
    url: `redis://${HOST}:${port}`,
    port,
    bin,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      try {
        process.kill(child.pid, "SIGTERM");
      } catch {
        return;
      }
      await exited;
    },
  };
}
