#!/usr/bin/env bash
# The test command (make test): builds build/test with ASan+UBSan, runs the unit tests
# through CTest, then the integration tests against build/test/wharf.
# Both suites always run once the build succeeds, so one failing suite does not hide
# the other's result; the exit status is non-zero if either failed.
# PYTEST_ARGS adds pytest arguments, e.g. PYTEST_ARGS='-k smoke'.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build.sh test

# Leak checks stay on; halting on the first UBSan report makes it a failure, not a log line.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0

echo "== unit tests (ctest)"
ctest --test-dir build/test --output-on-failure --no-tests=error -j 2 || status=1

echo "== integration tests (pytest)"
# The dashboard test's browser driver, pinned in tests/browser/package.json; the browser is
# Debian's chromium (scripts/setup.sh). Without it that test fails under CI=true.
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  if command -v npm >/dev/null 2>&1; then
    (cd tests/browser && npm install --no-audit --no-fund) || echo "test: npm install failed in tests/browser" >&2
  else
    echo "test: npm not found; the dashboard browser test cannot run" >&2
  fi
fi
# The system interpreter, so that Debian's pytest/yaml/requests are the ones used.
# shellcheck disable=SC2086 # PYTEST_ARGS is meant to split into words
WHARF_BIN="$PWD/build/test/wharf" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
  ${PYTEST_ARGS:-} tests/integration || status=1

if [ "$status" -ne 0 ]; then
  echo "== FAILED (see above)" >&2
fi
exit "$status"
