/** Small helpers shared by the benchmarks: interleaved sampling, medians and a table with ratios. */

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Prints rows of `{name, value, baseline?, unit, goal?, ok?}` with the ratio value/baseline. */
export function printTable(title, rows) {
  console.log(`\n${title}`);
  const header = ["row", "median", "baseline", "ratio", "goal", "result"];
  const lines = rows.map((r) => [
    r.name,
    `${r.value.toFixed(r.digits ?? 2)} ${r.unit}`,
    r.baseline === undefined ? "-" : `${r.baseline.toFixed(r.digits ?? 2)} ${r.unit}`,
    r.baseline === undefined || r.baseline === 0 ? "-" : (r.value / r.baseline).toFixed(2),
    r.goal ?? "-",
    r.ok === undefined ? "-" : r.ok ? "ok" : "FAIL",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join(" | ");
  console.log(fmt(header));
  console.log(widths.map((w) => "-".repeat(w)).join("-|-"));
  lines.forEach((l) => console.log(fmt(l)));
}

/**
 * `samples` samples of every row, the rows taking turns within each round (order reversed every
 * other round) so machine noise hits them alike. `measure(fn, name)` takes one sample.
 */
export async function interleaved(rows, samples, measure) {
  const out = Object.fromEntries(Object.keys(rows).map((name) => [name, []]));
  for (let s = 0; s < samples; s++) {
    const order = Object.keys(rows);
    if (s % 2) order.reverse();
    for (const name of order) out[name].push(await measure(rows[name], name));
  }
  return out;
}

/** Mean µs per call over `calls` awaited calls of `fn`. */
export async function microsPerCall(fn, calls) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await fn();
  return Number(process.hrtime.bigint() - start) / 1000 / calls;
}
