/**
 * Progress output: a bar with rate and ETA on a terminal (cli-progress), plain lines every few
 * seconds otherwise (CI logs, pipes).
 */
import { SingleBar } from "cli-progress";

export interface Progress {
  start(label: string, total: number, done: number): void;
  tick(n?: number): void;
  stop(): void;
}

const PLAIN_INTERVAL_MS = 5000;

/** A progress reporter writing to `stream` (stderr by default). */
export function createProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    const bar = new SingleBar({
      stream,
      format: "{label} [{bar}] {percentage}% | {value}/{total} docs | {speed} docs/s | ETA {eta_formatted}",
      etaBuffer: 200,
      fps: 5,
    });
    let startedAt = 0;
    let startDone = 0;
    let value = 0;
    const speed = () => {
      const secs = (Date.now() - startedAt) / 1000;
      return secs > 0 ? Math.round((value - startDone) / secs) : 0;
    };
    return {
      start(label, total, done) {
        startedAt = Date.now();
        startDone = value = done;
        bar.start(total, done, { label, speed: 0 });
      },
      tick(n = 1) {
        value += n;
        bar.update(value, { speed: speed() });
      },
      stop: () => bar.stop(),
    };
  }
  let label = "";
  let total = 0;
  let value = 0;
  let startDone = 0;
  let startedAt = 0;
  let lastLine = 0;
  const line = () => {
    const secs = (Date.now() - startedAt) / 1000;
    const rate = secs > 0 ? (value - startDone) / secs : 0;
    const eta = rate > 0 ? Math.ceil((total - value) / rate) : undefined;
    const pct = total > 0 ? Math.floor((value / total) * 100) : 100;
    stream.write(
      `migrate: ${label} ${value}/${total} (${pct}%) ${Math.round(rate)} docs/s ETA ${eta === undefined ? "-" : `${eta}s`}\n`,
    );
    lastLine = Date.now();
  };
  return {
    start(l, t, done) {
      label = l;
      total = t;
      value = startDone = done;
      startedAt = lastLine = Date.now();
    },
    tick(n = 1) {
      value += n;
      if (Date.now() - lastLine >= PLAIN_INTERVAL_MS) line();
    },
    stop: () => line(),
  };
}
