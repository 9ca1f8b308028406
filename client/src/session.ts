/**
 * The session dance of docs/client-guide.md section 3, done once: start a session after a primary
 * sign-in, sign in with its custom token, keep only the newest refresh token, rotate it before the
 * session idles out, one refresh at a time across tabs, sign out when the server says the session
 * is over, and step up with a second factor when a call answers `mfa-required`.
 */
import { signInWithCustomToken, signOut as firebaseSignOut, type Auth } from "firebase/auth";
import type { Functions } from "firebase/functions";
import { appError } from "./errors.js";
import type { ErrorReason, StartSessionInput, StartSessionOutput, VerifyMfaInput } from "./generated/api.js";
import { refreshSession, revokeSession, startSession, verifyMfa } from "./generated/api.js";
import { refreshLock, type RefreshLock } from "./lock.js";
import { memoryStorage, type SessionStorage, type StoredSession } from "./storage.js";

/** Reasons after which the session cannot continue: the device must sign in again. */
export const SIGN_OUT_REASONS: readonly ErrorReason[] = [
  "session-revoked",
  "session-expired",
  "session-idle-expired",
  "refresh-token-reused",
  "invalid-refresh-token",
  "tokens-revoked",
  "user-disabled",
  "user-deleted",
];

export interface SessionManagerOptions {
  auth: Auth;
  functions: Functions;
  /** Where the newest refresh token lives; memory by default (use `indexedDbStorage()` in browsers). */
  storage?: SessionStorage;
  /** Serialises refreshes; Web Locks (or an in-process lock) named after the app by default. */
  lock?: RefreshLock;
  /** Rotate this long before the session would idle out. */
  refreshMarginSeconds?: number;
  /** Rotate at least this often (the guide: on every app start and at least daily). */
  maxRefreshIntervalSeconds?: number;
  /** Called once when the server ends the session or the app signs out. */
  onSignedOut?: (reason: string | undefined) => void;
  /** Called after each start, rotation or step-up. */
  onSession?: (session: StoredSession) => void;
  /** Tabs share news of rotations on this channel (default derived from the app name). */
  channelName?: string;
}

// setTimeout's longest delay.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class SessionManager {
  readonly auth: Auth;
  readonly functions: Functions;
  private readonly storage: SessionStorage;
  private readonly lock: RefreshLock;
  private readonly options: SessionManagerOptions;
  private readonly channel: BroadcastChannel | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private signingOut = false;

  constructor(options: SessionManagerOptions) {
    this.options = options;
    this.auth = options.auth;
    this.functions = options.functions;
    this.storage = options.storage ?? memoryStorage();
    const name = options.channelName ?? `saas-core-session:${options.auth.app.name}`;
    this.lock = options.lock ?? refreshLock(name);
    this.channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(name) : undefined;
    this.channel?.addEventListener("message", (event: MessageEvent) => void this.onMessage(event.data));
  }

  /** Every generated callable goes through here: a session-ending answer signs this device out. */
  readonly onCallError = async (error: unknown): Promise<void> => {
    const parsed = appError(error);
    if (parsed?.code === "unauthenticated" && parsed.reason && SIGN_OUT_REASONS.includes(parsed.reason)) {
      await this.endLocally(parsed.reason, true);
    }
  };

  /** The stored session, if any. */
  current(): Promise<StoredSession | null> {
    return this.storage.get();
  }

  /**
   * Starts a session for the user signed in with a primary method (within RECENT_SIGN_IN_SECONDS),
   * with a TOTP `code` or `recoveryCode` when the account has MFA.
   */
  async start(input: StartSessionInput = {}): Promise<StoredSession> {
    const issued = await startSession(this, input);
    return this.adopt(issued, true);
  }

  /**
   * Rotates the refresh token: the one refresh in flight across tabs, and none at all when another
   * tab rotated since `seen` was read. Resolves to the newest session.
   */
  async refresh(): Promise<StoredSession> {
    const seen = await this.storage.get();
    return this.lock.run(async () => {
      const stored = await this.storage.get();
      if (!stored) throw new Error("No session to refresh: call start() after signing in.");
      // Another tab (or call) rotated while we waited for the lock: its result is ours.
      if (seen && stored.refreshToken !== seen.refreshToken) {
        await this.ensureSignedIn(stored);
        this.schedule(stored);
        return stored;
      }
      const issued = await refreshSession(this, { refreshToken: stored.refreshToken });
      return this.adopt(issued, !this.auth.currentUser);
    });
  }

  /** On app start: rotates the stored session (signing in when the SDK has no user); null when there is none. */
  async resume(): Promise<StoredSession | null> {
    if (!(await this.storage.get())) return null;
    return this.refresh();
  }

  /** Upgrades the current session with a second factor; the ID token then carries `mfa: true`. */
  async stepUp(input: VerifyMfaInput): Promise<void> {
    const { customToken } = await verifyMfa(this, input);
    await signInWithCustomToken(this.auth, customToken);
    const stored = await this.storage.get();
    if (stored) await this.save({ ...stored, mfa: true });
  }

  /**
   * Runs `action`; when it answers `mfa-required`, asks the user for a code (`askCode`, which may
   * return null to give up), steps up and runs it once more.
   */
  async withStepUp<T>(action: () => Promise<T>, askCode: () => Promise<VerifyMfaInput | null>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      if (appError(error)?.reason !== "mfa-required") throw error;
      const code = await askCode();
      if (!code) throw error;
      await this.stepUp(code);
      return action();
    }
  }

  /** Ends the session on the server (best effort), forgets the token and signs the SDK out. */
  async signOut(): Promise<void> {
    const stored = await this.storage.get();
    if (stored && this.auth.currentUser) {
      try {
        await revokeSession(this.functions, { sessionId: stored.sessionId });
      } catch {
        // Already ended, or offline: the local sign-out below still happens.
      }
    }
    await this.endLocally(undefined, true);
  }

  /** Stops the timer and the channel (tests, or an app tearing down). */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.channel?.close();
  }

  private async adopt(issued: StartSessionOutput, signIn: boolean): Promise<StoredSession> {
    const session: StoredSession = {
      sessionId: issued.sessionId,
      refreshToken: issued.refreshToken,
      mfa: issued.mfa,
      expiresAt: issued.expiresAt,
      idleExpiresAt: issued.idleExpiresAt,
    };
    await this.save(session);
    if (signIn) await signInWithCustomToken(this.auth, issued.customToken);
    return session;
  }

  private async save(session: StoredSession): Promise<void> {
    await this.storage.set(session);
    this.schedule(session);
    this.channel?.postMessage({ type: "rotated", sessionId: session.sessionId });
    this.options.onSession?.(session);
  }

  private async ensureSignedIn(stored: StoredSession): Promise<void> {
    // A tab that lost its Firebase user (cleared storage) needs a custom token: rotate once more.
    if (this.auth.currentUser) return;
    const issued = await refreshSession(this, { refreshToken: stored.refreshToken });
    await this.adopt(issued, true);
  }

  /** Rotates `refreshMarginSeconds` before idle expiry, and at least every `maxRefreshIntervalSeconds`. */
  private schedule(session: StoredSession): void {
    if (this.timer) clearTimeout(this.timer);
    const margin = (this.options.refreshMarginSeconds ?? 300) * 1000;
    const longest = (this.options.maxRefreshIntervalSeconds ?? 86_400) * 1000;
    const untilIdle = Date.parse(session.idleExpiresAt) - Date.now() - margin;
    const delay = Math.min(Math.max(untilIdle, 0), longest, MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.refresh().catch(() => {
        // A session-ending answer already signed out (onCallError); anything else retries next start.
      });
    }, delay);
    // Node would otherwise stay alive for the timer; browsers have no unref.
    (this.timer as { unref?: () => void }).unref?.();
  }

  private async endLocally(reason: string | undefined, broadcast: boolean): Promise<void> {
    if (this.signingOut) return;
    this.signingOut = true;
    try {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      await this.storage.clear();
      await firebaseSignOut(this.auth);
      if (broadcast) this.channel?.postMessage({ type: "signed-out", reason });
      this.options.onSignedOut?.(reason);
    } finally {
      this.signingOut = false;
    }
  }

  private async onMessage(message: { type?: string; reason?: string }): Promise<void> {
    if (message?.type === "signed-out") await this.endLocally(message.reason, false);
    if (message?.type === "rotated") {
      const stored = await this.storage.get();
      if (stored) this.schedule(stored);
    }
  }
}

/** A session manager; pass it to any generated function in place of `functions`. */
export function createSessionManager(options: SessionManagerOptions): SessionManager {
  return new SessionManager(options);
}
