/**
 * Commit clock: microsecond timestamps, strictly increasing across every commit of the process,
 * so versions can be ordered and `readTime` reads are unambiguous.
 */
import { Timestamp, tsParts } from "./values";

let lastUs = 0;
// Wall clock anchored once, advanced by the monotonic high-resolution timer: real microsecond
// resolution (as production commit times have) that never steps backwards.
const originUs = Date.now() * 1000;
const originHr = process.hrtime.bigint();

function nowUs(): number {
  return originUs + Number((process.hrtime.bigint() - originHr) / 1000n);
}

/** A fresh commit time, strictly after every earlier one. */
export function nextCommitUs(): number {
  const now = nowUs();
  lastUs = now > lastUs ? now : lastUs + 1;
  return lastUs;
}

/** A read time that observes every commit made so far. */
export function readNowUs(): number {
  const now = nowUs();
  return now > lastUs ? now : lastUs;
}

/** Microseconds since the epoch → google.protobuf.Timestamp. */
export function usToTimestamp(us: number): Timestamp {
  const seconds = Math.floor(us / 1e6);
  return { seconds: String(seconds), nanos: (us - seconds * 1e6) * 1000 };
}

/** google.protobuf.Timestamp → microseconds (sub-microsecond digits are truncated). */
export function timestampToUs(ts: Timestamp): number {
  const [s, n] = tsParts(ts);
  return s * 1e6 + Math.floor(n / 1000);
}

/** Whether a timestamp names exactly the given microsecond (no stray nanoseconds). */
export function timestampIsUs(ts: Timestamp, us: number): boolean {
  const [, n] = tsParts(ts);
  return n % 1000 === 0 && timestampToUs(ts) === us;
}
