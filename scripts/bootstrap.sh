#!/usr/bin/env bash
# Installs whatever is missing on a fresh clone: the root tools (firebase-tools and the node@22
# runtime the tests run on) and the functions codebase.
# npm puts node_modules/.bin first on PATH for the scripts that follow, so after this step
# `node` is Node 22 even where the host has an older one.
set -euo pipefail
cd "$(dirname "$0")/.."

install_if_needed() {
  local dir="$1"
  # Reinstall when node_modules is missing or older than the lockfile.
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "bootstrap: installing dependencies in $dir"
    # `npm install` rather than `npm ci`: npm 11 here records only this platform's optional
    # native bindings (e.g. unrs-resolver's) in lockfiles, which `npm ci` then rejects as out of
    # sync. With the lockfile present, `npm install` still installs exactly the locked versions.
    (cd "$dir" && npm install --no-audit --no-fund --no-save --loglevel=error)
  fi
}

install_if_needed .
install_if_needed functions
install_if_needed migrate
install_if_needed client
install_if_needed examples/console

node_major="$(node_modules/.bin/node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" != "22" ]; then
  echo "bootstrap: expected Node 22 from the node@22 package, got $node_major" >&2
  exit 1
fi
