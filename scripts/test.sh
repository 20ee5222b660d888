#!/usr/bin/env bash
# `npm test`: installs what is missing, type-checks, then runs the whole Jest suite against real
# services (started by test/support/global-setup.ts). Extra arguments go to Jest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/ensure.sh"
echo "airlock: type-checking" >&2
tsc --noEmit -p tsconfig.json
NODE_OPTIONS=--experimental-vm-modules exec jest "$@"
