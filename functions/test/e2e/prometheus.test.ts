/**
 * A real Prometheus server (Debian's package, started on loopback by `npm test`, see
 * scripts/lib/prometheus.mjs) scrapes the functions emulator's `metrics` endpoint with the
 * operator bearer token, and the test reads, through Prometheus' HTTP query API, the duration
 * histogram and error counter of the functions it called: every count exact.
 */
import { writeFileSync } from "node:fs";
import { createTestUser, type TestUser } from "../support/firebase";
import { callCallable, functionUrl } from "../support/http";

jest.setTimeout(240_000);

const prometheus = () => {
  const url = process.env.PROMETHEUS_URL;
  if (!url) throw new Error("PROMETHEUS_URL is not set: run this suite through npm test, which starts Prometheus");
  return url;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The value of a PromQL expression with a single (or no) result; 0 when there is none. */
async function value(expr: string): Promise<number> {
  const res = await fetch(`${prometheus()}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const json = (await res.json()) as {
    status: string;
    data: { resultType: string; result: { value: [number, string] }[] };
  };
  expect(json.status).toBe("success");
  expect(json.data.result.length).toBeLessThanOrEqual(1);
  return json.data.result.length === 0 ? 0 : Number(json.data.result[0].value[1]);
}

interface Target {
  health: string;
  lastScrape: string;
  scrapeUrl: string;
  labels: Record<string, string>;
}

async function target(): Promise<Target | undefined> {
  const res = await fetch(`${prometheus()}/api/v1/targets?state=active`);
  const json = (await res.json()) as { data: { activeTargets: Target[] } };
  return json.data.activeTargets.find((t) => t.labels.job === "saas-core");
}

/** Resolves once Prometheus has completed a scrape that started after this call. */
async function nextScrape(): Promise<void> {
  const after = Date.now();
  const deadline = after + 60_000;
  for (;;) {
    const t = await target();
    if (t && t.health === "up" && Date.parse(t.lastScrape) > after) return;
    if (Date.now() > deadline)
      throw new Error(`no successful scrape since ${new Date(after).toISOString()}: ${JSON.stringify(t)}`);
    await sleep(250);
  }
}

/**
 * Polls `exprs` until their values have not changed for `quietMs` (every instance's pending
 * flush has landed: METRICS_FLUSH_SECONDS is 10 s) and returns them.
 */
async function settled(exprs: string[], quietMs = 12_000, timeoutMs = 90_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  let since = Date.now();
  for (;;) {
    await nextScrape();
    const values = await Promise.all(exprs.map(value));
    const key = JSON.stringify(values);
    if (key !== last) {
      last = key;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return values;
    }
    if (Date.now() > deadline) throw new Error(`metrics did not settle: ${key}`);
  }
}

let user: TestUser;

beforeAll(async () => {
  user = await createTestUser();
  // The emulator starts a function's worker on its first call; Prometheus' scrapes time out at 5 s.
  await fetch(functionUrl("metrics"), { headers: { authorization: `Bearer ${process.env.OPERATOR_TOKEN}` } });
  const url = new URL(functionUrl("metrics"));
  writeFileSync(
    process.env.PROMETHEUS_TARGETS_FILE as string,
    JSON.stringify([{ targets: [url.host], labels: { __metrics_path__: url.pathname } }]),
  );
  await nextScrape();
});

afterAll(() => {
  // No target: later suites' Firestore operation counts see no scrapes.
  if (process.env.PROMETHEUS_TARGETS_FILE) writeFileSync(process.env.PROMETHEUS_TARGETS_FILE, "[]\n");
});

describe("a real Prometheus scraping the metrics endpoint", () => {
  it("scrapes it with the operator token and loads the alert rules", async () => {
    const t = (await target())!;
    expect(t.health).toBe("up");
    expect(t.scrapeUrl).toBe(functionUrl("metrics"));
    const rules = (await (await fetch(`${prometheus()}/api/v1/rules`)).json()) as {
      data: { groups: { rules: { name: string }[] }[] };
    };
    const names = rules.data.groups.flatMap((g) => g.rules.map((r) => r.name));
    expect(names).toEqual(expect.arrayContaining(["FunctionErrorRatioHigh", "FunctionLatencyP95High"]));
  });

  it("sees exactly the invocations, outcomes and errors of the functions this test called", async () => {
    const exprs = [
      'sum(faas_invoke_duration_seconds_count{fn="whoami",kind="callable",code="ok"})',
      'sum(faas_invoke_duration_seconds_bucket{fn="whoami",kind="callable",code="ok",le="+Inf"})',
      'sum(faas_invoke_duration_seconds_count{fn="whoami",kind="callable",code="unauthenticated"})',
      'sum(faas_errors_total{fn="whoami",code="unauthenticated"})',
      'sum(faas_errors_total{fn="whoami",code="ok"})',
    ];
    const before = await settled(exprs);

    for (let i = 0; i < 3; i++) expect((await callCallable("whoami", {}, user.idToken)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await callCallable("whoami", {})).status).toBe(401);

    const after = await settled(exprs);
    expect(after.map((v, i) => v - before[i])).toEqual([3, 3, 2, 2, 0]);

    // The histogram is a real one: Prometheus computes a quantile from its buckets.
    const p50 = await value(
      'histogram_quantile(0.5, sum by (le) (faas_invoke_duration_seconds_bucket{fn="whoami",code="ok"}))',
    );
    expect(p50).toBeGreaterThan(0);
    expect(p50).toBeLessThanOrEqual(10);
    // Prometheus' own scrapes are invocations of the HTTPS endpoint `metrics`.
    expect(await value('sum(faas_invoke_duration_seconds_count{fn="metrics",kind="https",code="ok"})')).toBeGreaterThan(
      0,
    );
  });
});
