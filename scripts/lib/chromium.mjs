/**
 * Debian's Chromium for the browser tests: installed with apt-get when missing (CI machines start
 * without it). Returns the executable's path.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

export function ensureChromium() {
  const found = CANDIDATES.find((p) => existsSync(p));
  if (found) return found;
  const sudo = process.getuid?.() === 0 ? [] : ["sudo"];
  const apt = (args) =>
    spawnSync(sudo[0] ?? "apt-get", [...sudo.slice(1), ...(sudo.length ? ["apt-get"] : []), ...args], {
      stdio: "inherit",
    });
  console.log("browser tests: installing Debian's chromium");
  if (apt(["install", "-y", "chromium"]).status !== 0) {
    apt(["update"]);
    if (apt(["install", "-y", "chromium"]).status !== 0) throw new Error("could not install chromium with apt-get");
  }
  const installed = CANDIDATES.find((p) => existsSync(p));
  if (!installed) throw new Error("chromium installed but not found on its usual path");
  return installed;
}

/** The flags Chromium needs on these machines (no sandbox, GPU or background traffic). */
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"];
