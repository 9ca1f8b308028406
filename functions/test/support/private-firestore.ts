/**
 * A private official Cloud Firestore emulator on a free port, for tests that stop Firestore on
 * purpose (health checks, failure handling) without disturbing the shared stack.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, createConnection } from "node:net";

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** True when something accepts connections on `port`. */
export const answers = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });

/** Starts the emulator and resolves once it accepts connections. */
export async function startPrivateFirestore(): Promise<{ child: ChildProcess; host: string }> {
  const port = await freePort();
  const jar = process.env.FIRESTORE_EMULATOR_JAR as string;
  const child = spawn(
    "java",
    [
      "-cp",
      jar,
      "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
      "start",
      "--host=127.0.0.1",
      `--port=${port}`,
    ],
    { stdio: "ignore" },
  );
  const deadline = Date.now() + 60_000;
  while (!(await answers(port))) {
    if (child.exitCode !== null) throw new Error(`the Firestore emulator (${jar}) exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error("the private Firestore emulator did not start within 60 s");
    await new Promise((r) => setTimeout(r, 200));
  }
  return { child, host: `127.0.0.1:${port}` };
}
