#!/usr/bin/env bash
# Makes sure the Debian packages wharf needs to build, run and test are installed.
# As root it installs what is missing; otherwise it prints the exact command and fails,
# because a build that goes on without its libraries only fails later and less clearly.
# Extra package names may be given as arguments (for tests that need more, e.g. docker.io).
# Quiet when nothing is missing.
# chromium is the browser the dashboard test drives (tests/browser: playwright-core, which
# scripts/test.sh installs with the machine's npm).
# --bench adds the peers and client that `make bench` measures wharf against (bench/run.sh).
set -euo pipefail

bench=()
if [ "${1:-}" = --bench ]; then
  shift
  bench=(nginx-light haproxy h2o caddy)
fi

packages=(
  build-essential cmake pkg-config clang clang-format
  libuv1-dev node-llhttp libssl-dev libcurl4-openssl-dev libcjson-dev libyaml-dev
  libcmocka-dev libpcre2-dev libcrypt-dev zlib1g-dev libbrotli-dev libzstd-dev libldns-dev
  python3 python3-pytest python3-yaml python3-requests python3-cryptography
  curl openssl wrk apache2-utils brotli zstd nginx-light
  docker.io busybox-static docker-compose debootstrap
  pebble knot
  chromium
  "${bench[@]}"
  "$@"
)
# Node.js and npm drive that browser; a machine that already has them (any packaging) keeps
# its own, otherwise Debian's (Node 18, which the pinned playwright-core supports).
if ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup: dpkg-query not found; wharf's set-up expects Debian 12 or a derivative." >&2
  echo "setup: install the equivalents of: ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "setup: these packages are missing: ${missing[*]}" >&2
  echo "setup: install them with:" >&2
  echo "sudo apt-get install -y ${missing[*]}"
  exit 1
fi
