/**
 * Lazy Admin SDK access. The app is initialised on first use, not at import, so loading the
 * codebase (cold start, CLI discovery) costs nothing until a handler needs Firestore or Auth.
 *
 * Only platform code (and the tenancy data layer) may call `rootFirestore()`; module code gets a
 * tenant-scoped `db` from the wrappers.
 */
import type { App } from "firebase-admin/app";
import type { Auth } from "firebase-admin/auth";
import type { Firestore } from "firebase-admin/firestore";

let app: App | undefined;
let firestore: Firestore | undefined;
let auth: Auth | undefined;

/** The default Admin app, created on first call. */
export function adminApp(): App {
  if (!app) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { getApps, initializeApp } = require("firebase-admin/app") as typeof import("firebase-admin/app");
    app = getApps()[0] ?? initializeApp();
  }
  return app;
}

/** The unscoped Firestore client. Platform code only. */
export function rootFirestore(): Firestore {
  if (!firestore) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { getFirestore } = require("firebase-admin/firestore") as typeof import("firebase-admin/firestore");
    firestore = getFirestore(adminApp());
    // Let callers write documents with optional fields left undefined instead of failing.
    firestore.settings({ ignoreUndefinedProperties: true });
  }
  return firestore;
}

/** The Admin Auth client. */
export function adminAuth(): Auth {
  if (!auth) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { getAuth } = require("firebase-admin/auth") as typeof import("firebase-admin/auth");
    auth = getAuth(adminApp());
  }
  return auth;
}
