/**
 * The real Redis that `npm test` starts for these suites (scripts/lib/redis.mjs), and private
 * redis-server processes for tests that kill and restart one.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createConnection } from "node:net";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these suites through \`npm test\`, which starts Redis`);
  return value;
}

/** redis://host:port of the suite's shared Redis. */
export const testRedisUrl = (): string => required("TEST_REDIS_URL");

function portOpen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => (socket.destroy(), done(true)));
    socket.once("error", () => done(false));
  });
}

/** A redis-server of this test's own on `port`, which the test may kill and start again. */
export class OwnRedis {
  private child: ChildProcess | undefined;

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(
      required("TEST_REDIS_SERVER"),
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    for (let i = 0; i < 100 && !(await portOpen(this.port)); i++) await new Promise((r) => setTimeout(r, 50));
    if (!(await portOpen(this.port))) throw new Error(`redis-server did not start on ${this.port}`);
  }

  /** SIGKILL: the server vanishes mid-conversation, as a crashed or failed-over node does. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  }
}

/** A port for a test's own Redis, beside the suite's shared one. */
export const ownRedisPort = (delta: number): number => Number(required("TEST_REDIS_PORT")) + delta;
