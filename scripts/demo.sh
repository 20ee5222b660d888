#!/usr/bin/env bash
# `npm run demo`: installs what is missing, then starts Redis, guacd, the demo targets, the
# development IdP and the portal, and prints the URL and the demo sign-ins. Ctrl-C stops it all.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/ensure.sh"
exec node scripts/demo.ts "$@"
