# Entry points for people and CI. The work is in scripts/ so that each step can also be
# run on its own; every target that builds first makes sure the packages are installed.

SHELL := /bin/bash
.DEFAULT_GOAL := build

# Sources clang-format owns (seed corpora under tests/fuzz/corpus are data, not code).
FORMAT_FILES = $(shell find cmd lib providers middleware tests -path tests/fuzz/corpus -prune \
                 -o -type f \( -name '*.c' -o -name '*.h' \) -print 2>/dev/null | sort)

.PHONY: setup build run test fuzz bench bench-docker bench-tls bench-observe bench-upstream-tls \
        format format-check clean

setup:
	scripts/setup.sh

build:
	scripts/build.sh release

run:
	scripts/run.sh

test:
	scripts/test.sh

fuzz:
	scripts/fuzz.sh

bench:
	@if [ -f bench/run.sh ]; then bash bench/run.sh; \
	else echo "bench: no benchmarks yet; they arrive with the data plane (bench/run.sh)"; fi

# HTTPS keep-alive and full handshakes against nginx, SNI passthrough against HAProxy (about
# two minutes; run after `make bench`, which rewrites bench/RESULTS.md).
bench-tls: build
	scripts/setup.sh --bench
	WHARF_BIN=$${WHARF_BIN:-build/release/wharf} python3 bench/tls.py

# The cost of the access log and Prometheus metrics, against nginx with and without its access
# log; checks that every request gives one log line and one count (about two minutes; run after
# `make bench`, which rewrites bench/RESULTS.md).
bench-observe: build
	scripts/setup.sh --bench
	WHARF_BIN=$${WHARF_BIN:-build/release/wharf} python3 bench/observe.py

# Proxying to an HTTPS backend (TLS to the backend, verified, pooled, sessions resumed) against
# nginx's `proxy_pass https://` with keep-alive and proxy_ssl_session_reuse; counts the TLS
# handshakes the backend sees (about a minute and a half; run after `make bench`, which rewrites
# bench/RESULTS.md).
bench-upstream-tls: build
	scripts/setup.sh --bench
	WHARF_BIN=$${WHARF_BIN:-build/release/wharf} python3 bench/upstream_tls.py

# Label change latency with 500 labelled containers on a private dockerd (about 10 minutes,
# most of it creating the containers).
bench-docker: build
	python3 bench/docker_reload.py build/release/wharf 500 5

format: setup
	@[ -z "$(FORMAT_FILES)" ] || clang-format -i $(FORMAT_FILES)

format-check: setup
	@[ -z "$(FORMAT_FILES)" ] || clang-format --dry-run -Werror $(FORMAT_FILES)

clean:
	rm -rf build
