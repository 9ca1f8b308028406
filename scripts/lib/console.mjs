/**
 * Serves the reference console (examples/console, Vite) beside a running stack, wired to its
 * emulators through VITE_* variables. Used by `npm start` and the browser tests.
 */
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { join } from "node:path";
import { ROOT } from "./stack.mjs";

export const CONSOLE_PORT = 5173 + Number(process.env.STACK_PORT_OFFSET ?? 0);
const DIR = join(ROOT, "examples/console");

const portOpen = (port) =>
  new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.end(), resolve(true)));
    socket.once("error", () => resolve(false));
  });

/** Starts Vite on CONSOLE_PORT; resolves once it listens, with its URL and a stop(). */
export async function startConsole(stackEnv, { quiet = false } = {}) {
  if (await portOpen(CONSOLE_PORT)) throw new Error(`port ${CONSOLE_PORT} (console) is already in use`);
  const child = spawn(process.execPath, [join(DIR, "node_modules/vite/bin/vite.js"), "--port", String(CONSOLE_PORT)], {
    cwd: DIR,
    env: {
      ...process.env,
      VITE_PROJECT_ID: stackEnv.GCLOUD_PROJECT,
      VITE_AUTH_EMULATOR: `http://${stackEnv.FIREBASE_AUTH_EMULATOR_HOST}`,
      VITE_FUNCTIONS_EMULATOR: stackEnv.FUNCTIONS_EMULATOR_ORIGIN,
      VITE_FIRESTORE_EMULATOR: stackEnv.FIRESTORE_CLIENT_HOST,
    },
    stdio: ["ignore", quiet ? "ignore" : "inherit", "inherit"],
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  for (let i = 0; i < 300 && !(await portOpen(CONSOLE_PORT)); i++) {
    if (child.exitCode !== null) throw new Error("the console's Vite server exited");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    url: `http://127.0.0.1:${CONSOLE_PORT}/`,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
