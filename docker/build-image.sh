#!/usr/bin/env bash
# Builds docker/Dockerfile into an image (default tag wharf:latest) with the engine that
# DOCKER_HOST (or the default socket) points at.
# Where debian:bookworm-slim cannot be pulled (no registry reachable), the base image is made
# locally with debootstrap from the Debian mirror this machine's apt sources already use, and
# the tarball is cached for the next run in $WHARF_IMAGE_CACHE (default
# ${XDG_CACHE_HOME:-~/.cache}/wharf/; the integration tests use /var/cache/wharf-test/).
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${1:-wharf:latest}
base=debian:bookworm-slim
cache=${WHARF_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wharf}
tarball=$cache/debian-bookworm-minbase.tar

command -v docker >/dev/null 2>&1 || { echo "build-image: no docker CLI (package docker.io)" >&2; exit 1; }

# The mirror the apt sources use for bookworm itself (deb822 .sources or one-line .list).
apt_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk 'BEGIN { RS = "" }
      /(^|\n)Suites:[^\n]*[ \t]bookworm([ \t]|\n|$)/ && match($0, /URIs:[ \t]*[^ \t\n]+/) {
        s = substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", s); print s; exit }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" { for (i = 2; i < NF; i++)
      if ($i ~ /^[a-z]+:\/\// && $(i + 1) == "bookworm") { print $i; exit } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
}

if ! docker image inspect "$base" >/dev/null 2>&1 && ! docker pull "$base" >/dev/null 2>&1; then
  if [ ! -s "$tarball" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "build-image: debootstrap needs root" >&2; exit 1; }
    scripts/setup.sh debootstrap
    mirror=$(apt_mirror)
    [ -n "$mirror" ] || { echo "build-image: no Debian mirror in the apt sources" >&2; exit 1; }
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    # mktemp makes the directory 0700, and it becomes the image's /: the non-root user of the
    # final stage could not even reach its own binary.
    chmod 0755 "$root"
    echo "build-image: making $base with debootstrap from $mirror" >&2
    debootstrap --variant=minbase bookworm "$root" "$mirror"
    mkdir -p "$cache"
    tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  fi
  docker import "$tarball" "$base"
fi

docker build --network host -f docker/Dockerfile -t "$tag" .
