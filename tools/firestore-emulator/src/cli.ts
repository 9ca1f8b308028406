#!/usr/bin/env node
/**
 * `firestore-emulator [--host 127.0.0.1] [--port 8080]`: prints one line when ready and exits
 * cleanly on SIGINT/SIGTERM.
 */
import { start } from "./index";

const USAGE = "usage: firestore-emulator [--host HOST] [--port PORT]";

function parseArgs(argv: string[]): { host: string; port: number } {
  let host = "127.0.0.1";
  let port = 8080;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) fail(`${flag} needs a value`);
      return v;
    };
    if (flag === "--host") host = value();
    else if (flag === "--port") {
      port = Number(value());
      if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid port`);
    } else if (flag === "--help" || flag === "-h") {
      process.stdout.write(USAGE + "\n");
      process.exit(0);
    } else fail(`unknown argument ${argv[i]}`);
  }
  return { host, port };
}

function fail(msg: string): never {
  process.stderr.write(`firestore-emulator: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const { host, port } = parseArgs(process.argv.slice(2));
  const handle = await start({ host, port });
  const shutdown = (): void => {
    void handle.stop().then(() => process.exit(0));
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

main().catch((e: Error) => {
  process.stderr.write(`firestore-emulator: ${e.message}\n`);
  process.exit(1);
});
