/* The Swarm provider (providers.swarm): the services of a Swarm manager,
 * polled every refreshSeconds, become the "swarm" configuration fragment.
 * See docs/internals/swarm-provider.md.
 *
 * Each poll lists the services, the swarm-scoped networks and the running
 * tasks of every service; every running task becomes a wh_docker_container
 * (labels from the service spec, addresses from its network attachments), or
 * with lbswarm the service becomes one container at its virtual IP. The
 * Docker provider's wh_docker_build then applies the label semantics, and the
 * fragment is emitted when its canonical text changed. A failed poll emits
 * nothing: the last configuration keeps serving. */
#ifndef WH_PROVIDERS_SWARM_SWARM_PROVIDER_H
#define WH_PROVIDERS_SWARM_SWARM_PROVIDER_H

#include <stddef.h>

#include "lib/config/provider.h"
#include "lib/core/err.h"
#include "providers/docker/docker_config.h"

struct cJSON;

/* start() borrows stat (it must outlive the provider). */
extern const wh_provider_type wh_provider_swarm;

/* Timeout of each request when httpClientTimeout is 0. */
#define WH_SWARM_DEFAULT_TIMEOUT_MS 60000
/* Poll interval when refreshSeconds is 0 or negative. */
#define WH_SWARM_DEFAULT_REFRESH_MS 15000
/* Services with more tasks than this keep only the first ones. */
#define WH_SWARM_MAX_TASKS 10000

/* Network id → name of the swarm-scoped overlay networks (GET /networks). */
typedef struct wh_swarm_netmap {
  char **ids, **names;
  size_t n;
} wh_swarm_netmap;

/* Fills m from a /networks answer, keeping networks whose Scope is "swarm"
 * and whose Driver is "overlay" (when those fields are present). Anything
 * that is not a network is ignored. Returns 0 or WH_ENOMEM; free with
 * wh_swarm_netmap_free in every case. */
int wh_swarm_netmap_parse(const struct cJSON *networks, wh_swarm_netmap *m);
void wh_swarm_netmap_free(wh_swarm_netmap *m);

/* Containers produced for one service (owned by the list). */
typedef struct wh_swarm_containers {
  wh_docker_container **v;
  size_t n;
} wh_swarm_containers;

void wh_swarm_containers_free(wh_swarm_containers *l);

/* Whether the service (an element of GET /services) is load-balanced by its
 * virtual IP: label traefik.swarm.lbswarm (or deprecated
 * traefik.docker.lbswarm) is true. Sets *err (allocated) on a bad label. */
bool wh_swarm_service_lbswarm(const struct cJSON *service, char **err);

/* Appends the containers of service to out: with lbswarm one container at
 * the service's virtual IPs, else one per running task of tasks (the answer
 * of GET /tasks for the service; may be NULL with lbswarm). The containers'
 * labels are the service's, with the provider labels traefik.swarm.* and
 * traefik.docker.{network,lbswarm} folded into traefik.docker.network, as
 * wh_docker_build reads it. Returns 0; WH_EINVAL with the reason appended to
 * errs when the service must be skipped (not a service, both label families,
 * an unknown traefik.swarm.* key, a bad lbswarm value, no virtual IP);
 * WH_ENOMEM. */
int wh_swarm_service_containers(const struct cJSON *service, const struct cJSON *tasks,
                                const wh_swarm_netmap *nets, wh_swarm_containers *out,
                                wh_errlist *errs);

/* The docker build options that the swarm options mean (same field names);
 * the strings are borrowed from sw. */
void wh_swarm_docker_cfg(const wh_swarm_provider *sw, wh_docker_provider *out);

#endif
