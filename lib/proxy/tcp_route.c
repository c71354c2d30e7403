/* TCP routers on an entry point: chosen from the ClientHello (SNI, ALPN)
 * and the client address before any HTTP router is tried, then a byte
 * tunnel to a server of the router's TCP service. Passthrough replays the
 * ClientHello to the backend untouched; a TLS-terminating router dials once
 * the handshake is done and tunnels the plaintext; a plaintext connection
 * can only be taken by routers without TLS (HostSNI(`*`), ClientIP). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/http/exchange.h"
#include "lib/net/proxy_protocol.h"
#include "lib/proxy/conn.h"
#include "lib/proxy/upstream.h"
#include "lib/router/backend_tls.h"
#include "lib/router/route_table.h"
#include "lib/router/snapshot.h"
#include "lib/tls/client.h"
#include "lib/tls/client_hello.h"

#define TCP_DIAL_MS 30000 /* serversTransport dialTimeout's default */
#define WEIGHTED_DEPTH 8

static const wh_route_table *table_of(const wh_conn *c, const wh_snapshot *snap) {
  if (!snap || c->ep->index >= snap->ntables)
    return NULL;
  const wh_route_table *t = snap->tables[c->ep->index];
  return t && strcmp(t->entrypoint, c->ep->name) == 0 ? t : NULL;
}

/* The router's TCP middlewares, in order; false when one refuses the
 * connection (or cannot run: fail closed). Tokens of counting middlewares
 * stay on the connection until it ends. */
static bool run_middlewares(wh_conn *c, const wh_snapshot *snap, const wh_rt_elem *el) {
  for (size_t i = 0; i < el->middleware_refs.n; i++) {
    const wh_rt_elem *m =
        wh_runtime_find(snap->rt, WH_KIND_TCP_MIDDLEWARE, el->middleware_refs.v[i]);
    if (!m || !m->mw_type || !m->mw_type->on_conn) {
      wh_log_error("TCP router %s: middleware %s cannot run; connection refused", el->name,
                   el->middleware_refs.v[i]);
      return false;
    }
    void *hold = NULL;
    if (m->mw_type->on_conn(m->mw_cfg, m->name, (const struct sockaddr *)&c->peer, &hold) !=
        WH_MW_NEXT)
      return false;
    if (hold) {
      if (c->nmw_holds == WH_CONN_MAX_HOLDS) {
        m->mw_type->on_conn_end(hold);
        return false;
      }
      c->mw_holds[c->nmw_holds] = hold;
      c->mw_ends[c->nmw_holds++] = m->mw_type->on_conn_end;
    }
  }
  return true;
}

int wh_tcp_route(wh_conn *c, const struct wh_client_hello *ch) {
  wh_snapshot *snap = c->w->current;
  const wh_route_table *t = table_of(c, snap);
  if (!t || !t->n_tcp)
    return 0;
  const char *alpn[16];
  size_t nalpn = 0;
  for (size_t i = 0; ch && i < ch->nalpn && i < 16; i++)
    alpn[nalpn++] = ch->alpn[i];
  wh_tcp_conn_view view = {
      .sni = ch && ch->has_sni ? ch->sni : NULL,
      .is_tls = ch != NULL,
      .alpn = alpn,
      .nalpn = nalpn,
      .client = (const struct sockaddr *)&c->peer,
  };
  for (size_t i = 0; i < t->n_tcp; i++) {
    const wh_rt_elem *el = t->tcp[i];
    if (el->status == WH_STATUS_DISABLED || !el->rule)
      continue;
    /* TLS routers take TLS connections, the others plaintext ones */
    if (el->tls != (ch != NULL))
      continue;
    if (!wh_rule_match_tcp(el->rule, &view))
      continue;
    c->tcp_target = el;
    c->tcp_snap = wh_snapshot_ref(snap);
    return run_middlewares(c, snap, el) ? 1 : -1;
  }
  return 0;
}

bool wh_tcp_route_passthrough(const wh_conn *c) {
  const wh_rt_elem *el = c->tcp_target;
  const wh_tcp_router *r = el ? el->cfg : NULL;
  return r && r->tls && r->tls->passthrough;
}

/* The load balancer of a TCP service, through weighted services (each
 * connection picks a child in proportion to the weights). */
static const wh_tcp_lb_service *resolve_lb(const wh_runtime *rt, const char *name,
                                           const char *provider, wh_rt_elem **owner, int depth) {
  if (depth > WEIGHTED_DEPTH)
    return NULL;
  char *qn = wh_qualify(name, provider);
  wh_rt_elem *svc = qn ? wh_runtime_find(rt, WH_KIND_TCP_SERVICE, qn) : NULL;
  free(qn);
  if (!svc || svc->status == WH_STATUS_DISABLED)
    return NULL;
  const wh_tcp_service *s = svc->cfg;
  if (s->load_balancer) {
    *owner = svc;
    return s->load_balancer;
  }
  if (!s->weighted || !s->weighted->services.n)
    return NULL;
  const wh_weighted_ref *refs = s->weighted->services.items;
  int64_t total = 0;
  for (size_t i = 0; i < s->weighted->services.n; i++)
    total += refs[i].weight_set ? refs[i].weight : 1;
  if (total <= 0)
    return NULL;
  int64_t pick =
      (int64_t)(atomic_fetch_add_explicit(&svc->rr, 1, memory_order_relaxed) % (uint64_t)total);
  for (size_t i = 0; i < s->weighted->services.n; i++) {
    int64_t wgt = refs[i].weight_set ? refs[i].weight : 1;
    if (pick < wgt)
      return resolve_lb(rt, refs[i].name, svc->provider, owner, depth + 1);
    pick -= wgt;
  }
  return NULL;
}

/* "host:port" or "[v6]:port" into host (buf) and port. */
static bool split_address(const char *addr, char *host, size_t cap, int *port) {
  const char *colon = strrchr(addr, ':');
  if (!colon || !colon[1])
    return false;
  const char *h = addr;
  size_t hl = (size_t)(colon - addr);
  if (h[0] == '[') {
    if (hl < 2 || h[hl - 1] != ']')
      return false;
    h++;
    hl -= 2;
  }
  if (hl == 0 || hl >= cap)
    return false;
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (*end || p <= 0 || p > 65535)
    return false;
  memcpy(host, h, hl);
  host[hl] = '\0';
  *port = (int)p;
  return true;
}

void wh_tcp_dial(wh_conn *c) {
  const wh_rt_elem *el = c->tcp_target;
  const wh_snapshot *snap = c->tcp_snap;
  wh_rt_elem *owner = NULL;
  const wh_tcp_lb_service *lb = el && snap && el->service_ref
                                    ? resolve_lb(snap->rt, el->service_ref, el->provider, &owner, 0)
                                    : NULL;
  if (!lb || lb->servers.n == 0) {
    wh_log_debug("TCP router %s: no server to dial", el ? el->name : "?");
    wh_conn_destroy(c);
    return;
  }
  unsigned pick = atomic_fetch_add_explicit(&owner->rr, 1, memory_order_relaxed);
  const wh_tcp_server *srv = (const wh_tcp_server *)lb->servers.items + (pick % lb->servers.n);
  char host[256];
  int port = 0;
  if (!srv->address || !split_address(srv->address, host, sizeof(host), &port)) {
    wh_log_warn("TCP router %s: bad server address \"%s\"", el->name,
                srv->address ? srv->address : "");
    wh_conn_destroy(c);
    return;
  }
  /* The HTTP deadlines end here; the tunnel's idle timeout takes over. */
  c->rd_kind = WH_RD_NONE;
  c->rd_deadline = 0;
  /* A PROXY protocol header goes first, in the clear even when the backend
   * speaks TLS (the header describes the TCP connection, as HAProxy reads it). */
  uint8_t pp[128];
  int pplen = 0;
  if (lb->proxy_protocol && lb->proxy_protocol->version) {
    struct sockaddr_storage local;
    int alen = sizeof(local);
    pplen = -1;
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&local, &alen) == 0)
      pplen = wh_pp_write((int)lb->proxy_protocol->version, (const struct sockaddr *)&c->peer,
                          (const struct sockaddr *)&local, pp, sizeof(pp));
    if (pplen < 0) {
      wh_conn_destroy(c);
      return;
    }
  }
  const wh_tls_client *tc = NULL;
  char key[300];
  if (srv->tls) {
    tc = wh_backend_tls_tcp(snap->backend_tls, owner->name);
    if (!tc) {
      wh_log_warn("TCP router %s: no TLS transport for server %s (see the service's errors)",
                  el->name, srv->address);
      wh_conn_destroy(c);
      return;
    }
    snprintf(key, sizeof(key), "%s@%s", wh_tls_client_id(tc), srv->address);
  }
  char label[300];
  snprintf(label, sizeof(label), "%s%s", srv->tls ? "tls://" : "", srv->address);
  wh_upstream_target t = {
      .key = srv->tls ? key : srv->address,
      .host = host,
      .port = port,
      .tls = tc,
      .label = label,
      .preface = pplen > 0 ? pp : NULL,
      .preface_len = pplen > 0 ? (size_t)pplen : 0,
  };
  /* the TCP transport's dialTimeout, else tcpServersTransport's (30 s) */
  const wh_static_tcp_servers_transport *stt = snap->stat->tcp_servers_transport;
  uint64_t dial_ms =
      stt && stt->dial_timeout > 0 ? (uint64_t)(stt->dial_timeout / WH_MS) : TCP_DIAL_MS;
  if (lb->servers_transport && *lb->servers_transport) {
    char *q = wh_qualify(lb->servers_transport, owner->provider);
    const wh_rt_elem *tr = q ? wh_runtime_find(snap->rt, WH_KIND_TCP_TRANSPORT, q) : NULL;
    free(q);
    const wh_tcp_servers_transport *tt = tr ? tr->cfg : NULL;
    if (tt && tt->dial_timeout > 0)
      dial_ms = (uint64_t)(tt->dial_timeout / WH_MS);
  }
  c->up_kind = WH_UP_DIAL;
  c->up_deadline = wh_worker_now(c->w) + dial_ms;
  if (!wh_upstream_connect(c->w, c, &t))
    wh_conn_destroy(c);
}

int wh_tcp_connected(wh_conn *c) {
  /* the PROXY header, if any, went first (wh_tcp_dial's preface) */
  uv_buf_t b = uv_buf_init(c->pend.data, (unsigned)c->pend.len);
  int rc = c->pend.len ? wh_upstream_write(c->up, &b, 1) : 0;
  c->pend.len = 0;
  wh_snapshot_unref(c->tcp_snap);
  c->tcp_snap = NULL;
  c->tcp_target = NULL;
  if (rc < 0) {
    wh_conn_destroy(c);
    return -1;
  }
  return 0;
}
