/**
 * Debian's Chromium for the browser tests: installed with apt-get when missing (CI machines start
 * without it). Returns the executable's path.
 */
import { aptInstall } from "./apt.mjs";
import { existsSync } from "node:fs";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

export function ensureChromium() {
  const found = CANDIDATES.find((p) => existsSync(p));
  if (found) return found;
  aptInstall(["chromium"], { log: (line) => console.log(`browser tests: ${line}`) });
  const installed = CANDIDATES.find((p) => existsSync(p));
  if (!installed) throw new Error("chromium installed but not found on its usual path");
  return installed;
}

/** The flags Chromium needs on these machines (no sandbox, GPU or background traffic). */
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"];
