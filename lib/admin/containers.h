/* Per-container diagnosis: GET /api/providers/docker/containers[/{name}].
 *
 * A label-driven provider (Docker; Swarm can use the same model) records,
 * while it builds its configuration, why each container gave what it gave:
 * the traefik.* labels read, whether it is exposed and why not, the
 * elements produced, its errors and warnings, and for each server the
 * network, address and port chosen and why. The result is an immutable,
 * reference-counted diagnosis that the provider publishes here by provider
 * name; the API handler (on any thread) takes a reference and joins each
 * produced element with the snapshot's runtime to show its live status and
 * errors. The model lives in lib/ because lib/ never includes providers/. */
#ifndef WH_ADMIN_CONTAINERS_H
#define WH_ADMIN_CONTAINERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/core/err.h"
#include "lib/http/request.h"
#include "lib/router/snapshot.h"

/* An element a container produced, as written in its labels (unqualified). */
typedef struct wh_container_elem {
  char *section; /* "http.routers", "http.services", "tcp.routers", ..., "tls.stores" */
  char *name;
} wh_container_elem;

/* One server the provider filled in for one of the container's services. A
 * field is NULL when that decision was not made (the build stopped before,
 * or the URL came verbatim from a label). */
typedef struct wh_container_server {
  char *section;     /* "http.services", "tcp.services", "udp.services" */
  char *service;     /* unqualified service name */
  char *address;     /* URL (HTTP) or ip:port (TCP/UDP) as built; NULL when none */
  char *network;     /* network name, "host", "(host binding)" */
  char *network_why; /* how that network was chosen */
  char *port;        /* port as built */
  char *port_why;    /* how that port was chosen */
} wh_container_server;

/* What one container (or Swarm service) gave. Every string is owned. Only
 * labels whose key starts with "traefik." (any case) are kept: other labels
 * and the environment may carry secrets and are never recorded. */
typedef struct wh_container_diag {
  char *name;         /* without the leading '/' */
  char *id;           /* short id (12 characters) */
  char *state;        /* running, exited, created, paused, ... */
  char *health;       /* healthy, unhealthy, starting, or "none" without a health check */
  char *service_name; /* the base name of its auto-created elements */
  char **label_keys, **label_values;
  size_t nlabels;
  bool exposed;   /* produced configuration */
  char *reason;   /* why not exposed; NULL when exposed */
  char *empty_lb; /* why its load balancers were left without servers (503), or NULL */
  wh_container_elem *elems;
  size_t nelems;
  wh_container_server *servers;
  size_t nservers;
  wh_errlist errors;   /* label errors, element errors, conflicts with other containers */
  wh_errlist warnings; /* e.g. an ambiguous network choice */
} wh_container_diag;

typedef struct wh_container_diagnosis {
  atomic_int refs;
  time_t built_at;
  wh_container_diag *v; /* sorted by name, then id */
  size_t n;
} wh_container_diagnosis;

/* A diagnosis of n zeroed containers (errors and warnings initialised),
 * refs = 1. NULL on OOM. */
wh_container_diagnosis *wh_container_diagnosis_new(size_t n);
/* Sorts v by name then id; call once filled, before publishing. */
void wh_container_diagnosis_sort(wh_container_diagnosis *d);
wh_container_diagnosis *wh_container_diagnosis_ref(wh_container_diagnosis *d); /* NULL-safe */
void wh_container_diagnosis_unref(wh_container_diagnosis *d); /* NULL-safe; frees at zero */

/* Publishes d (taking the caller's reference; NULL withdraws) as the
 * diagnosis of provider ("docker", "swarm"), dropping the previous one.
 * owner identifies the publisher: a withdrawal (d NULL) by another owner
 * than the current one does nothing, so a stopping provider cannot erase
 * its successor's diagnosis. Thread-safe; never on a request path. */
void wh_container_diagnosis_publish(const char *provider, const void *owner,
                                    wh_container_diagnosis *d);
/* A new reference to the current diagnosis of provider, or NULL when none
 * was published. Release with wh_container_diagnosis_unref. Thread-safe. */
wh_container_diagnosis *wh_container_diagnosis_current(const char *provider);

/* Answers GET/HEAD /api/providers/docker/containers (list: query
 * parameters search, page, per_page like the other lists) and
 * /api/providers/docker/containers/{name} (the name, or the 12-character
 * short id). 404 when providers.docker is not configured or the
 * container is unknown; 503 before the provider's first build. Returns
 * WH_ENOENT (resp untouched) for any other path. snap may be NULL. */
int wh_containers_handle(const wh_snapshot *snap, const char *method, const char *path,
                         const char *query, wh_http_resp *resp);

#endif
