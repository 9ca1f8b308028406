/**
 * Helpers for the failure tests: signed provider events, waiting on ports and documents, a
 * private Firestore endpoint that can be killed and restarted, and a TCP relay that can be cut.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { answers, freePort } from "../support/private-firestore";
import { paymentIntentEvent, stripeSignature } from "../support/provider";

export { freePort };

/** A signed `payment_intent.processing` event about one of the tenant's payments. */
export function signedEvent(tenantId: string, paymentId: string): { id: string; body: Buffer; signature: string } {
  const { id, body } = paymentIntentEvent(tenantId, paymentId);
  return { id, body: Buffer.from(body), signature: stripeSignature(body) };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/**
 * The server SDKs' Firestore endpoint (scripts/lib/firestore-ops-proxy.mjs, as the stack runs
 * it) on a private port in front of the shared emulator. Killing it is, for this process,
 * Firestore going away mid-request (connections cut, new ones refused); the data stays in the
 * emulator behind it, as it stays in Firestore's replicated storage when a frontend fails.
 */
export class FirestoreEndpoint {
  private child?: ChildProcess;
  constructor(readonly port: number) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const script = join(__dirname, "../../../scripts/lib/firestore-ops-proxy.mjs");
    const upstream = process.env.FIRESTORE_CLIENT_HOST as string;
    this.child = spawn(process.execPath, [script, "--port", String(this.port), "--upstream", upstream], {
      stdio: "ignore",
    });
    await eventually("the Firestore endpoint", async () => ((await answers(this.port)) ? true : undefined), 15_000);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  }
}

/** A TCP relay to `target` that can be cut (connections destroyed, the port refused) and restored. */
export class Relay {
  private server?: Server;
  private sockets = new Set<Socket>();
  constructor(
    readonly port: number,
    private readonly target: string,
  ) {}

  async open(): Promise<void> {
    const [host, port] = this.target.split(":");
    this.server = createServer((client) => {
      const upstream = createConnection({ host, port: Number(port) });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => (client.destroy(), upstream.destroy()));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => this.server!.listen(this.port, "127.0.0.1", r));
  }

  async cut(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = undefined;
  }
}
