/**
 * Installs Debian packages the test suites need (Redis, Prometheus, Chromium): CI machines start
 * without them. Root runs apt-get directly (CI); elsewhere sudo must not prompt. A fresh machine
 * may have no package lists yet, so a failed install updates them once and tries again.
 */
import { spawnSync } from "node:child_process";

/** Installs `packages` with apt-get (without their recommended packages when asked); throws when that fails. */
export function aptInstall(packages, { log = console.log, recommends = true } = {}) {
  log(`installing Debian's ${packages.join(", ")} with apt-get`);
  const [cmd, ...prefix] = process.getuid?.() === 0 ? ["apt-get"] : ["sudo", "-n", "apt-get"];
  const apt = (args) =>
    spawnSync(cmd, [...prefix, ...args], {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    }).status === 0;
  const install = () => apt(["install", "-y", ...(recommends ? [] : ["--no-install-recommends"]), ...packages]);
  if (!install() && !(apt(["update"]) && install())) {
    throw new Error(`could not install ${packages.join(", ")} with apt-get`);
  }
}
