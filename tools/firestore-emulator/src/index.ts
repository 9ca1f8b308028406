/** Programmatic API of the emulator (transport work in progress). */
export interface StartOptions {
  host?: string;
  /** 0 picks an ephemeral port. */
  port?: number;
  quiet?: boolean;
}

export interface EmulatorHandle {
  host: string;
  port: number;
  url: string;
  stop(): Promise<void>;
  reset(projectId?: string): void;
}

/** Starts an emulator instance. */
export async function start(_opts: StartOptions = {}): Promise<EmulatorHandle> {
  throw new Error("not implemented yet");
}
