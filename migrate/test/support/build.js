// Jest global setup: the emulator tests run the CLI as a child process, so build it first.
const { execFileSync } = require("node:child_process");
const { join } = require("node:path");

module.exports = () => {
  const root = join(__dirname, "../..");
  execFileSync(
    process.execPath,
    [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "tsconfig.build.json")],
    { stdio: "inherit" },
  );
};
