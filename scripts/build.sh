#!/usr/bin/env bash
# Configures and builds one of wharf's build trees, after making sure the packages are there:
#   release  build/release  optimised, no unit tests            (make build, make run)
#   test     build/test     Debug, ASan+UBSan, unit tests      (make test)
#   fuzz     build/fuzz     clang, ASan+UBSan, libFuzzer       (make fuzz)
# JOBS overrides the number of parallel compile jobs.
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${1:-release}
case "$kind" in
  release)
    dir=build/release
    args=(-DCMAKE_BUILD_TYPE=Release -DWH_TESTS=OFF)
    jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
    ;;
  test)
    dir=build/test
    args=(-DCMAKE_BUILD_TYPE=Debug -DWH_SANITIZE=ON)
    jobs=${JOBS:-2}
    ;;
  fuzz)
    dir=build/fuzz
    args=(-DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWH_FUZZ=ON -DWH_TESTS=OFF)
    jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
    ;;
  *)
    echo "usage: $0 [release|test|fuzz]" >&2
    exit 2
    ;;
esac

scripts/setup.sh
cmake -S . -B "$dir" "${args[@]}"
cmake --build "$dir" -j "$jobs"
