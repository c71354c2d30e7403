#include "lib/router/backend_tls.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/tls/client.h"

/* A service and the client its TLS servers use (borrowed from clients). */
typedef struct svc_tls {
  const char *service; /* borrowed from rt */
  const wh_tls_client *tc;
} svc_tls;

struct wh_backend_tls {
  wh_tls_client **clients; /* owned */
  size_t nclients;
  svc_tls *http, *tcp; /* sorted by service name (rt lists are) */
  size_t nhttp, ntcp;
};

static int keep(wh_backend_tls *b, wh_tls_client *tc) {
  wh_tls_client **v = realloc(b->clients, (b->nclients + 1) * sizeof(*v));
  if (!v) {
    wh_tls_client_free(tc);
    return WH_ENOMEM;
  }
  b->clients = v;
  v[b->nclients++] = tc;
  return 0;
}

/* "logged as a warning once": per transport name for the process's life,
 * not per reload (a Docker event rebuilds the snapshot every few seconds). */
static pthread_mutex_t warned_mu = PTHREAD_MUTEX_INITIALIZER;
static wh_strlist warned;

static void warn_insecure(const char *name) {
  pthread_mutex_lock(&warned_mu);
  bool first = !wh_strlist_contains(&warned, name);
  if (first)
    wh_strlist_push(&warned, name);
  pthread_mutex_unlock(&warned_mu);
  if (first)
    wh_log_warn("serversTransport \"%s\": insecureSkipVerify is on: backend certificates are "
                "not verified",
                name);
}

static char *join_errors(const wh_errlist *errs) {
  wh_strbuf sb = {0};
  for (size_t i = 0; i < errs->n; i++) {
    if (i)
      wh_strbuf_puts(&sb, "; ");
    wh_strbuf_puts(&sb, errs->items[i]);
  }
  return wh_strbuf_take(&sb);
}

/* Compiles the transport element el (HTTP or TCP), or disables it. NULL when
 * it has no TLS to compile or failed (*failed says which). */
static wh_tls_client *compile(wh_rt_elem *el, const wh_tls_client_opts *o, bool *failed,
                              bool *oom) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_tls_client *tc = wh_tls_client_new(o, &errs);
  *failed = !tc;
  if (!tc && errs.n == 0)
    *oom = true;
  if (!tc && errs.n) {
    char *msg = join_errors(&errs);
    wh_runtime_disable(el, "%s", msg ? msg : "invalid TLS settings");
    wh_log_error("serversTransport \"%s\": %s", el->name, msg ? msg : "invalid TLS settings");
    free(msg);
  }
  wh_errlist_free(&errs);
  if (tc && wh_tls_client_insecure(tc))
    warn_insecure(el->name);
  return tc;
}

/* The services using a transport that failed, and their routers, are
 * disabled: mTLS or verification is never silently off. */
static void disable_users(wh_runtime *rt, wh_kind router_kind, wh_rt_elem *svc,
                          const char *transport, const wh_errlist *why) {
  char *msg = why && why->n ? join_errors(why) : NULL;
  const char *m = msg ? msg : "invalid TLS settings";
  if (svc->status != WH_STATUS_DISABLED)
    wh_runtime_disable(svc, "serversTransport \"%s\" is invalid: %s", transport, m);
  for (size_t i = 0; i < svc->used_by.n; i++) {
    wh_rt_elem *r = wh_runtime_find(rt, router_kind, svc->used_by.v[i]);
    if (r && r->status != WH_STATUS_DISABLED)
      wh_runtime_disable(r, "service \"%s\": serversTransport \"%s\" is invalid: %s", svc->name,
                         transport, m);
  }
  free(msg);
}

static bool http_has_tls_server(const wh_lb_service *lb) {
  for (size_t i = 0; i < lb->servers.n; i++) {
    const wh_server *s = (const wh_server *)lb->servers.items + i;
    if (s->url && strncasecmp(s->url, "https://", 8) == 0)
      return true;
  }
  return false;
}

static bool tcp_has_tls_server(const wh_tcp_lb_service *lb) {
  for (size_t i = 0; i < lb->servers.n; i++)
    if (((const wh_tcp_server *)lb->servers.items)[i].tls)
      return true;
  return false;
}

/* Transport element name -> compiled client, for the service pass. */
typedef struct compiled {
  const char *name;
  const wh_errlist *errors; /* the transport element's, when it failed */
  wh_tls_client *tc;        /* NULL: failed or nothing to compile */
  bool failed;
} compiled;

static const compiled *find_compiled(const compiled *v, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i].name, name) == 0)
      return &v[i];
  return NULL;
}

static int build_http(wh_backend_tls *b, const wh_static_config *stat, wh_runtime *rt) {
  const wh_rt_list *tl = &rt->elems[WH_KIND_HTTP_TRANSPORT];
  const wh_rt_list *sl = &rt->elems[WH_KIND_HTTP_SERVICE];
  compiled *cv = calloc(tl->n ? tl->n : 1, sizeof(*cv));
  b->http = calloc(sl->n ? sl->n : 1, sizeof(*b->http));
  if (!cv || !b->http) {
    free(cv);
    return WH_ENOMEM;
  }
  bool oom = false;
  for (size_t i = 0; i < tl->n && !oom; i++) {
    wh_rt_elem *el = tl->v[i];
    const wh_servers_transport *t = el->cfg;
    cv[i].name = el->name;
    cv[i].errors = &el->errors;
    if (!t || el->status == WH_STATUS_DISABLED) {
      cv[i].failed = true;
      continue;
    }
    if (t->spiffe) {
      wh_runtime_disable(el, "spiffe: SPIFFE workload API sources are not supported by wharf; "
                             "use rootCAs, certificates and peerCertURI");
      cv[i].failed = true;
      continue;
    }
    wh_tls_client_opts o = {
        .name = el->name,
        .server_name = t->server_name,
        .insecure_skip_verify = t->insecure_skip_verify,
        .root_cas = &t->root_cas,
        .certificates = &t->certificates,
        .peer_cert_uri = t->peer_cert_uri,
        .http = true,
    };
    cv[i].tc = compile(el, &o, &cv[i].failed, &oom);
    if (cv[i].tc && keep(b, cv[i].tc) < 0) {
      cv[i].tc = NULL;
      oom = true;
    }
  }
  /* the static default, made only when a service needs it: loading the
   * system roots is not free and most deployments have no https backend */
  wh_tls_client *dflt = NULL;
  bool dflt_tried = false;
  wh_errlist dflt_errs;
  wh_errlist_init(&dflt_errs);
  for (size_t i = 0; i < sl->n && !oom; i++) {
    wh_rt_elem *el = sl->v[i];
    const wh_http_service *svc = el->cfg;
    const wh_lb_service *lb = svc ? svc->load_balancer : NULL;
    if (!lb || el->status == WH_STATUS_DISABLED)
      continue;
    const wh_tls_client *tc = NULL;
    bool named = lb->servers_transport && *lb->servers_transport;
    if (named) {
      char *q = wh_qualify(lb->servers_transport, el->provider);
      if (!q) {
        oom = true;
        break;
      }
      /* "default@internal" names the static default explicitly */
      named = strcmp(q, "default@internal") != 0;
      const compiled *c = named ? find_compiled(cv, tl->n, q) : NULL;
      if (c && c->failed)
        disable_users(rt, WH_KIND_HTTP_ROUTER, el, q, c->errors);
      tc = c ? c->tc : NULL;
      free(q);
    }
    if (!named && http_has_tls_server(lb)) {
      if (!dflt_tried) {
        dflt_tried = true;
        const wh_static_servers_transport *st = stat->servers_transport;
        wh_tls_client_opts o = {
            .name = "default@internal",
            .insecure_skip_verify = st && st->insecure_skip_verify,
            .root_cas = st ? &st->root_cas : NULL,
            .http = true,
        };
        dflt = wh_tls_client_new(&o, &dflt_errs);
        if (!dflt && dflt_errs.n == 0)
          oom = true;
        for (size_t e = 0; e < dflt_errs.n; e++)
          wh_log_error("serversTransport (static): %s", dflt_errs.items[e]);
        if (dflt && keep(b, dflt) < 0) {
          dflt = NULL;
          oom = true;
        }
        if (dflt && wh_tls_client_insecure(dflt))
          warn_insecure("default@internal");
      }
      if (!dflt && !oom)
        disable_users(rt, WH_KIND_HTTP_ROUTER, el, "default@internal", &dflt_errs);
      tc = dflt;
    }
    if (tc && http_has_tls_server(lb))
      b->http[b->nhttp++] = (svc_tls){el->name, tc};
  }
  wh_errlist_free(&dflt_errs);
  free(cv);
  return oom ? WH_ENOMEM : 0;
}

static int build_tcp(wh_backend_tls *b, const wh_static_config *stat, wh_runtime *rt) {
  const wh_rt_list *tl = &rt->elems[WH_KIND_TCP_TRANSPORT];
  const wh_rt_list *sl = &rt->elems[WH_KIND_TCP_SERVICE];
  compiled *cv = calloc(tl->n ? tl->n : 1, sizeof(*cv));
  b->tcp = calloc(sl->n ? sl->n : 1, sizeof(*b->tcp));
  if (!cv || !b->tcp) {
    free(cv);
    return WH_ENOMEM;
  }
  bool oom = false;
  for (size_t i = 0; i < tl->n && !oom; i++) {
    wh_rt_elem *el = tl->v[i];
    const wh_tcp_servers_transport *t = el->cfg;
    cv[i].name = el->name;
    cv[i].errors = &el->errors;
    if (!t || el->status == WH_STATUS_DISABLED) {
      cv[i].failed = true;
      continue;
    }
    if (!t->tls)
      continue; /* no TLS section: the default client, made below */
    if (t->tls->spiffe) {
      wh_runtime_disable(el, "tls.spiffe: SPIFFE workload API sources are not supported by "
                             "wharf; use rootCAs, certificates and peerCertURI");
      cv[i].failed = true;
      continue;
    }
    wh_tls_client_opts o = {
        .name = el->name,
        .server_name = t->tls->server_name,
        .insecure_skip_verify = t->tls->insecure_skip_verify,
        .root_cas = &t->tls->root_cas,
        .certificates = &t->tls->certificates,
        .peer_cert_uri = t->tls->peer_cert_uri,
    };
    cv[i].tc = compile(el, &o, &cv[i].failed, &oom);
    if (cv[i].tc && keep(b, cv[i].tc) < 0) {
      cv[i].tc = NULL;
      oom = true;
    }
  }
  wh_tls_client *dflt = NULL;
  bool dflt_tried = false;
  for (size_t i = 0; i < sl->n && !oom; i++) {
    wh_rt_elem *el = sl->v[i];
    const wh_tcp_service *svc = el->cfg;
    const wh_tcp_lb_service *lb = svc ? svc->load_balancer : NULL;
    if (!lb || el->status == WH_STATUS_DISABLED)
      continue;
    const wh_tls_client *tc = NULL;
    bool named = lb->servers_transport && *lb->servers_transport;
    if (named) {
      char *q = wh_qualify(lb->servers_transport, el->provider);
      if (!q) {
        oom = true;
        break;
      }
      const compiled *c = find_compiled(cv, tl->n, q);
      if (c && c->failed)
        disable_users(rt, WH_KIND_TCP_ROUTER, el, q, c->errors);
      tc = c ? c->tc : NULL;
      named = c && (c->tc || c->failed);
      free(q);
    }
    if (!named && tcp_has_tls_server(lb)) {
      if (!dflt_tried) {
        dflt_tried = true;
        const wh_static_tcp_servers_transport *st = stat->tcp_servers_transport;
        wh_tls_client_opts o = {
            .name = "default@internal",
            .insecure_skip_verify = st && st->tls && st->tls->insecure_skip_verify,
            .root_cas = st && st->tls ? &st->tls->root_cas : NULL,
        };
        wh_errlist errs;
        wh_errlist_init(&errs);
        dflt = wh_tls_client_new(&o, &errs);
        if (!dflt && errs.n == 0)
          oom = true;
        for (size_t e = 0; e < errs.n; e++)
          wh_log_error("tcpServersTransport (static): %s", errs.items[e]);
        wh_errlist_free(&errs);
        if (dflt && keep(b, dflt) < 0) {
          dflt = NULL;
          oom = true;
        }
      }
      tc = dflt;
    }
    if (tc && tcp_has_tls_server(lb))
      b->tcp[b->ntcp++] = (svc_tls){el->name, tc};
  }
  free(cv);
  return oom ? WH_ENOMEM : 0;
}

wh_backend_tls *wh_backend_tls_build(const wh_static_config *stat, wh_runtime *rt) {
  wh_backend_tls *b = calloc(1, sizeof(*b));
  if (!b)
    return NULL;
  if (build_http(b, stat, rt) != 0 || build_tcp(b, stat, rt) != 0) {
    wh_backend_tls_free(b);
    return NULL;
  }
  return b;
}

void wh_backend_tls_free(wh_backend_tls *b) {
  if (!b)
    return;
  for (size_t i = 0; i < b->nclients; i++)
    wh_tls_client_free(b->clients[i]);
  free(b->clients);
  free(b->http);
  free(b->tcp);
  free(b);
}

static const wh_tls_client *lookup(const svc_tls *v, size_t n, const char *service) {
  if (!service)
    return NULL;
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(v[mid].service, service);
    if (c == 0)
      return v[mid].tc;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

const wh_tls_client *wh_backend_tls_http(const wh_backend_tls *b, const char *service) {
  return b ? lookup(b->http, b->nhttp, service) : NULL;
}

const wh_tls_client *wh_backend_tls_tcp(const wh_backend_tls *b, const char *service) {
  return b ? lookup(b->tcp, b->ntcp, service) : NULL;
}
