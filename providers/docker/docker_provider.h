/* The Docker provider (providers.docker): containers of a Docker engine,
 * watched through its event stream, become the "docker" configuration
 * fragment. See docs/internals/docker-provider.md.
 *
 * The provider keeps every inspected container (running or not) in a cache;
 * an event re-inspects only the container it names, then the whole fragment
 * is rebuilt from the cache with wh_docker_build (docker_config.h) and emitted
 * when its canonical text changed. While the engine is unreachable nothing is
 * emitted: the last configuration keeps serving. */
#ifndef WH_PROVIDERS_DOCKER_DOCKER_PROVIDER_H
#define WH_PROVIDERS_DOCKER_DOCKER_PROVIDER_H

#include "lib/config/provider.h"

/* start() borrows stat (it must outlive the provider). */
extern const wh_provider_type wh_provider_docker;

/* Rebuilds after events are coalesced: at most one emit per this window. */
#define WH_DOCKER_DEBOUNCE_MS 100
/* Reconnect backoff: doubles from MIN up to MAX, back to MIN after a
 * successful full resync. */
#define WH_DOCKER_BACKOFF_MIN_MS 500
#define WH_DOCKER_BACKOFF_MAX_MS 30000
/* Inspects in flight at once (a host with 1,000 containers must not open
 * 1,000 connections to the engine). */
#define WH_DOCKER_MAX_INFLIGHT 8
/* Timeout of list and inspect requests when httpClientTimeout is 0. */
#define WH_DOCKER_DEFAULT_TIMEOUT_MS 60000

/* The 64-hex container id found in a /proc/self/cgroup text (v1 paths
 * ".../docker/<id>", "docker-<id>.scope") or, failing that, in a
 * /proc/self/mountinfo text (cgroup v2: ".../containers/<id>/hostname").
 * Either text may be NULL. Returns a new string, or NULL when none. */
char *wh_docker_find_self_id(const char *cgroup, const char *mountinfo);

#endif
