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
# The replay suites run in a Jest process of their own: late in the long single-process run the
# player's replay-from-the-start misses its waits (full runs only, never alone; cause not found
# yet), and the export suite's ranged VNC export was refused once there (400) — not seen alone.
PLAYER_SUITES=(test/recording-player.test.ts test/recording-idle-browser.test.ts test/recording-seek-browser.test.ts test/recording-export.test.ts)
jest --testPathIgnorePatterns=/node_modules/ --testPathIgnorePatterns=recording-player --testPathIgnorePatterns=recording-idle-browser \
  --testPathIgnorePatterns=recording-seek-browser --testPathIgnorePatterns=recording-export
exec jest "${PLAYER_SUITES[@]}"
