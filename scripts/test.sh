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
# The two player suites run in a Jest process of their own: late in the long single-process run
# their browser seeks miss their waits (in full runs only, never alone; cause not found yet).
PLAYER_SUITES=(test/recording-player.test.ts test/recording-idle-browser.test.ts)
jest --testPathIgnorePatterns=/node_modules/ --testPathIgnorePatterns=recording-player --testPathIgnorePatterns=recording-idle-browser
exec jest "${PLAYER_SUITES[@]}"
