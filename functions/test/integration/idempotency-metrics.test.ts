/**
 * The metrics endpoint over the real Firestore emulator: counters recorded in-process reach the
 * Prometheus text exactly, through the sharded Firestore aggregation, and the endpoint refuses
 * callers without the operator token.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { metrics, metricsAggregator } from "../../src/observability/metrics";
import {
  COUNTERS_FIELD,
  METRICS_COLLECTION,
  createAggregator,
  encodeSeries,
  readAggregated,
} from "../../src/observability/metrics-aggregate";
import { rootFirestore } from "../../src/platform/admin";
import { tenantCallable } from "../../src/platform/callable";
import { metrics as counters, type MetricFamily } from "../../src/platform/metrics";
import { callAs, callHttps, createTestUser, seedTenant, type TestUser } from "../support/firebase";

jest.setTimeout(60_000);

const operatorToken = () => process.env.OPERATOR_TOKEN as string;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Metric families as one sample per line of the exposition (label values as text). */
function flatten(families: readonly MetricFamily[]): Sample[] {
  return families.flatMap((f) =>
    f.values.map((v) => ({
      name: v.metricName ?? f.name,
      labels: Object.fromEntries(Object.entries(v.labels).map(([k, l]) => [k, String(l)])),
      value: v.value,
    })),
  );
}

/** Parses Prometheus text into samples (labels unescaped). */
function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    }
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

const scrape = (authorization?: string) =>
  callHttps(metrics, { method: "GET", headers: authorization ? { Authorization: authorization } : {} });

let owner: TestUser;
let tid: string;
const name = `idemMetrics${randomUUID().slice(0, 8)}`;
let runs = 0;
let failNext = false;
const probe = tenantCallable(
  {
    name,
    description: "test only",
    input: z.strictObject({ n: z.number().int() }),
    permission: "payments:create",
    idempotent: "required",
  },
  async ({ data, db, runTransaction }) => {
    runs++;
    if (failNext) {
      failNext = false;
      throw new Error("boom");
    }
    const ref = db.collection("things").doc();
    return runTransaction(async (tx) => {
      tx.create(ref, { n: data.n });
      return { id: ref.id, n: data.n };
    });
  },
);

beforeAll(async () => {
  owner = await createTestUser();
  tid = await seedTenant({ owner: { user: owner, roles: ["owner"] } });
});

afterAll(() => metricsAggregator.stop());

const mine = (samples: Sample[]) =>
  samples
    .filter((s) => Object.values(s.labels).includes(name))
    .map((s) => ({ ...s, labels: Object.fromEntries(Object.entries(s.labels).sort()) }))
    .sort((a, b) => (a.name + JSON.stringify(a.labels)).localeCompare(b.name + JSON.stringify(b.labels)));

describe("metrics endpoint", () => {
  it("serves, summed from the shards, exactly the values a scripted sequence recorded", async () => {
    const key = randomUUID();
    await callAs(probe, owner, { idempotencyKey: key, n: 1 }); // first
    await metricsAggregator.flush();
    await callAs(probe, owner, { idempotencyKey: key, n: 1 }); // replay
    await callAs(probe, owner, { idempotencyKey: key, n: 2 }).catch(() => undefined); // mismatch
    await metricsAggregator.flush();
    await callAs(probe, owner, { n: 1 }).catch(() => undefined); // missing key
    failNext = true;
    await callAs(probe, owner, { idempotencyKey: randomUUID(), n: 1 }).catch(() => undefined); // first, released
    for (let i = 0; i < 4; i++) {
      await callAs(probe, owner, { idempotencyKey: randomUUID(), n: 10 + i }); // first ×4
      await metricsAggregator.flush();
    }
    expect(runs).toBe(6);

    const res = await scrape(`Bearer ${operatorToken()}`);
    expect(res.status).toBe(200);
    expect(res.contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
    const served = parsePrometheus(res.text as string);
    const byOutcome = (outcome: string) =>
      served.find(
        (s) => s.name === "idempotency_requests_total" && s.labels.fn === name && s.labels.outcome === outcome,
      )?.value;
    expect([byOutcome("first"), byOutcome("replay"), byOutcome("mismatch"), byOutcome("missing_key")]).toEqual([
      6, 1, 1, 1,
    ]);
    const released = served.find(
      (s) => s.name === "idempotency_results_total" && s.labels.fn === name && s.labels.result === "released",
    );
    expect(released?.value).toBe(1);
    // Every series that names this function, whichever module recorded it, matches in-process.
    const local = mine(flatten(await counters.snapshot()));
    expect(local.length).toBeGreaterThan(5);
    // Histogram sums are floats added up delta by delta: equal up to rounding, everything else exactly.
    const exact = (samples: Sample[]) => samples.map((s) => (s.name.endsWith("_sum") ? { ...s, value: 0 } : s));
    expect(exact(mine(served))).toEqual(exact(local));
    expect(local.some((s) => s.name === "faas_invoke_duration_seconds_bucket")).toBe(true);
    for (const [i, s] of mine(served).entries()) expect(s.value).toBeCloseTo(local[i].value, 9);

    // The increments were spread over shard documents and the endpoint summed them.
    const field = `${COUNTERS_FIELD}.${encodeSeries("idempotency_requests_total", { fn: name, outcome: "first" })}`;
    const shards = (await rootFirestore().collection(METRICS_COLLECTION).get()).docs.filter((d) => d.get(field));
    expect(shards.reduce((sum, d) => sum + (d.get(field) as number), 0)).toBe(6);
  });

  it("refuses a missing, wrong or non-operator token with 401 and a Bearer challenge", async () => {
    for (const authorization of [
      undefined,
      "Bearer wrong-token",
      `Bearer ${owner.idToken}`,
      `Basic ${operatorToken()}`,
    ]) {
      const res = await scrape(authorization);
      expect(res.status).toBe(401);
      expect(res.headers).toMatchObject({ "WWW-Authenticate": 'Bearer realm="metrics"' });
      expect(res.text).toBeUndefined();
      expect(JSON.stringify(res.body)).not.toContain("idempotency_requests_total");
    }
  });

  it("does not label any series with a tenant id, uid or key", async () => {
    const res = await scrape(`Bearer ${operatorToken()}`);
    expect(res.text).not.toContain(tid);
    expect(res.text).not.toContain(owner.uid);
  });
});

describe("metrics aggregator", () => {
  it("flushes the first increment after a quiet interval at once, later ones once per interval", async () => {
    const collection = `_metricsTest-${randomUUID().slice(0, 8)}`;
    const clock = { ms: 1_000_000 };
    const aggregator = createAggregator({
      rootDb: rootFirestore,
      intervalMs: () => 60_000,
      shards: () => 4,
      now: () => clock.ms,
      collection,
    });
    const series = `aggTest_${randomUUID().slice(0, 8)}_total`;
    const total = async () =>
      flatten(
        (await (await readAggregated(rootFirestore(), collection)).getMetricsAsJSON()) as unknown as MetricFamily[],
      ).find((s) => s.name === series)?.value ?? 0;
    aggregator.start();
    try {
      counters.inc(series); // leading edge: flushed now
      const deadline = Date.now() + 10_000;
      while ((await total()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(await total()).toBe(1);
      counters.inc(series); // within the interval: waits for the trailing flush (60 s away)
      clock.ms += 59_000;
      counters.inc(series);
      await new Promise((r) => setTimeout(r, 300));
      expect(await total()).toBe(1);
      await aggregator.flush(); // what the trailing flush (or the endpoint) does
      expect(await total()).toBe(3);
      await aggregator.flush(); // nothing new: no double counting
      expect(await total()).toBe(3);
    } finally {
      aggregator.stop();
      await rootFirestore().recursiveDelete(rootFirestore().collection(collection));
    }
  });
});
