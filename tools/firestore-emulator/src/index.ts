/**
 * Programmatic entry point: start an emulator on a port, stop it, reset its data.
 */
import { adminHandler } from "./admin-http";
import { Emulator } from "./emulator";
import { listen } from "./server";

export interface StartOptions {
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 (the default) picks an ephemeral one. */
  port?: number;
  /** Suppress the "listening" line. */
  quiet?: boolean;
  /** Idle read-write transactions are aborted after this many ms (default 30000). */
  transactionTimeoutMs?: number;
}

export interface EmulatorHandle {
  host: string;
  port: number;
  /** `http://host:port`: gRPC and the admin endpoints share it. */
  url: string;
  /** Closes the port and every connection. */
  stop(): Promise<void>;
  /** Clears one project's data and operation log, or every project's. */
  reset(projectId?: string): void;
}

/**
 * Starts an emulator instance serving gRPC and the admin HTTP endpoints on one port.
 * Instances are independent; several can run in one process.
 */
export async function start(opts: StartOptions = {}): Promise<EmulatorHandle> {
  const host = opts.host ?? "127.0.0.1";
  const emu = new Emulator({ transactionTimeoutMs: opts.transactionTimeoutMs });
  let listener;
  try {
    listener = await listen(host, opts.port ?? 0, emu.handlers(), emu.streamHandlers(), adminHandler(emu));
  } catch (e) {
    emu.close();
    throw e;
  }
  const port = listener.port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  if (!opts.quiet) process.stdout.write(`firestore-emulator listening on ${urlHost}:${port}\n`);
  let stopped: Promise<void> | undefined;
  return {
    host,
    port,
    url: `http://${urlHost}:${port}`,
    stop: () => {
      stopped ??= listener.close().then(() => emu.close());
      return stopped;
    },
    reset: (projectId?: string) => emu.reset(projectId),
  };
}

export { Emulator } from "./emulator";
