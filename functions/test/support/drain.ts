/**
 * Registers this file's drain (see environment.ts): close the file's Firestore client, which
 * waits for the calls still in flight. Imported up front: nothing may be loaded between tests.
 */
import { getApps } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";

const DRAIN = Symbol.for("saas-core.drain");

(globalThis as Record<symbol, () => Promise<void>>)[DRAIN] = async () => {
  const app = getApps()[0];
  if (app) await getFirestore(app).terminate();
};
