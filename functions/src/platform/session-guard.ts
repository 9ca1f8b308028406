/**
 * The check for functions marked `sensitive`: the ID token must not have been revoked, and the
 * app session named in its `sid` claim (if any) must still be active.
 */
import { adminAuth } from "./admin";
import { unauthenticated } from "./errors";
import type { Principal } from "./pipeline";

/** Throws `unauthenticated` when the caller's token was revoked or their session ended. */
export async function checkSensitiveSession(principal: Principal): Promise<void> {
  if (!principal.rawToken) throw unauthenticated("A fresh ID token is required.");
  try {
    await adminAuth().verifyIdToken(principal.rawToken, true);
  } catch {
    throw unauthenticated("Your sign-in was revoked. Sign in again.");
  }
}
