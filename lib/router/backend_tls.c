#include "lib/router/backend_tls.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/tls/client.h"
#include "lib/tls/file_watch.h"

/* A service and the client its TLS servers use (borrowed from clients). */
typedef struct svc_tls {
  const char *service; /* borrowed from rt */
  const wh_tls_client *tc;
} svc_tls;

struct wh_backend_tls {
  wh_file_watch *files;    /* rootCAs and client certificate files read */
  wh_tls_client **clients; /* owned */
  size_t nclients;
  svc_tls *http, *tcp; /* sorted by service name (rt lists are) */
  size_t nhttp, ntcp;
};

/* Every file a client was (or failed to be) compiled from: a renewed client
 * certificate or CA bundle is picked up like a served certificate. */
static void watch_opts(wh_backend_tls *b, const wh_tls_client_opts *o) {
  for (size_t i = 0; o->root_cas && i < o->root_cas->n; i++)
    wh_file_watch_add(b->files, o->root_cas->v[i]);
  for (size_t i = 0; o->certificates && i < o->certificates->n; i++) {
    const wh_cert_files *cf = (const wh_cert_files *)o->certificates->items + i;
    wh_file_watch_add(b->files, cf->cert_file);
    wh_file_watch_add(b->files, cf->key_file);
  }
}

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

/* What differs between the HTTP and the TCP side. */
typedef struct side {
  wh_kind transport_kind, service_kind, router_kind;
  const char *default_what; /* for the log: which static option the default comes from */
  /* The TLS options of transport element el: 1 filled in o, 0 no TLS section
   * (its services use the default), -1 refused with *why. */
  int (*transport_opts)(const wh_rt_elem *el, wh_tls_client_opts *o, const char **why);
  /* Service element el: -1 when it has no loadBalancer, else whether one of
   * its servers speaks TLS; *ref gets its serversTransport reference. */
  int (*service)(const wh_rt_elem *el, const char **ref);
  void (*default_opts)(const wh_static_config *stat, wh_tls_client_opts *o);
} side;

static const char spiffe_refused[] = "spiffe: SPIFFE workload API sources are not supported by "
                                     "wharf; use rootCAs, certificates and peerCertURI";

static int http_transport_opts(const wh_rt_elem *el, wh_tls_client_opts *o, const char **why) {
  const wh_servers_transport *t = el->cfg;
  if (t->spiffe) {
    *why = spiffe_refused;
    return -1;
  }
  *o = (wh_tls_client_opts){
      .name = el->name,
      .server_name = t->server_name,
      .insecure_skip_verify = t->insecure_skip_verify,
      .root_cas = &t->root_cas,
      .certificates = &t->certificates,
      .peer_cert_uri = t->peer_cert_uri,
      .http = true,
  };
  return 1;
}

static int http_service(const wh_rt_elem *el, const char **ref) {
  const wh_http_service *svc = el->cfg;
  const wh_lb_service *lb = svc ? svc->load_balancer : NULL;
  if (!lb)
    return -1;
  *ref = lb->servers_transport;
  for (size_t i = 0; i < lb->servers.n; i++) {
    const wh_server *s = (const wh_server *)lb->servers.items + i;
    if (s->url && strncasecmp(s->url, "https://", 8) == 0)
      return 1;
  }
  return 0;
}

static void http_default_opts(const wh_static_config *stat, wh_tls_client_opts *o) {
  const wh_static_servers_transport *st = stat->servers_transport;
  o->insecure_skip_verify = st && st->insecure_skip_verify;
  o->root_cas = st ? &st->root_cas : NULL;
  o->http = true;
}

static int tcp_transport_opts(const wh_rt_elem *el, wh_tls_client_opts *o, const char **why) {
  const wh_tcp_servers_transport *t = el->cfg;
  if (!t->tls)
    return 0;
  if (t->tls->spiffe) {
    *why = spiffe_refused;
    return -1;
  }
  *o = (wh_tls_client_opts){
      .name = el->name,
      .server_name = t->tls->server_name,
      .insecure_skip_verify = t->tls->insecure_skip_verify,
      .root_cas = &t->tls->root_cas,
      .certificates = &t->tls->certificates,
      .peer_cert_uri = t->tls->peer_cert_uri,
  };
  return 1;
}

static int tcp_service(const wh_rt_elem *el, const char **ref) {
  const wh_tcp_service *svc = el->cfg;
  const wh_tcp_lb_service *lb = svc ? svc->load_balancer : NULL;
  if (!lb)
    return -1;
  *ref = lb->servers_transport;
  for (size_t i = 0; i < lb->servers.n; i++)
    if (((const wh_tcp_server *)lb->servers.items)[i].tls)
      return 1;
  return 0;
}

static void tcp_default_opts(const wh_static_config *stat, wh_tls_client_opts *o) {
  const wh_static_tcp_servers_transport *st = stat->tcp_servers_transport;
  o->insecure_skip_verify = st && st->tls && st->tls->insecure_skip_verify;
  o->root_cas = st && st->tls ? &st->tls->root_cas : NULL;
}

static const side http_side = {
    WH_KIND_HTTP_TRANSPORT, WH_KIND_HTTP_SERVICE, WH_KIND_HTTP_ROUTER, "serversTransport (static)",
    http_transport_opts,    http_service,         http_default_opts};
static const side tcp_side = {
    WH_KIND_TCP_TRANSPORT, WH_KIND_TCP_SERVICE, WH_KIND_TCP_ROUTER, "tcpServersTransport (static)",
    tcp_transport_opts,    tcp_service,         tcp_default_opts};

/* Transport element name -> compiled client, for the service pass. */
typedef struct compiled {
  const char *name;
  const wh_errlist *errors; /* the transport element's, when it failed */
  wh_tls_client *tc;        /* NULL: failed, or no TLS section */
  bool failed;
} compiled;

static const compiled *find_compiled(const compiled *v, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i].name, name) == 0)
      return &v[i];
  return NULL;
}

/* The static default, made only when a service needs it: loading the system
 * roots is not free and most deployments have no TLS backend. */
typedef struct lazy_default {
  const wh_static_config *stat;
  wh_tls_client *tc;
  bool tried;
  wh_errlist errs;
} lazy_default;

static wh_tls_client *get_default(wh_backend_tls *b, const side *sd, lazy_default *d, bool *oom) {
  if (d->tried)
    return d->tc;
  d->tried = true;
  wh_tls_client_opts o = {.name = "default@internal"};
  sd->default_opts(d->stat, &o);
  watch_opts(b, &o);
  d->tc = wh_tls_client_new(&o, &d->errs);
  if (!d->tc && d->errs.n == 0)
    *oom = true;
  for (size_t e = 0; e < d->errs.n; e++)
    wh_log_error("%s: %s", sd->default_what, d->errs.items[e]);
  if (d->tc && keep(b, d->tc) < 0) {
    d->tc = NULL;
    *oom = true;
  }
  if (d->tc && wh_tls_client_insecure(d->tc))
    warn_insecure("default@internal");
  return d->tc;
}

/* Compiles every transport of one side, then maps its services with TLS
 * servers to their client into *out (sorted, as rt's lists are). */
static int build_side(wh_backend_tls *b, const side *sd, const wh_static_config *stat,
                      wh_runtime *rt, svc_tls **out, size_t *nout) {
  const wh_rt_list *tl = &rt->elems[sd->transport_kind];
  const wh_rt_list *sl = &rt->elems[sd->service_kind];
  compiled *cv = calloc(tl->n ? tl->n : 1, sizeof(*cv));
  *out = calloc(sl->n ? sl->n : 1, sizeof(**out));
  if (!cv || !*out) {
    free(cv);
    return WH_ENOMEM;
  }
  bool oom = false;
  for (size_t i = 0; i < tl->n && !oom; i++) {
    wh_rt_elem *el = tl->v[i];
    cv[i].name = el->name;
    cv[i].errors = &el->errors;
    if (!el->cfg || el->status == WH_STATUS_DISABLED) {
      cv[i].failed = true;
      continue;
    }
    wh_tls_client_opts o;
    const char *why = NULL;
    int rc = sd->transport_opts(el, &o, &why);
    if (rc < 0) {
      wh_runtime_disable(el, "%s", why);
      cv[i].failed = true;
    } else if (rc > 0) {
      watch_opts(b, &o);
      cv[i].tc = compile(el, &o, &cv[i].failed, &oom);
      if (cv[i].tc && keep(b, cv[i].tc) < 0) {
        cv[i].tc = NULL;
        oom = true;
      }
    }
  }
  lazy_default dflt = {.stat = stat};
  wh_errlist_init(&dflt.errs);
  for (size_t i = 0; i < sl->n && !oom; i++) {
    wh_rt_elem *el = sl->v[i];
    const char *ref = NULL;
    int has_tls = el->status == WH_STATUS_DISABLED ? -1 : sd->service(el, &ref);
    if (has_tls < 0)
      continue;
    const wh_tls_client *tc = NULL;
    bool named = false; /* a transport with its own TLS settings decides */
    if (ref && *ref) {
      char *q = wh_qualify(ref, el->provider);
      if (!q) {
        oom = true;
        break;
      }
      /* "default@internal" names the static default explicitly */
      const compiled *c = strcmp(q, "default@internal") ? find_compiled(cv, tl->n, q) : NULL;
      if (c && c->failed)
        disable_users(rt, sd->router_kind, el, q, c->errors);
      named = c && (c->tc || c->failed);
      tc = c ? c->tc : NULL;
      free(q);
    }
    if (!named && has_tls) {
      tc = get_default(b, sd, &dflt, &oom);
      if (!tc && !oom)
        disable_users(rt, sd->router_kind, el, "default@internal", &dflt.errs);
    }
    if (tc && has_tls)
      (*out)[(*nout)++] = (svc_tls){el->name, tc};
  }
  wh_errlist_free(&dflt.errs);
  free(cv);
  return oom ? WH_ENOMEM : 0;
}

wh_backend_tls *wh_backend_tls_build(const wh_static_config *stat, wh_runtime *rt) {
  wh_backend_tls *b = calloc(1, sizeof(*b));
  if (!b || !(b->files = wh_file_watch_new())) {
    free(b);
    return NULL;
  }
  if (build_side(b, &http_side, stat, rt, &b->http, &b->nhttp) != 0 ||
      build_side(b, &tcp_side, stat, rt, &b->tcp, &b->ntcp) != 0) {
    wh_backend_tls_free(b);
    return NULL;
  }
  return b;
}

void wh_backend_tls_free(wh_backend_tls *b) {
  if (!b)
    return;
  wh_file_watch_free(b->files);
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

bool wh_backend_tls_files_changed(const wh_backend_tls *b) {
  return b && wh_file_watch_changed(b->files);
}
