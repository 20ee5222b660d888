#!/usr/bin/env bash
# `npm test`: installs what is missing, type-checks, then runs the whole Jest suite against real
# services (started by test/support/global-setup.ts). Extra arguments go to Jest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/ensure.sh"
echo "airlock: type-checking" >&2
tsc --noEmit -p tsconfig.json
export NODE_OPTIONS=--experimental-vm-modules
# Named suites or Jest options: one run, as asked.
if [ "$#" -gt 0 ]; then exec jest "$@"; fi
# The player's idle-span test runs in a Jest process of its own: late in the long single-process
# run its browser seek misses its wait (twice in full runs, never alone; not understood yet).
jest --testPathIgnorePatterns=/node_modules/ --testPathIgnorePatterns=recording-idle-browser
exec jest test/recording-idle-browser.test.ts
