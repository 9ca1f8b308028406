/**
 * Captures what firebase-functions/logger writes, as parsed JSON entries.
 *
 * The logger keeps the console functions it found when it loaded (`UNPATCHED_CONSOLE`), so
 * spying on `console` does not see its output; the capture swaps those functions instead, for
 * the duration of the calling test file.
 */
import { dirname, join } from "node:path";

type Level = "debug" | "info" | "log" | "warn" | "error";
type Sink = Record<Level, (line: string) => void>;

/** Returns an array that fills with every log entry written while the test file runs. */
export function captureLogs(): Record<string, unknown>[] {
  const entries: Record<string, unknown>[] = [];
  // The package's export map hides lib/logger/common.js; resolve it next to the public entry.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const common = require(join(dirname(require.resolve("firebase-functions/logger")), "common.js")) as {
    UNPATCHED_CONSOLE: Sink;
  };
  const original = { ...common.UNPATCHED_CONSOLE };
  beforeAll(() => {
    for (const level of Object.keys(original) as Level[]) {
      common.UNPATCHED_CONSOLE[level] = (line: string) => {
        try {
          entries.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          entries.push({ message: line });
        }
      };
    }
  });
  afterAll(() => Object.assign(common.UNPATCHED_CONSOLE, original));
  return entries;
}
