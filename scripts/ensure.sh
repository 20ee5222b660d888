#!/usr/bin/env bash
# Brings this checkout to a runnable state, doing only what is missing: npm dependencies
# (including the Node.js 24 runtime the project pins as a dev dependency), the Debian packages
# (scripts/setup-system.sh), and the built client. Sourced by demo.sh and test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! command -v npm >/dev/null 2>&1; then
  echo "airlock: npm is required (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi

# npm dependencies: install when missing or when package-lock.json changed since the last install.
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "airlock: installing npm dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
# Every later step runs on the project's Node.js 24, whatever the system's is.
export PATH="$ROOT/node_modules/.bin:$PATH"

bash "$ROOT/scripts/setup-system.sh"

# The client bundle: rebuild when any client source is newer than the build.
if [ ! -f dist/client/index.html ] || [ -n "$(find client package-lock.json -newer dist/client/index.html -type f -print -quit)" ]; then
  echo "airlock: building the client" >&2
  vite build --config client/vite.config.ts --logLevel error
fi
