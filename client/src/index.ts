/**
 * The SaaS core's web client: every callable as a typed function (generated), typed errors, a
 * session manager and idempotent calls, on the official modular Firebase SDK.
 */
export * from "./generated/api.js";
export { callFunction, type CallableClient } from "./call.js";
export {
  appError,
  fieldErrors,
  hasCode,
  isAppError,
  type AppError,
  type CommonDetails,
  type FieldErrors,
} from "./errors.js";
export { idempotent, newIdempotencyKey, retryDelayMs, type RetryOptions } from "./idempotent.js";
export { inProcessLock, refreshLock, type RefreshLock } from "./lock.js";
export { createSessionManager, SessionManager, SIGN_OUT_REASONS, type SessionManagerOptions } from "./session.js";
export {
  indexedDbStorage,
  memoryStorage,
  type IndexedDbStorageOptions,
  type SessionStorage,
  type StoredSession,
} from "./storage.js";
