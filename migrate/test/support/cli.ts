/**
 * Runs the built CLI (dist/cli.js, built by the jest global setup) as a child process against the
 * Firestore emulator at FIRESTORE_EMULATOR_HOST, each test in its own emulator project so "nothing
 * was written" can be checked for the whole project.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { deleteApp, initializeApp } from "firebase-admin/app";
import { type Firestore, getFirestore } from "firebase-admin/firestore";

export const CLI = join(__dirname, "../../dist/cli.js");

if (!process.env.FIRESTORE_EMULATOR_HOST)
  throw new Error("these tests need a Firestore emulator: set FIRESTORE_EMULATOR_HOST");

export const newProject = () => `demo-migrate-${randomUUID().slice(0, 8)}`;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts the CLI; `done` settles when it exits. */
export function startCli(project: string, args: string[], cwd: string) {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...process.env, GCLOUD_PROJECT: project, INIT_CWD: cwd },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

export const runCli = (project: string, args: string[], cwd: string) => startCli(project, args, cwd).done;

const apps: { delete(): Promise<void> }[] = [];

/** An Admin SDK Firestore for `project` (closed by `closeAll`). */
export function firestoreFor(project: string): Firestore {
  const app = initializeApp({ projectId: project }, `${project}-${randomUUID()}`);
  apps.push({ delete: () => deleteApp(app) });
  return getFirestore(app);
}

export const closeAll = () => Promise.all(apps.splice(0).map((a) => a.delete()));

/** Every document path in the project (the migrator writes only under tenants/). */
export async function allDocuments(db: Firestore): Promise<string[]> {
  const paths: string[] = [];
  const walk = async (collections: FirebaseFirestore.CollectionReference[]) => {
    for (const c of collections) {
      for (const ref of await c.listDocuments()) {
        if ((await ref.get()).exists) paths.push(ref.path);
        await walk(await ref.listCollections());
      }
    }
  };
  await walk(await db.listCollections());
  return paths.sort();
}

export function writeMapping(dir: string, mapping: unknown, name = "mapping.json") {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(mapping, null, 2));
  return file;
}
