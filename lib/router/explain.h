/* The router-level answer to "why is my route 404": for one request on one entry point, which
 * router the data plane would pick, and for every other router why it did not get the request.
 *
 * The winner is the one wh_route_match_http returns; the others are walked in the table's order
 * (the data plane's order) and judged with wh_rule_explain_http, so the verdicts are the data
 * plane's by construction. */
#ifndef WH_ROUTER_EXPLAIN_H
#define WH_ROUTER_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/config/runtime.h"
#include "lib/router/route_table.h"
#include "lib/rules/rules.h"

typedef enum {
  WH_ROUTE_WINS = 0,     /* the router that serves the request */
  WH_ROUTE_NO_MATCH,     /* its rule did not match */
  WH_ROUTE_TLS_MISMATCH, /* TLS router and a plaintext request, or the other way round */
  WH_ROUTE_SHADOWED,     /* would match, but a router earlier in the order matched first */
  WH_ROUTE_DISABLED,     /* on this entry point, but disabled by a configuration error */
  WH_ROUTE_OTHER_EP,     /* not on this entry point (listed when it would otherwise apply) */
  WH_ROUTE_TCP_TAKES,    /* a TCP router on the entry point takes the connection first */
} wh_route_verdict;

const char *wh_route_verdict_name(wh_route_verdict v); /* "serves", "no match", ... */

typedef struct wh_route_cand {
  const wh_rt_elem *router; /* borrowed from the runtime */
  wh_route_verdict verdict;
  bool rule_matched; /* the rule alone matches the request (TLS and entry point aside) */
  char *reason;      /* owned sentence; NULL for the winner */
  char *matcher;     /* owned: the failing matcher (NO_MATCH, or the rule's failure beside another
                        verdict); NULL otherwise */
  char *request;     /* owned: what the request had for that matcher */
} wh_route_cand;

typedef struct wh_route_explain {
  const wh_rt_elem *winner; /* NULL: the request gets 404 (or the TCP router below takes it) */
  const wh_rt_elem *tcp;    /* TCP router that takes the connection before any HTTP router */
  /* Every router considered, owned array: the entry point's HTTP routers in the data plane's
   * order (the winner among them), then the routers disabled on the entry point, then routers
   * of other entry points (wharf's internal ones aside) whose rule matches or that name the
   * request's host. */
  wh_route_cand *cands;
  size_t ncands;
} wh_route_explain;

/* Explains req (is_tls: the connection is TLS) on table t of runtime rt; t and rt are borrowed
 * and must outlive *out (the snapshot holding both does). The TCP routers of t are tried first
 * as the data plane does, with the request host as SNI when is_tls. 0, or -1 on OOM (*out is
 * then freed). Free with wh_route_explain_free. */
int wh_route_explain_http(const wh_runtime *rt, const wh_route_table *t,
                          const wh_http_req_view *req, bool is_tls, wh_route_explain *out);
void wh_route_explain_free(wh_route_explain *e); /* NULL-safe */

#endif
