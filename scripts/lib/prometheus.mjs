/**
 * Prometheus for `npm test`: Debian's `prometheus` package (promtool and the server) installed
 * when missing, the alert rules checked and unit-tested with promtool, and a loopback Prometheus
 * server for the end-to-end test that scrapes the functions emulator's `metrics` endpoint.
 *
 * The server starts with no target: the test names one (the emulator URL) in the file-based
 * service-discovery file it is given, and empties it afterwards, so no other suite's Firestore
 * operation counts see scrapes.
 */
import { spawn, spawnSync } from "node:child_process";
import { aptInstall } from "./apt.mjs";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stalePolicies } from "../gen-alert-policies.mjs";
import { ROOT } from "./stack.mjs";

const HOST = "127.0.0.1";
const RULES = join(ROOT, "monitoring/alerts.yml");
const RULE_TESTS = join(ROOT, "monitoring/alerts.test.yml");

const has = (bin) => spawnSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" }).status === 0;

/** Installs Debian's `prometheus` package unless promtool and prometheus are on the PATH (CI is root). */
export function ensurePrometheus({ log = console.log } = {}) {
  if (has("promtool") && has("prometheus")) return;
  aptInstall(["prometheus"], { log: (line) => log(`prometheus: ${line}`), recommends: false });
}

/**
 * `promtool check rules` and `promtool test rules` on monitoring/, and the Cloud Monitoring
 * policies generated from the same rules are current. Returns `{passed, failed}` (3 checks).
 */
export function checkAlertRules({ log = console.log } = {}) {
  const checks = [
    ["promtool check rules", () => spawnSync("promtool", ["check", "rules", RULES], { stdio: "inherit" }).status === 0],
    ["promtool test rules", () => spawnSync("promtool", ["test", "rules", RULE_TESTS], { stdio: "inherit", cwd: join(ROOT, "monitoring") }).status === 0],
    [
      "Cloud Monitoring policies current",
      () => {
        const stale = stalePolicies();
        if (stale.length > 0) log(`prometheus: stale policies ${stale.join(", ")}: run node scripts/gen-alert-policies.mjs`);
        return stale.length === 0;
      },
    ],
  ];
  let passed = 0;
  for (const [name, check] of checks) {
    const ok = check();
    log(`prometheus: ${name}: ${ok ? "ok" : "FAILED"}`);
    if (ok) passed++;
  }
  return { passed, failed: checks.length - passed };
}

async function ready(url) {
  try {
    return (await fetch(`${url}/-/ready`)).ok;
  } catch {
    return false;
  }
}

/**
 * Starts Prometheus on loopback (port 9090 + STACK_PORT_OFFSET) with the alert rules loaded and
 * one scrape job, `saas-core`, every 5 s with `Authorization: Bearer <token>`, over the
 * targets in a file-based service-discovery file (empty at first). Resolves to
 * `{url, env, stop}`; `env` tells the tests where the server and the targets file are.
 */
export async function startPrometheus({ token, log = console.log }) {
  const port = 9090 + Number(process.env.STACK_PORT_OFFSET ?? 0);
  const url = `http://${HOST}:${port}`;
  if (await ready(url)) throw new Error(`port ${port} (prometheus) is already in use: stop the other stack first`);
  const dir = mkdtempSync(join(tmpdir(), "saas-core-prometheus-"));
  const targets = join(dir, "targets.json");
  writeFileSync(targets, "[]\n");
  writeFileSync(join(dir, "token"), token);
  writeFileSync(
    join(dir, "prometheus.yml"),
    JSON.stringify({
      global: { scrape_interval: "5s", scrape_timeout: "5s", evaluation_interval: "5s" },
      rule_files: [RULES],
      scrape_configs: [
        {
          job_name: "saas-core",
          authorization: { type: "Bearer", credentials_file: join(dir, "token") },
          file_sd_configs: [{ files: [targets], refresh_interval: "1s" }],
        },
      ],
    }),
  );
  const child = spawn(
    "prometheus",
    [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=${HOST}:${port}`, "--log.level=warn"],
    { stdio: ["ignore", "ignore", "inherit"], detached: true },
  );
  const deadline = Date.now() + 30_000;
  while (!(await ready(url))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error("prometheus did not become ready");
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  log(`prometheus: ${url} (scrape targets from ${targets})`);
  return {
    url,
    env: { PROMETHEUS_URL: url, PROMETHEUS_TARGETS_FILE: targets },
    stop: async () => {
      if (child.exitCode === null) {
        process.kill(-child.pid, "SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The `npm test` hook: installs Prometheus when missing, runs the rule checks (their counts go
 * into the summary) and starts the server. Resolves to `{rules: {passed, failed}, env, stop}`.
 */
export async function prometheusForTests({ token, log = console.log }) {
  ensurePrometheus({ log });
  const rules = checkAlertRules({ log });
  const server = await startPrometheus({ token, log });
  return { rules, env: server.env, stop: server.stop };
}
