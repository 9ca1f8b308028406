/**
 * Lazy access to `firebase-admin/firestore` values (Timestamp, FieldValue, FieldPath).
 *
 * Importing that module loads the whole Firestore client, about as much cold-start time as
 * firebase-functions itself. Modules import these facades instead, so the client loads on the
 * first request that touches Firestore, not when the codebase is loaded. Types come from the SDK
 * unchanged (`Timestamp` is both a value facade and the SDK's type).
 */
import type * as Sdk from "firebase-admin/firestore";

let sdk: typeof Sdk | undefined;

/** The `firebase-admin/firestore` module, required on first use. */
export function firestoreSdk(): typeof Sdk {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  sdk ??= require("firebase-admin/firestore") as typeof Sdk;
  return sdk;
}

export type Timestamp = Sdk.Timestamp;
export const Timestamp = {
  now: (): Sdk.Timestamp => firestoreSdk().Timestamp.now(),
  fromMillis: (ms: number): Sdk.Timestamp => firestoreSdk().Timestamp.fromMillis(ms),
  fromDate: (date: Date): Sdk.Timestamp => firestoreSdk().Timestamp.fromDate(date),
};

export type FieldValue = Sdk.FieldValue;
export const FieldValue = {
  serverTimestamp: (): Sdk.FieldValue => firestoreSdk().FieldValue.serverTimestamp(),
  increment: (n: number): Sdk.FieldValue => firestoreSdk().FieldValue.increment(n),
  delete: (): Sdk.FieldValue => firestoreSdk().FieldValue.delete(),
  arrayUnion: (...elements: unknown[]): Sdk.FieldValue => firestoreSdk().FieldValue.arrayUnion(...elements),
  arrayRemove: (...elements: unknown[]): Sdk.FieldValue => firestoreSdk().FieldValue.arrayRemove(...elements),
};

export const FieldPath = {
  documentId: (): Sdk.FieldPath => firestoreSdk().FieldPath.documentId(),
};

/** A stored time (Timestamp, or a Date written back unread) as an ISO string; anything else is null. */
export function isoTime(value: unknown): string | null {
  if (value instanceof Date) return value.toISOString();
  return isTimestamp(value) ? value.toDate().toISOString() : null;
}

/** True when `value` is a Firestore Timestamp (loads the SDK only when asked). */
export function isTimestamp(value: unknown): value is Sdk.Timestamp {
  return typeof value === "object" && value !== null && value instanceof firestoreSdk().Timestamp;
}
