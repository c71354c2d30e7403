/* Load balancing for one HTTP service of a snapshot: weighted round robin by
 * earliest deadline first (TRAEFIK-COMPAT §10), sticky cookies, active
 * health (shared UP/DOWN cells that outlive snapshots) and passive failure
 * fencing. A balancer is built on the control thread with the snapshot and
 * then used by every worker: each worker has its own WRR state (index
 * `worker`), so picking takes no lock. */
#ifndef WH_LB_LB_H
#define WH_LB_LB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config/dynamic.h"

typedef struct wh_health_store wh_health_store;

typedef struct wh_lb_server {
  char *url;      /* as configured: "http://10.0.0.1:8080" */
  char *scheme;   /* "http", "https", "h2c" */
  char *host;     /* "10.0.0.1" (no brackets for IPv6) */
  int port;       /* 80 when the URL has none and scheme is http */
  char *hostport; /* "10.0.0.1:8080" as for a Host header ("[::1]:80") */
  char *path;     /* URL path ("" when none); used only with preservePath */
  /* the upstream pool key: hostport; for https, "<TLS transport id>@hostport"
   * once wh_lb_set_tls_id ran (NULL before: such a server has no transport) */
  char *pool_key;
  int weight;
  char *cookie_value; /* sticky balancers only (else NULL): first 16 hex of sha256(url) */
  atomic_int *up;     /* shared health cell: 1 UP, 0 DOWN (owned by the store) */
} wh_lb_server;

typedef struct wh_lb wh_lb;

/* Creates the store (one per process, on the control thread). */
wh_health_store *wh_health_store_new(void);
void wh_health_store_free(wh_health_store *s);

/* service: qualified name ("whoami@docker"); cfg: its loadBalancer; the
 * servers' health cells come from store (kept across snapshots while the
 * service and URL are the same). nworkers: number of WRR states. Servers
 * with weight <= 0 are left out. Returns NULL on OOM or a URL that does not
 * parse (errs gets the message). */
wh_lb *wh_lb_new(const char *service, const wh_lb_service *cfg, int nworkers,
                 wh_health_store *store, wh_errlist *errs);
void wh_lb_free(wh_lb *lb);

size_t wh_lb_nservers(const wh_lb *lb);
const wh_lb_server *wh_lb_server_at(const wh_lb *lb, size_t i);

/* Picks a server for a request. cookie_header: the request's Cookie header
 * (may be NULL). When the balancer is sticky and the cookie did not name a
 * healthy server, *set_cookie receives a malloc'd Set-Cookie value to add to
 * the response (else NULL). Returns NULL when no server is available (503).
 * Thread-safe for distinct worker indexes. */
const wh_lb_server *wh_lb_pick(wh_lb *lb, int worker, const char *cookie_header, char **set_cookie);

/* Passive health: report the outcome of a forward to server (failure =
 * connection error or timeout). After maxFailedAttempts failures within
 * failureWindow the server is fenced for failureWindow. No-op without
 * passiveHealthCheck. Thread-safe. */
void wh_lb_report(wh_lb *lb, const wh_lb_server *server, bool failure);

/* For the API's serverStatus and traefik_service_server_up. */
bool wh_lb_server_up(const wh_lb_server *s);

/* Additions (lib/lb owner). */

/* Gives the https servers their pool key under the TLS transport id (see
 * lib/tls/client.h): connections made with different TLS settings are never
 * pooled together. Control thread, before the balancer is published. 0 or
 * WH_ENOMEM. */
int wh_lb_set_tls_id(wh_lb *lb, const char *id);

/* The sticky cookie name, NULL when the balancer is not sticky. */
const char *wh_lb_cookie_name(const wh_lb *lb);
/* Whether picks currently consider s: UP and not fenced by passive health. */
bool wh_lb_server_available(const wh_lb *lb, const wh_lb_server *s);
/* A worker index outside [0, nworkers) (e.g. -1 from the control thread) is
 * valid for wh_lb_pick: it uses one extra WRR state behind a mutex. */

/* Splits a server URL (scheme://host[:port][/path][?query], scheme http,
 * https or h2c) into s's url, scheme, host, port, hostport and path; other
 * fields are left zero. Returns 0, WH_EINVAL or WH_ENOMEM; free with
 * wh_lb_server_clear in every case. */
int wh_lb_server_parse(wh_lb_server *s, const char *url);
void wh_lb_server_clear(wh_lb_server *s);

/* Test hook: the monotonic clock in milliseconds used by passive health.
 * NULL restores the default. Set it before balancers are used. */
void wh_lb_set_clock(int64_t (*now_ms)(void));

#endif
