#!/usr/bin/env bash
# make bench: wharf side by side with nginx, HAProxy, h2o and Caddy on loopback.
# Installs the benchmark packages (scripts/setup.sh --bench), builds the release wharf unless
# WHARF_BIN names one, then runs bench/run.py, which writes bench/RESULTS.md.
# bench/README.md explains the method and the environment variables.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --bench
if [ -z "${WHARF_BIN:-}" ]; then
  scripts/build.sh release
  export WHARF_BIN=$PWD/build/release/wharf
fi

# 10,000 idle connections need as many descriptors in the helper and in every proxy.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

export BENCH_WORKDIR=${BENCH_WORKDIR:-$(mktemp -d /tmp/wharf-bench.XXXXXX)}

# run.py stops what it started; this catches the case where run.py itself dies hard.
cleanup() {
  if [ -f "$BENCH_WORKDIR/pgids" ]; then
    while read -r pgid; do
      kill -KILL -- "-$pgid" 2>/dev/null || true
    done <"$BENCH_WORKDIR/pgids"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

python3 bench/run.py
