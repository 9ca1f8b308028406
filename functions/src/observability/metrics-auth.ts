/**
 * Operator authentication: the one bearer-token comparison of every operator-only endpoint
 * (`metrics`, the detail of `health`).
 */
import { createHash, timingSafeEqual } from "node:crypto";

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();

/**
 * True when `header` is `Bearer <token>` with exactly `expected`. Both sides are hashed first,
 * so the comparison is constant-time whatever the lengths; an empty expected token never matches.
 */
export function bearerMatches(header: unknown, expected: string): boolean {
  if (typeof header !== "string" || expected.length === 0) return false;
  const match = /^Bearer ([^\s]+)$/i.exec(header.trim());
  return timingSafeEqual(digest(match ? match[1] : ""), digest(expected)) && match !== null;
}
