/**
 * What the rules suites share: the official emulators found once per file (emulators.ts), a test
 * environment with the repository's rules loaded, and the usual cast of tenants A and B (active)
 * and S (suspended) with their members.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { initializeTestEnvironment, type RulesTestEnvironment } from "@firebase/rules-unit-testing";
import { setLogLevel } from "firebase/firestore";
import { findRulesEmulators, reportSkipped, type RulesEmulators } from "./emulators";

const ROOT = join(__dirname, "../../..");
const rules = (file: string) => readFileSync(join(ROOT, file), "utf8");

export const A = "tenantA";
export const B = "tenantB";
export const S = "tenantS";

export type Members = Record<string, { tid: string; roles: string[]; status?: string }>;

/** The emulators for `project`, the skip line when one is missing, and quiet denials. */
export function rulesEmulators(project: string): RulesEmulators & { describeFirestore: jest.Describe } {
  const emulators = findRulesEmulators(project);
  reportSkipped(emulators);
  // Denied requests are the point of most tests; the SDK would log each one as a warning.
  setLogLevel("error");
  jest.setTimeout(60_000);
  return { ...emulators, describeFirestore: emulators.firestore ? describe : describe.skip };
}

/** A test environment with firestore.rules (and storage.rules when asked) on the found emulators. */
export function rulesEnvironment(
  project: string,
  emulators: RulesEmulators,
  { storage = false } = {},
): Promise<RulesTestEnvironment> {
  return initializeTestEnvironment({
    projectId: project,
    firestore: {
      rules: rules("firestore.rules"),
      host: emulators.firestore?.host ?? "127.0.0.1",
      port: emulators.firestore?.port ?? 8080,
    },
    ...(storage
      ? { storage: { rules: rules("storage.rules"), host: emulators.storage?.host, port: emulators.storage?.port } }
      : {}),
  });
}

/** Clears Firestore, then writes tenants A and B (active), S (suspended) and `members`' memberships. */
export async function seedTenants(env: RulesTestEnvironment, members: Members): Promise<void> {
  await env.clearFirestore();
  await env.withSecurityRulesDisabled(async (ctx) => {
    const admin = ctx.firestore();
    for (const tid of [A, B]) await admin.doc(`tenants/${tid}`).set({ name: tid, status: "active", configVersion: 1 });
    await admin.doc(`tenants/${S}`).set({ name: S, status: "suspended", configVersion: 2 });
    for (const [uid, m] of Object.entries(members)) {
      await admin.doc(`tenants/${m.tid}/members/${uid}`).set({ roles: m.roles, status: m.status ?? "active" });
    }
  });
}
