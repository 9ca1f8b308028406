/**
 * Idempotency and metrics over HTTP against the functions emulator: the real `createPayment`
 * replays byte for byte, and its counters — recorded in the function's own worker process —
 * reach the `metrics` endpoint (another process) through the sharded Firestore aggregation.
 */
import { randomUUID } from "node:crypto";
import { rootFirestore } from "../../src/platform/admin";
import { createTestUser, seedTenant, type TestUser } from "../support/firebase";
import { functionUrl } from "../support/http";

jest.setTimeout(90_000);

let owner: TestUser;
let tid: string;

beforeAll(async () => {
  owner = await createTestUser();
  tid = await seedTenant({ owner: { user: owner, roles: ["owner"] } });
});

async function rawCall(
  name: string,
  data: unknown,
): Promise<{ status: number; text: string; replayed: string | null }> {
  const res = await fetch(functionUrl(name), {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${owner.idToken}` },
    body: JSON.stringify({ data }),
  });
  return { status: res.status, text: await res.text(), replayed: res.headers.get("idempotent-replayed") };
}

async function scrapeValue(fn: string, outcome: string): Promise<number> {
  const res = await fetch(functionUrl("metrics"), {
    headers: { authorization: `Bearer ${process.env.OPERATOR_TOKEN}` },
  });
  expect(res.status).toBe(200);
  const text = await res.text();
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`idempotency_requests_total{fn="${fn}",outcome="${outcome}"} `));
  return line ? Number(line.split(" ").pop()) : 0;
}

describe("idempotency over HTTP", () => {
  it("replays createPayment byte for byte with one payment, and the counts reach the metrics endpoint", async () => {
    const replaysBefore = await scrapeValue("createPayment", "replay");
    const description = `e2e-${randomUUID()}`;
    const data = { idempotencyKey: randomUUID(), amount: 4200, currency: "eur", description };
    const first = await rawCall("createPayment", data);
    const second = await rawCall("createPayment", data);
    const third = await rawCall("createPayment", data);
    expect(first.status).toBe(200);
    expect(second.text).toBe(first.text);
    expect(third.text).toBe(first.text);
    // The body stays the first answer's bytes; the callable's HTTP response says it is a replay.
    expect([first.replayed, second.replayed, third.replayed]).toEqual([null, "true", "true"]);
    const payments = await rootFirestore()
      .collection(`tenants/${tid}/payments`)
      .where("description", "==", description)
      .get();
    expect(payments.size).toBe(1);

    const reused = await rawCall("createPayment", { ...data, amount: 1 });
    expect(reused.status).toBe(400);
    expect(JSON.parse(reused.text).error).toMatchObject({
      status: "FAILED_PRECONDITION",
      details: { reason: "idempotency-key-reused" },
    });

    // The function's worker flushes within METRICS_FLUSH_SECONDS (10 s); poll a bounded while.
    const deadline = Date.now() + 45_000;
    let replays = await scrapeValue("createPayment", "replay");
    while (replays < replaysBefore + 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      replays = await scrapeValue("createPayment", "replay");
    }
    expect(replays).toBeGreaterThanOrEqual(replaysBefore + 2);
  });

  it("refuses the metrics endpoint without the operator token", async () => {
    for (const authorization of [undefined, "Bearer nope", `Bearer ${owner.idToken}`]) {
      const res = await fetch(functionUrl("metrics"), { headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="metrics"');
      expect(await res.text()).not.toContain("idempotency_requests_total");
    }
  });
});
