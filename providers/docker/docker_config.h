/* From Docker containers to a dynamic-configuration fragment, the semantics of
 * TRAEFIK-COMPAT.md §1-2, as pure functions of parsed inspect payloads (no
 * I/O): the engine client (engine.c / docker_provider.c) feeds them. */
#ifndef WH_PROVIDERS_DOCKER_CONFIG_H
#define WH_PROVIDERS_DOCKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/config/dynamic.h"
#include "lib/config/static.h"

struct cJSON;

typedef struct wh_docker_port {
  int port;        /* container port, e.g. 80 */
  char *proto;     /* "tcp" / "udp" */
  char *host_ip;   /* first binding's HostIp, NULL when not published */
  char *host_port; /* first binding's HostPort, NULL when not published */
} wh_docker_port;

typedef struct wh_docker_network {
  char *name;
  char *ip;  /* IPAddress, "" when none */
  char *ip6; /* GlobalIPv6Address, "" when none */
} wh_docker_network;

/* One container, parsed from GET /containers/{id}/json. Owned; free with
 * wh_docker_container_free. */
typedef struct wh_docker_container {
  char *id;
  char *name;                        /* without the leading '/' */
  char *status;                      /* State.Status: running, exited, ... */
  char *health;                      /* State.Health.Status, NULL without a HEALTHCHECK */
  char *network_mode;                /* HostConfig.NetworkMode */
  char **label_keys, **label_values; /* Config.Labels, sorted by key */
  size_t nlabels;
  wh_docker_port *ports; /* NetworkSettings.Ports, sorted by port number */
  size_t nports;
  wh_docker_network *networks; /* NetworkSettings.Networks, sorted by name */
  size_t nnetworks;
  /* for swarm tasks / services, later: */
  char *node_ip;
  char *service_name; /* Swarm: the service's name, the base of the service name instead of name;
                         NULL for containers */
} wh_docker_container;

/* NULL with a message in errs when the payload is not a container. Caps:
 * 1 MiB per label value, 10,000 labels (more → error, container refused). */
wh_docker_container *wh_docker_container_parse(const struct cJSON *inspect, wh_errlist *errs);
void wh_docker_container_free(wh_docker_container *c);

/* The provider options the build needs (borrowed from the static config). */
typedef struct wh_docker_opts {
  const wh_docker_provider *cfg; /* exposedByDefault, network, defaultRule, constraints,
                                    useBindPortIP, allowEmptyServices */
  const char *self_id;           /* wharf's own container id (or prefix), NULL outside one */
  /* resolves NetworkMode "container:<id>" (may be NULL): returns the container or NULL */
  const wh_docker_container *(*lookup)(void *ctx, const char *id_or_name);
  void *lookup_ctx;
} wh_docker_opts;

/* What happened to one container, for the log now and the diagnose API
 * later (issue 7). */
typedef struct wh_docker_report {
  char *container; /* name */
  char *id;
  bool skipped;            /* produced no configuration */
  char *reason;            /* why skipped, NULL otherwise */
  wh_errlist errors;       /* label errors (also attached to the elements) */
  wh_errlist warnings;     /* e.g. ambiguous network choice */
  char *network, *address; /* chosen network and ip:port, when routed */
} wh_docker_report;

typedef struct wh_docker_reports {
  wh_docker_report *v;
  size_t n;
} wh_docker_reports;

void wh_docker_reports_free(wh_docker_reports *r);

/* Builds the "docker" fragment from every known container (any order; the
 * result is deterministic). Never NULL except on OOM. reports (may be NULL)
 * receives one entry per container. */
wh_dyn_config *wh_docker_build(const wh_docker_opts *opts, wh_docker_container *const *cs, size_t n,
                               wh_docker_reports *reports);

#endif
