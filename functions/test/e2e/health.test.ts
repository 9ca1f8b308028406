/**
 * `health` over HTTP in the functions emulator: liveness, the public readiness answer, and the
 * operator's detail, where the Cloud Tasks queues are the ones the functions emulator registered
 * for the exported task functions.
 */
import { taskQueueNames } from "../../src/health/defaults";
import { functionUrl } from "../support/http";

interface Check {
  name: string;
  status: string;
  latencyMs: number;
  reason?: string;
}

async function get(query = "", headers: Record<string, string> = {}) {
  const res = await fetch(`${functionUrl("health")}${query}`, { headers });
  return {
    status: res.status,
    cache: res.headers.get("cache-control"),
    body: (await res.json()) as Record<string, unknown>,
  };
}

describe("health over HTTP", () => {
  it("answers liveness", async () => {
    expect(await get("?probe=live")).toMatchObject({ status: 200, body: { status: "ok" }, cache: "no-store" });
  });

  it("answers readiness with the status only to the public", async () => {
    const res = await get();
    expect([200, 503]).toContain(res.status);
    expect(Object.keys(res.body)).toEqual(["status"]);
  });

  it("shows the operator every dependency, with every task queue registered and running", async () => {
    const res = await get("", { authorization: `Bearer ${process.env.OPERATOR_TOKEN}` });
    const checks = res.body.checks as Check[];
    const byName = new Map(checks.map((c) => [c.name, c]));
    const queues = await taskQueueNames();
    expect(queues.length).toBeGreaterThan(0);
    for (const queue of queues) expect(byName.get(`tasks:${queue}`)).toMatchObject({ status: "ok" });
    expect(byName.get("firestore")).toMatchObject({ status: "ok" });
    expect(byName.get("auth")).toMatchObject({ status: "ok" });
    expect(byName.get("secrets")).toMatchObject({ status: "ok" });
    expect(res.status).toBe(checks.some((c) => c.status === "fail") ? 503 : 200);
  });

  it("refuses other methods", async () => {
    const res = await fetch(functionUrl("health"), { method: "POST" });
    expect(res.status).toBe(405);
  });
});
