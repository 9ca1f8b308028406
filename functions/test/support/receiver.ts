/**
 * A webhook receiver on loopback for the delivery tests: records every request and answers from
 * a per-path script of replies (200 once a path's script is used up).
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
}

export class Receiver {
  readonly requests: Received[] = [];
  private readonly scripts = new Map<string, Reply[]>();
  private server!: Server;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const path = req.url ?? "/";
        this.requests.push({ path, headers: req.headers, body });
        const reply = this.scripts.get(path)?.shift() ?? { status: 200 };
        res.writeHead(reply.status, reply.headers ?? {}).end("ok");
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** The replies for the next requests to `path`, in order. */
  script(path: string, ...replies: Reply[]): void {
    this.scripts.set(path, replies);
  }

  on(path: string): Received[] {
    return this.requests.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
