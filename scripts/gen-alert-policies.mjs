/**
 * Writes monitoring/cloud-monitoring/<alert>.json: each Prometheus alert of monitoring/alerts.yml
 * as a Cloud Monitoring alert policy with the same PromQL condition, duration and labels, in the
 * format `gcloud alpha monitoring policies create --policy-from-file=FILE` takes (one policy per
 * file). `--check` writes nothing and fails when the checked-in files differ (npm test runs it).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const RULES = join(ROOT, "monitoring/alerts.yml");
const OUT = join(ROOT, "monitoring/cloud-monitoring");

const seconds = (duration) => {
  if (!duration) return "0s";
  const m = /^(\d+)([smh])$/.exec(duration);
  if (!m) throw new Error(`unsupported duration ${duration}`);
  return `${Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2]]}s`;
};

const fileName = (alert) => `${alert.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase()}.json`;

/** The policies, by file name, for the rules in `text`. */
export function policies(text) {
  const out = new Map();
  for (const group of parse(text).groups) {
    for (const rule of group.rules) {
      if (!rule.alert) continue;
      const severity = rule.labels?.severity ?? "warning";
      const policy = {
        displayName: `${rule.alert} (saas-core)`,
        documentation: {
          content: [
            `Prometheus rule \`${rule.alert}\` of monitoring/alerts.yml, group \`${group.name}\`.`,
            `Runbook: ${rule.annotations?.runbook_url ?? "docs/operations.md"}`,
          ].join("\n\n"),
          mimeType: "text/markdown",
        },
        userLabels: { severity },
        severity: severity === "critical" ? "CRITICAL" : "WARNING",
        combiner: "OR",
        conditions: [
          {
            displayName: rule.alert,
            conditionPrometheusQueryLanguage: {
              query: rule.expr.trim(),
              duration: seconds(rule.for),
              evaluationInterval: "60s",
              alertRule: rule.alert,
              ruleGroup: group.name,
              labels: rule.labels ?? {},
            },
          },
        ],
        alertStrategy: { autoClose: "1800s" },
      };
      out.set(fileName(rule.alert), `${JSON.stringify(policy, null, 2)}\n`);
    }
  }
  return out;
}

/** Names of files that differ from what `alerts.yml` generates (missing, stale or extra). */
export function stalePolicies() {
  const expected = policies(readFileSync(RULES, "utf8"));
  const present = existsSync(OUT) ? readdirSync(OUT).filter((f) => f.endsWith(".json")) : [];
  const stale = [...expected].filter(([f, text]) => !existsSync(join(OUT, f)) || readFileSync(join(OUT, f), "utf8") !== text);
  return [...stale.map(([f]) => f), ...present.filter((f) => !expected.has(f))];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes("--check")) {
    const stale = stalePolicies();
    if (stale.length > 0) {
      console.error(`monitoring/cloud-monitoring is stale (${stale.join(", ")}): run node scripts/gen-alert-policies.mjs`);
      process.exit(1);
    }
  } else {
    rmSync(OUT, { recursive: true, force: true });
    mkdirSync(OUT, { recursive: true });
    for (const [file, text] of policies(readFileSync(RULES, "utf8"))) writeFileSync(join(OUT, file), text);
    console.log(`wrote ${OUT}`);
  }
}
