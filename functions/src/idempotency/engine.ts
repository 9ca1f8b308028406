/**
 * The idempotency engine: exactly-once effects for calls that carry an idempotency key.
 *
 * A key's record lives at `tenants/{tid}/idempotency/{scopeHash}` (or `idempotency/{scopeHash}`
 * for functions outside a tenant). One call:
 *
 * 1. reads the record (1 read). A live COMPLETED/FAILED record with the same request
 *    fingerprint is replayed without running the handler; another fingerprint is a reused key;
 *    a RUNNING record within its lease is in flight.
 * 2. otherwise claims the key with a compare-and-set write (1 write): `create` when absent,
 *    `update` preconditioned on the update time just read when expired or when the lease ran out.
 *    Of any number of concurrent claimers exactly one write succeeds; the others re-read.
 * 3. runs the handler and completes the record (1 write) with the response, fenced by the
 *    claim's write time: a holder whose lease was taken over can no longer complete. When the
 *    handler uses `ctx.runTransaction`, the completion rides in that transaction, so the effect
 *    and its record commit together or not at all.
 *
 * The claim is a single-document compare-and-set rather than a read-write transaction: it has
 * the same isolation for one document, costs no extra round trip, and its write time is the
 * fencing token the completion needs (a transaction does not report its commit time).
 *
 * That is the default, `lease` mode. A function whose only effects are Firestore writes in one
 * `ctx.runTransaction` may choose `idempotencyOptions.mode: "transactional"` instead (see
 * `runTransactional`): the record is created in that transaction's commit, 1 write and no read.
 */
import type { DocumentData, DocumentReference, Firestore, Transaction } from "firebase-admin/firestore";
import { FieldValue, Timestamp, isTimestamp } from "../platform/firestore-sdk";
import { currentInvocation } from "../platform/context";
import { AppError, isClientError, toHttpsError, unauthenticated } from "../platform/errors";
import type { EngineDeps, IdempotentInvocation } from "../platform/idempotency-port";
import { log } from "../platform/logger";
import { metrics } from "../platform/metrics";
import { TenantDb } from "../tenancy/db";
import { requestHash, scopeHash } from "./fingerprint";
import { settingsFor, type IdempotencySettings } from "./settings";
import {
  decide,
  finishedRecord,
  IN_FLIGHT_RETRY_AFTER_SECONDS,
  runningRecord,
  storedError,
  storedValue,
  storeResponse,
  type Decision,
  type IdempotencyRecord,
  type StoredHttpResult,
  type StoredResponse,
} from "./state";

/** The collection id of idempotency records, in a tenant and at the root (one TTL policy covers both). */
export const IDEMPOTENCY_COLLECTION = "idempotency";

/** Claim attempts before giving up on a key that keeps changing under us (each loses a race). */
const MAX_CLAIM_ATTEMPTS = 4;

/** gRPC codes of a lost compare-and-set: the record was created, changed or deleted since read. */
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;
const FAILED_PRECONDITION = 9;
/** gRPC code of a transaction that lost too many conflicts. */
const ABORTED = 10;

const REQUESTS = "idempotency_requests_total";
const RESULTS = "idempotency_results_total";
const TAKEOVERS = "idempotency_lock_takeovers_total";
const STORED_BYTES = "idempotency_stored_bytes_total";

/** Counts a stored outcome: its result, and its bytes or that it was too large to keep. */
function countStored(fn: string, state: "COMPLETED" | "FAILED", response: StoredResponse): void {
  metrics.inc(RESULTS, { fn, result: state === "COMPLETED" ? "completed" : "failed" });
  if (response.json) metrics.inc(STORED_BYTES, { fn }, response.bytes);
  else metrics.inc(RESULTS, { fn, result: "unstored" });
}

function isLostRace(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === NOT_FOUND || code === ALREADY_EXISTS || code === FAILED_PRECONDITION;
}

/** The Firestore reference of a key's record. */
export function recordRef(firestore: Firestore, tenantId: string | undefined, keyHash: string): DocumentReference {
  return tenantId
    ? new TenantDb(tenantId, firestore).doc(`${IDEMPOTENCY_COLLECTION}/${keyHash}`)
    : firestore.doc(`${IDEMPOTENCY_COLLECTION}/${keyHash}`);
}

const millis = (value: unknown): number | undefined => (isTimestamp(value) ? value.toMillis() : undefined);

/** Reads a stored record; anything malformed counts as expired, so a claim replaces it. */
export function fromFirestore(data: DocumentData): IdempotencyRecord {
  return {
    state: data.state,
    fn: data.fn,
    requestHash: data.requestHash,
    lockedUntilMs: millis(data.lockedUntil),
    expireAtMs: millis(data.expireAt) ?? 0,
    takeovers: typeof data.takeovers === "number" ? data.takeovers : 0,
    effectCommitted: data.effectCommitted === true,
    responseKind: data.responseKind,
    response: data.response,
    responseBytes: data.responseBytes,
  };
}

/**
 * The Firestore fields of a record. `replace` writes a delete for every absent optional field,
 * so an `update` leaves nothing of the record it replaces.
 */
export function toFirestore(record: IdempotencyRecord, nowMs: number, replace: boolean): DocumentData {
  const absent = replace ? FieldValue.delete() : undefined;
  const fields: DocumentData = {
    state: record.state,
    fn: record.fn,
    requestHash: record.requestHash,
    lockedUntil: record.lockedUntilMs !== undefined ? Timestamp.fromMillis(record.lockedUntilMs) : absent,
    // The TTL policy field: Firestore deletes the document some time after this instant.
    expireAt: Timestamp.fromMillis(record.expireAtMs),
    takeovers: record.takeovers,
    effectCommitted: record.effectCommitted ? true : absent,
    responseKind: record.responseKind ?? absent,
    response: record.response ?? absent,
    responseBytes: record.responseBytes ?? absent,
    updatedAt: Timestamp.fromMillis(nowMs),
  };
  for (const key of Object.keys(fields)) if (fields[key] === undefined) delete fields[key];
  return fields;
}

type ClaimResult =
  | { won: false; decision: Exclude<Decision, { kind: "claim" } | { kind: "takeover" }>; record: IdempotencyRecord }
  | {
      won: true;
      decision: Extract<Decision, { kind: "claim" } | { kind: "takeover" }>;
      running: IdempotencyRecord;
      claimTime: Timestamp;
    };

async function claim(ref: DocumentReference, fn: string, hash: string, s: IdempotencySettings): Promise<ClaimResult> {
  for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
    const snapshot = await ref.get();
    const nowMs = s.now();
    const record = snapshot.exists ? fromFirestore(snapshot.data() as DocumentData) : undefined;
    const decision = decide(record, hash, nowMs);
    if (decision.kind !== "claim" && decision.kind !== "takeover") {
      return { won: false, decision, record: record as IdempotencyRecord };
    }
    const timing = { nowMs, leaseMs: s.leaseSeconds * 1000, ttlMs: s.ttlSeconds * 1000 };
    const running = runningRecord(fn, hash, timing, decision.kind === "takeover" ? decision.takeovers : 0);
    try {
      const write = snapshot.exists
        ? await ref.update(toFirestore(running, nowMs, true), { lastUpdateTime: snapshot.updateTime })
        : await ref.create(toFirestore(running, nowMs, false));
      return { won: true, decision, running, claimTime: write.writeTime };
    } catch (error) {
      if (!isLostRace(error)) throw error;
    }
  }
  // Someone else keeps winning the key: from this caller's view it is in flight.
  return { won: false, decision: { kind: "in_flight", retryAfterSeconds: 1 }, record: undefined as never };
}

function mismatchError(): AppError {
  return new AppError("failed-precondition", "This idempotency key was already used with a different request.", {
    reason: "idempotency-key-reused",
    httpStatus: 422,
  });
}

function inFlightError(retryAfterSeconds: number): AppError {
  return new AppError("aborted", "A request with this idempotency key is still being processed. Retry later.", {
    reason: "idempotency-request-in-flight",
    retryAfterSeconds,
    httpStatus: 409,
  });
}

/** Tells the wrappers (Idempotent-Replayed header) and the request log that the handler did not run. */
function markReplayed(): void {
  const invocation = currentInvocation();
  if (invocation) invocation.replayed = true;
}

/** Replays a stored response: returns the stored result or throws the stored error. */
function replay<R>(record: IdempotencyRecord): R {
  switch (record.responseKind) {
    case "value":
      return storedValue(record.response as string) as R;
    case "http":
      return JSON.parse(record.response as string) as R;
    case "error":
      throw storedError(record.response as string);
    default:
      throw new AppError(
        "failed-precondition",
        "The original request with this idempotency key took effect, but its response is not available for " +
          "replay (too large to keep, or lost with its instance). Read the resource instead.",
        { reason: "idempotency-response-not-stored" },
      );
  }
}

/** An HTTPS result is a server error when its status is 5xx. */
function isServerResult(kind: "value" | "http", result: unknown): boolean {
  return kind === "http" && ((result as StoredHttpResult | undefined)?.status ?? 500) >= 500;
}

/** The error a stored client (or cached server) error replays as: what the client saw the first time. */
function errorResponse(error: unknown, maxBytes: number): StoredResponse {
  const mapped = toHttpsError(error);
  const details = (error instanceof AppError ? error.details : mapped.details) ?? {};
  return storeResponse("error", { code: mapped.code, message: mapped.message, details }, maxBytes);
}

/**
 * Runs `execute` at most once per key: see the module comment. Called through the platform
 * port (`runIdempotent`) when a function declared idempotent is called with a key.
 */
export async function runWithIdempotency<R>(
  invocation: IdempotentInvocation,
  execute: () => Promise<R>,
  deps: EngineDeps,
): Promise<R> {
  const { spec } = invocation;
  const fn = spec.name;
  // Without a principal there is no scope that keeps one client's key from replaying another's.
  if (!invocation.principal) throw unauthenticated("Sign in to use an idempotency key.");
  const settings = settingsFor(spec);
  const keyHash = scopeHash({
    tenantId: invocation.tenantId,
    principal: invocation.principal,
    fn,
    key: invocation.key!,
  });
  const hash = requestHash(invocation.input);
  const ref = recordRef(deps.rootDb(), invocation.tenantId, keyHash);
  const kind: "value" | "http" = spec.kind === "https" ? "http" : "value";

  if (settings.mode === "transactional") {
    return runTransactional({ invocation, execute, ref, hash, kind, settings, keyHash });
  }

  const claimed = await claim(ref, fn, hash, settings);
  if (!claimed.won) {
    const { decision } = claimed;
    if (decision.kind === "replay") {
      metrics.inc(REQUESTS, { fn, outcome: "replay" });
      markReplayed();
      return replay<R>(claimed.record);
    }
    if (decision.kind === "mismatch") {
      metrics.inc(REQUESTS, { fn, outcome: "mismatch" });
      throw mismatchError();
    }
    metrics.inc(REQUESTS, { fn, outcome: "in_flight" });
    throw inFlightError(decision.retryAfterSeconds);
  }

  metrics.inc(REQUESTS, { fn, outcome: "first" });
  if (claimed.decision.kind === "takeover") {
    metrics.inc(TAKEOVERS, { fn });
    log.warn("idempotency lease expired; a retry took over", { idempotencyRecord: keyHash.slice(0, 16) });
  }
  const { running, claimTime } = claimed;
  const ttlMs = settings.ttlSeconds * 1000;
  const finish = (state: "COMPLETED" | "FAILED", response: StoredResponse): DocumentData => {
    const nowMs = settings.now();
    return toFirestore(finishedRecord(running, state, response, { nowMs, ttlMs }), nowMs, true);
  };

  // Completion inside the handler's own transaction (the first one that commits). The write is
  // fenced by the claim's write time: if the lease was taken over, the whole transaction fails
  // and its effects with it.
  let committed: StoredResponse | "effect-only" | undefined;
  invocation.hooks.push((tx, txResult) => {
    if (committed) return;
    const response = inTransactionResponse(kind, txResult, settings.maxResponseBytes);
    const fields = response
      ? finish(kind === "http" && isClientStatus(txResult) ? "FAILED" : "COMPLETED", response)
      : // The response is built after the transaction: mark the effect, store the response after.
        { effectCommitted: true, updatedAt: Timestamp.fromMillis(settings.now()) };
    tx.update(ref, fields, { lastUpdateTime: claimTime });
    return () => {
      committed = response ?? "effect-only";
    };
  });

  /** Writes the terminal record unless the lease was lost; returns false when it was. */
  const complete = async (fields: DocumentData | "release"): Promise<boolean> => {
    if (committed) {
      // Our own transaction changed the record, and a record whose effect committed is never
      // taken over, so no fence is needed (nor possible: the commit time is not reported).
      if (fields !== "release") await ref.update(fields);
      return true;
    }
    try {
      if (fields === "release") await ref.delete({ lastUpdateTime: claimTime });
      else await ref.update(fields, { lastUpdateTime: claimTime });
      return true;
    } catch (error) {
      if (!isLostRace(error)) throw error;
      metrics.inc(RESULTS, { fn, result: "lease_lost" });
      log.warn("idempotency lease lost before completion; the record was left to its new holder", {
        idempotencyRecord: keyHash.slice(0, 16),
      });
      return false;
    }
  };
  let result: R;
  try {
    result = await execute();
  } catch (error) {
    if (isClientError(error)) {
      // Stored and replayed; after a committed effect too, so a replay matches what this caller got.
      const response = errorResponse(error, settings.maxResponseBytes);
      if (await complete(finish("FAILED", response))) countStored(fn, "FAILED", response);
      throw response.json ? storedError(response.json) : error;
    }
    if (committed === "effect-only") {
      // The effect is durable but the response is lost: a retry learns that instead of running twice.
      await complete(finish("COMPLETED", { kind: "unstored", bytes: 0 }));
      metrics.inc(RESULTS, { fn, result: "completed" });
    } else if (committed) {
      // The effect and its response are recorded: a retry replays them.
      metrics.inc(RESULTS, { fn, result: "completed" });
    } else if (settings.cacheServerErrors) {
      const response = errorResponse(error, settings.maxResponseBytes);
      if (await complete(finish("FAILED", response))) countStored(fn, "FAILED", response);
    } else if (await complete("release")) {
      metrics.inc(RESULTS, { fn, result: "released" });
    }
    throw error;
  }

  if (isServerResult(kind, result) && !committed) {
    if (settings.cacheServerErrors) {
      const response = storeResponse(kind, result, settings.maxResponseBytes);
      if (await complete(finish("FAILED", response))) countStored(fn, "FAILED", response);
      return response.json ? (JSON.parse(response.json) as R) : result;
    }
    if (await complete("release")) metrics.inc(RESULTS, { fn, result: "released" });
    return result;
  }

  let response: StoredResponse;
  try {
    response = storeResponse(kind, result, settings.maxResponseBytes);
  } catch (error) {
    // A result that is not JSON cannot be sent either: fail as a server error.
    if (committed === "effect-only") await complete(finish("COMPLETED", { kind: "unstored", bytes: 0 }));
    else if (!committed && (await complete("release"))) metrics.inc(RESULTS, { fn, result: "released" });
    throw error;
  }
  const state = kind === "http" && isClientStatus(result) ? "FAILED" : "COMPLETED";
  const same = typeof committed === "object" && committed.kind === response.kind && committed.json === response.json;
  // The common case when the handler returns its transaction's result: nothing left to write.
  if (same || (await complete(finish(state, response)))) countStored(fn, state, response);
  if (response.kind === "unstored") {
    log.warn("idempotent response too large to store; replays get idempotency-response-not-stored", {
      bytes: response.bytes,
      limit: settings.maxResponseBytes,
    });
    return result;
  }
  // The first caller gets exactly the bytes a replay will get.
  return (kind === "value" ? storedValue(response.json as string) : JSON.parse(response.json as string)) as R;
}

/** Thrown inside the handler's transaction when the record already answers the call. */
class Settled extends Error {
  constructor(
    readonly decision: Exclude<Decision, { kind: "claim" } | { kind: "takeover" }>,
    readonly record: IdempotencyRecord | undefined,
  ) {
    super("idempotency record settles this call");
    this.name = "Settled";
  }
}

interface TransactionalRun<R> {
  invocation: IdempotentInvocation;
  execute: () => Promise<R>;
  ref: DocumentReference;
  hash: string;
  kind: "value" | "http";
  settings: IdempotencySettings;
  keyHash: string;
}

/**
 * Transactional mode: no claim. The handler's first `ctx.runTransaction` creates the record,
 * completed with the transaction's result, in its own commit: 1 write, no read, no round trip
 * of its own. `create` fails if the record exists, and with it the whole commit, effects
 * included; so of any number of duplicates one commits, and the others read the record (1 read)
 * and replay. Only an expired record (or a lease-mode record whose lease ran out) makes the
 * transaction run again, reading the record first and overwriting it. Nothing is written for a
 * call whose transaction never commits (no effect happened), so a retry runs the handler again:
 * errors are not stored, except a client error after the commit.
 */
async function runTransactional<R>(run: TransactionalRun<R>): Promise<R> {
  const { invocation, execute, ref, hash, kind, settings, keyHash } = run;
  const fn = invocation.spec.name;
  const ttlMs = settings.ttlSeconds * 1000;
  /** The completed record's fields: for `tx.set` (whole document) or, `replace`, for `update`. */
  const finish = (state: "COMPLETED" | "FAILED", response: StoredResponse, replace = true): DocumentData => {
    const nowMs = settings.now();
    const base = runningRecord(fn, hash, { nowMs, leaseMs: 0, ttlMs });
    return toFirestore(finishedRecord(base, state, response, { nowMs, ttlMs }), nowMs, replace);
  };
  let committed: StoredResponse | "effect-only" | undefined;
  // "create": the record is expected absent; "replace": it was read stale, the transaction reads it.
  let write: "create" | "replace" = "create";
  let pending = false; // this attempt carries the record write
  const hook = Object.assign(
    (tx: Transaction, txResult: unknown) => {
      if (committed) return; // a later transaction of the same call: the record is written
      const response = inTransactionResponse(kind, txResult, settings.maxResponseBytes);
      const state = kind === "http" && isClientStatus(txResult) ? "FAILED" : "COMPLETED";
      // Without a storable result the record still marks the effect; the response follows it.
      const fields = finish(state, response ?? { kind: "unstored", bytes: 0 }, false);
      if (write === "create") tx.create(ref, fields);
      else tx.set(ref, fields);
      pending = true;
      return () => {
        committed = response ?? "effect-only";
      };
    },
    {
      before: async (tx: Transaction) => {
        pending = false;
        if (committed || write === "create") return;
        const snapshot = await tx.get(ref);
        settle(snapshot.exists ? fromFirestore(snapshot.data() as DocumentData) : undefined);
      },
      failed: async (error: unknown): Promise<"retry" | void> => {
        if (!pending || write !== "create" || (error as { code?: unknown } | null)?.code !== ALREADY_EXISTS) return;
        const snapshot = await ref.get();
        // No record: the handler's own create failed, not ours.
        if (!snapshot.exists) return;
        settle(fromFirestore(snapshot.data() as DocumentData));
        write = "replace"; // expired or abandoned: run again, reading the record in the transaction
        return "retry";
      },
    },
  );
  /** Throws `Settled` unless `record` leaves the key free for this call. */
  const settle = (record: IdempotencyRecord | undefined): void => {
    const decision = decide(record, hash, settings.now());
    if (decision.kind !== "claim" && decision.kind !== "takeover") throw new Settled(decision, record);
  };
  invocation.hooks.push(hook);

  let result: R;
  try {
    result = await execute();
  } catch (error) {
    if (error instanceof Settled) {
      const { decision } = error;
      if (decision.kind === "replay") {
        metrics.inc(REQUESTS, { fn, outcome: "replay" });
        markReplayed();
        return replay<R>(error.record as IdempotencyRecord);
      }
      metrics.inc(REQUESTS, { fn, outcome: decision.kind === "mismatch" ? "mismatch" : "in_flight" });
      throw decision.kind === "mismatch" ? mismatchError() : inFlightError(decision.retryAfterSeconds);
    }
    if (committed) {
      metrics.inc(REQUESTS, { fn, outcome: "first" });
      if (isClientError(error)) {
        // The effect committed: a replay must see what this caller saw.
        const response = errorResponse(error, settings.maxResponseBytes);
        await ref.update(finish("FAILED", response));
        countStored(fn, "FAILED", response);
        throw response.json ? storedError(response.json) : error;
      }
      metrics.inc(RESULTS, { fn, result: "completed" });
    } else if ((error as { code?: unknown } | null)?.code === ABORTED) {
      // Duplicates contending on the record ran out of transaction attempts: a retry replays.
      metrics.inc(REQUESTS, { fn, outcome: "in_flight" });
      throw inFlightError(IN_FLIGHT_RETRY_AFTER_SECONDS);
    }
    throw error;
  }
  if (!committed) {
    // The handler committed no transaction, so it had no effect to protect: nothing to record.
    log.warn("transactional idempotency: the handler committed no transaction; nothing recorded");
    return result;
  }
  metrics.inc(REQUESTS, { fn, outcome: "first" });
  let response: StoredResponse;
  try {
    response = storeResponse(kind, result, settings.maxResponseBytes);
  } catch (error) {
    metrics.inc(RESULTS, { fn, result: "completed" });
    throw error; // not JSON: the record keeps the effect, a replay gets "not stored"
  }
  const state = kind === "http" && isClientStatus(result) ? "FAILED" : "COMPLETED";
  const same = typeof committed === "object" && committed.kind === response.kind && committed.json === response.json;
  // The handler returned something other than its transaction's result: store what it returned.
  if (!same) await ref.update(finish(state, response));
  countStored(fn, state, response);
  if (response.kind === "unstored") {
    log.warn("idempotent response too large to store; replays get idempotency-response-not-stored", {
      idempotencyRecord: keyHash.slice(0, 16),
      bytes: response.bytes,
      limit: settings.maxResponseBytes,
    });
    return result;
  }
  return (kind === "value" ? storedValue(response.json as string) : JSON.parse(response.json as string)) as R;
}

/**
 * The response a handler's transaction result stands for, when it can be stored in that
 * transaction: a callable's defined, JSON-serialisable result, or an HTTPS handler's non-5xx
 * `HttpResult`. Anything else is stored after the handler returns.
 */
function inTransactionResponse(
  kind: "value" | "http",
  txResult: unknown,
  maxBytes: number,
): StoredResponse | undefined {
  if (txResult === undefined) return undefined;
  if (
    kind === "http" &&
    (typeof (txResult as StoredHttpResult).status !== "number" || isServerResult(kind, txResult))
  ) {
    return undefined;
  }
  try {
    return storeResponse(kind, txResult, maxBytes);
  } catch {
    return undefined; // not JSON (e.g. holds a document reference)
  }
}

function isClientStatus(result: unknown): boolean {
  const status = (result as StoredHttpResult | undefined)?.status ?? 0;
  return status >= 400 && status < 500;
}
