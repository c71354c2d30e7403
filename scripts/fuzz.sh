#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang and runs each one
# for FUZZ_SECONDS (default 60) on its committed seed corpus tests/fuzz/corpus/<name>/.
# New inputs go to build/fuzz/corpus/<name>/ so the committed seeds only change by hand;
# crashes are written to tests/fuzz/crashes/<name>/ (ignored by git) to be turned into
# regression seeds or unit tests. A tests/fuzz/<name>.dict is used when present.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
shopt -s nullglob
targets=(tests/fuzz/fuzz_*.c)
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no targets in tests/fuzz/"
  exit 0
fi

scripts/build.sh fuzz

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for src in "${targets[@]}"; do
  name=$(basename "$src" .c)
  seeds=tests/fuzz/corpus/$name
  work=build/fuzz/corpus/$name
  crashes=tests/fuzz/crashes/$name
  mkdir -p "$work" "$crashes"
  corpora=("$work")
  if [ -d "$seeds" ]; then
    corpora+=("$seeds")
  else
    echo "fuzz: $name has no seed corpus ($seeds); starting from nothing" >&2
  fi
  opts=(-max_total_time="$seconds" -artifact_prefix="$crashes/" -print_final_stats=1)
  [ -f "tests/fuzz/$name.dict" ] && opts+=(-dict="tests/fuzz/$name.dict")
  echo "== $name (${seconds}s)"
  "build/fuzz/$name" "${opts[@]}" "${corpora[@]}" || failed+=("$name")
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: failures in ${failed[*]}; inputs are in tests/fuzz/crashes/" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s) ran ${seconds}s each without a crash"
