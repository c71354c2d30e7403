/* Compiled per-entry-point route table: the enabled routers of one entry
 * point, pre-sorted so that the first match is the winner.
 *
 * Order (TRAEFIK-COMPAT "Where wharf differs"): priority descending, then the
 * longer rule, then provider order (the order of fragments given to the
 * build), then name. TCP routers of an entry point are kept in their own list
 * (tried before HTTP routers by the data plane). */
#ifndef WH_ROUTER_ROUTE_TABLE_H
#define WH_ROUTER_ROUTE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config/runtime.h"
#include "lib/rules/rules.h"

/* Routers whose rule can only match a finite set of exact hosts are found
 * through a hash of those hosts; the others ("any host": HostRegexp,
 * wildcards, host-less rules) are tried for every request. Both lists hold
 * indexes into http[] in ascending (winning) order, and a lookup walks the
 * host's bucket and the any-host list merged by index, so the first match is
 * the one a linear scan would find while the cost no longer grows with the
 * number of host routes. */
typedef struct wh_route_bucket {
  char *host;    /* owned; NULL marks an empty slot */
  uint32_t *idx; /* ascending */
  size_t n;
} wh_route_bucket;

typedef struct wh_route_table {
  char *entrypoint;  /* owned */
  bool ep_tls;       /* the entry point's http.tls: every router on it is TLS there */
  wh_rt_elem **http; /* borrowed from the runtime; owned array, in winning order */
  size_t n_http;
  wh_rt_elem **tcp;
  size_t n_tcp;
  wh_route_bucket *buckets; /* open addressing, power-of-two size */
  size_t nbuckets;
  uint32_t *any; /* indexes of routers tried for every host, ascending */
  size_t n_any;
} wh_route_table;

/* provider_order lists provider names by precedence (earlier wins ties);
 * providers not listed come after, alphabetically. NULL on OOM. */
wh_route_table *wh_route_table_build(const wh_runtime *rt, const char *entrypoint, bool ep_tls,
                                     const char *const *provider_order, size_t norder);
void wh_route_table_free(wh_route_table *t);

/* First enabled HTTP router whose rule matches and whose TLS mode matches the
 * connection: a router is TLS on this entry point when its own tls is set or
 * the entry point has http.tls; a TLS router serves TLS connections only, the
 * others plaintext ones only. NULL when none. */
const wh_rt_elem *wh_route_match_http(const wh_route_table *t, const wh_http_req_view *req,
                                      bool is_tls);

#endif
