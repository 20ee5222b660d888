#!/usr/bin/env bash
# `npm run bench -- NAME`: runs bench/NAME.ts, which starts what it needs itself, prints a
# table and, as its last line, one JSON object with the figures.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/ensure.sh"
name="${1:-}"
if [ -z "$name" ] || [ ! -f "bench/$name.ts" ]; then
  echo "usage: npm run bench -- NAME   (one of: $(cd bench && ls *.ts | sed 's/\.ts$//' | grep -v '^lib' | tr '\n' ' '))" >&2
  exit 1
fi
shift
exec node "bench/$name.ts" "$@"
