import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { CheckpointState } from "../../src/checkpoint";
import type { DocumentError } from "../../src/migrate";
import type { VerifyReport } from "../../src/verify";
import { closeAll, firestoreFor, newProject, runCli, startCli, writeMapping } from "../support/cli";
import { badOrders, tmp, typedOrder, writeDump } from "../support/fixtures";

jest.setTimeout(300_000);
afterAll(closeAll);

const TOTAL = 3000;

/** Resolves with the checkpoint once `ready` holds for it (polling the file, not the clock). */
async function checkpointWhen(
  file: string,
  ready: (s: CheckpointState) => boolean,
  exited: () => boolean,
): Promise<CheckpointState> {
  for (;;) {
    if (existsSync(file)) {
      const state = JSON.parse(readFileSync(file, "utf8")) as CheckpointState;
      if (ready(state)) return state;
    }
    if (exited()) throw new Error("the migration ended before the checkpoint showed progress");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("crash and resume", () => {
  it("continues after kill -9 without duplicates or gaps: exact counts and checksums", async () => {
    const dir = tmp();
    const [bad1, bad2, bad3] = badOrders("acme");
    const docs = Array.from({ length: TOTAL }, (_, i) => typedOrder(i, `t${i % 3}`));
    // Bad documents early (recorded before the crash) and late (after it): each is reported once.
    docs.splice(10, 0, bad1);
    docs.splice(20, 0, bad2);
    docs.push(bad3);
    writeDump(dir, "shop", { orders: docs });
    const mapping = writeMapping(dir, {
      version: 1,
      tenants: { mode: "create" },
      collections: [
        { source: "orders", target: "tenants/{tenantId}/orders/{_id}", tenant: { field: "orgId" }, drop: ["orgId"] },
      ],
    });
    const project = newProject();
    const checkpointFile = join(dir, ".migrate/checkpoint.json");

    // Ramp-up on: BulkWriter starts at 500 writes/s, so the run lasts long enough to be killed mid-way.
    const first = startCli(project, ["--source", dir, "--mapping", mapping], dir);
    let exited = false;
    void first.done.then(() => (exited = true));
    const seen = await checkpointWhen(
      checkpointFile,
      (s) => s.collections[0].next >= 500,
      () => exited,
    );
    expect(seen.collections[0].done).toBe(false);
    first.child.kill("SIGKILL");
    expect((await first.done).signal).toBe("SIGKILL");

    const atCrash = JSON.parse(readFileSync(checkpointFile, "utf8")) as CheckpointState;
    const resumedFrom = atCrash.collections[0].next;
    expect(resumedFrom).toBeGreaterThanOrEqual(500);
    expect(resumedFrom).toBeLessThan(docs.length);

    const second = await runCli(
      project,
      ["--source", dir, "--mapping", mapping, "--resume", "--verify", "--no-ramp-up"],
      dir,
    );
    expect(second.stdout).toContain(`resume: orders from ${resumedFrom}`);
    expect(second.code).toBe(1); // the three bad documents
    expect(second.stdout).toContain(`orders → tenants/{tenantId}/orders/{_id}: ${TOTAL} written, 3 failed`);

    const report = JSON.parse(readFileSync(join(dir, ".migrate/verify-report.json"), "utf8")) as VerifyReport;
    expect(report.ok).toBe(true);
    expect(report.collections[0]).toMatchObject({
      sourceDocuments: TOTAL + 3,
      expected: TOTAL,
      conversionErrors: 3,
      matched: TOTAL,
      missing: 0,
      mismatched: 0,
      targetDocuments: TOTAL,
    });
    const errors = readFileSync(join(dir, ".migrate/errors.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as DocumentError).index);
    expect(errors).toEqual([10, 20, TOTAL + 2]);
    const db = firestoreFor(project);
    let count = 0;
    for (const t of ["t0", "t1", "t2"])
      count += (await db.collection(`tenants/${t}/orders`).count().get()).data().count;
    expect(count).toBe(TOTAL);
    expect((await db.collection("tenants").count().get()).data().count).toBe(3);
  });
});
