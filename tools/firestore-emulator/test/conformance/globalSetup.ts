/**
 * One emulator for the whole conformance run.
 *
 * - FIRESTORE_EMULATOR_HOST already set: use that emulator (e.g. the official one, to compare).
 * - otherwise: start ours in-process on an ephemeral port and export FIRESTORE_EMULATOR_HOST.
 *
 * Then probe `GET /emulator/v1/projects/x/operations`: 200 means our op-log endpoints exist
 * (FIRESTORE_EMULATOR_OPLOG=1), anything else (the official emulator answers 404) means the
 * op-log tests are skipped (FIRESTORE_EMULATOR_OPLOG=0). An explicit FIRESTORE_EMULATOR_OPLOG
 * in the environment wins over the probe.
 */
import { loadStart } from "./load-emulator";

export default async function globalSetup(): Promise<void> {
  if (!process.env.FIRESTORE_EMULATOR_HOST) {
    const start = loadStart();
    const emu = await start({ host: "127.0.0.1", port: 0, quiet: true });
    (globalThis as any).__CONFORMANCE_EMULATOR__ = emu;
    process.env.FIRESTORE_EMULATOR_HOST = `${emu.host}:${emu.port}`;
  }
  const host = process.env.FIRESTORE_EMULATOR_HOST;
  if (process.env.FIRESTORE_EMULATOR_OPLOG === undefined) {
    let status = 0;
    try {
      status = (await fetch(`http://${host}/emulator/v1/projects/x/operations`)).status;
    } catch {
      status = -1;
    }
    process.env.FIRESTORE_EMULATOR_OPLOG = status === 200 ? "1" : "0";
  }
  // eslint-disable-next-line no-console
  console.log(
    `\nconformance: target ${host} (${(globalThis as any).__CONFORMANCE_EMULATOR__ ? "ours, in-process" : "external"}), ` +
      `op-log tests ${process.env.FIRESTORE_EMULATOR_OPLOG === "1" ? "enabled" : "SKIPPED (no op-log endpoint, or FIRESTORE_EMULATOR_OPLOG=0)"}`,
  );
}
