/**
 * The emulated suites' Jest environment: when a file's last hook has run, and before Jest tears
 * its module registry down, it awaits the drain that `drain.ts` registered. Work a file started
 * (a metrics flush, a call still waiting on a lock) would otherwise finish during the next file,
 * where an error from it can no longer be decoded and fails that innocent file.
 */
import type { Circus } from "@jest/types";
import NodeEnvironment from "jest-environment-node";

// The key drain.ts registers its drain under, on the test file's global.
const DRAIN = Symbol.for("saas-core.drain");

export default class EmulatedEnvironment extends NodeEnvironment {
  async handleTestEvent(event: Circus.AsyncEvent | Circus.SyncEvent): Promise<void> {
    if (event.name !== "run_finish") return;
    const drain = (this.global as Record<symbol, (() => Promise<void>) | undefined>)[DRAIN];
    await drain?.();
  }
}
