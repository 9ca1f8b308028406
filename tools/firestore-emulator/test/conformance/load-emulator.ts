/** Loading our emulator (no jest globals here: globalSetup imports this). */
import * as path from "node:path";

export interface EmulatorHandle {
  host: string;
  port: number;
  url: string;
  stop(): Promise<void>;
  reset(projectId?: string): void | Promise<void>;
}

/** Loads our emulator's start() (src through ts-jest, else the built dist). */
export function loadStart(): (opts: {
  host?: string;
  port?: number;
  quiet?: boolean;
}) => Promise<EmulatorHandle> {
  const errors: string[] = [];
  for (const entry of ["../../src", "../../dist"]) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(path.join(__dirname, entry));
      if (typeof mod.start === "function") return mod.start;
      errors.push(`${entry}: no start() export`);
    } catch (e) {
      errors.push(`${entry}: ${(e as Error).message}`);
    }
  }
  throw new Error(`cannot load the emulator's start(): ${errors.join("; ")}`);
}

