/**
 * Finds the official Firestore and Storage emulators the rules tests need. The stack always runs
 * the official Firestore emulator (FIRESTORE_CLIENT_HOST; FIRESTORE_EMULATOR_HOST is the server
 * SDKs' counting proxy), so the Firestore rules tests never skip: without it they fail. The
 * Storage emulator's rules runtime is a download that these machines cannot fetch, so the
 * Storage rules tests are skipped where it is absent, with one line that says why.
 *
 * The probe runs synchronously (a child process) because jest decides describe vs describe.skip
 * while collecting tests, before any hook could await.
 */
import { execFileSync } from "node:child_process";

export interface RulesEmulator {
  host: string;
  port: number;
}

export interface RulesEmulators {
  firestore?: RulesEmulator;
  storage?: RulesEmulator;
  /** Why a service is missing, for the skip line. */
  missing: string[];
}

const PROBE = `
const [firestore, storage, project] = process.argv.slice(1);
const rules = "rules_version = '2'; service cloud.firestore { match /databases/{db}/documents { match /{d=**} { allow read, write: if false; } } }";
async function probe(url, init) {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(3000) });
    return res.status;
  } catch {
    return 0;
  }
}
(async () => {
  const fs = await probe("http://" + firestore + "/emulator/v1/projects/" + project + ":securityRules", {
    method: "PUT",
    body: JSON.stringify({ rules: { files: [{ content: rules }] } }),
  });
  const st = await probe("http://" + storage + "/", { method: "GET" });
  process.stdout.write(JSON.stringify({ firestore: fs, storage: st }));
})();
`;

function split(hostPort: string): RulesEmulator {
  const url = new URL(`http://${hostPort}`);
  return { host: url.hostname, port: Number(url.port) };
}

/** Probes once per process. */
export function findRulesEmulators(projectId: string): RulesEmulators {
  const firestoreHost = process.env.FIRESTORE_CLIENT_HOST ?? "127.0.0.1:8080";
  const storageHost = process.env.FIREBASE_STORAGE_EMULATOR_HOST ?? "127.0.0.1:9199";
  let status = { firestore: 0, storage: 0 };
  try {
    status = JSON.parse(
      execFileSync(process.execPath, ["-e", PROBE, firestoreHost, storageHost, projectId], {
        timeout: 10_000,
        encoding: "utf8",
      }),
    );
  } catch {
    // Treated as "nothing reachable".
  }
  const found: RulesEmulators = { missing: [] };
  if (status.firestore === 200) found.firestore = split(firestoreHost);
  else
    found.missing.push(
      `no official Firestore emulator with a rules engine at ${firestoreHost} (PUT :securityRules answered ${status.firestore || "nothing"})`,
    );
  if (status.storage > 0) found.storage = split(storageHost);
  else found.missing.push(`no Storage emulator at ${storageHost}`);
  return found;
}

let reported = false;

/** Prints the one skip line (once per process). */
export function reportSkipped(emulators: RulesEmulators): void {
  if (reported || emulators.missing.length === 0) return;
  reported = true;
  process.stdout.write(
    `rules tests SKIPPED: ${emulators.missing.join("; ")} — the Storage rules tests need the Storage emulator (firebase emulators:start --only storage, Java 21 and a download).\n`,
  );
}
