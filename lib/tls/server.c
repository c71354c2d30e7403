#include "lib/tls/server.h"

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/rules/rules.h"
#include "lib/tls/acme_alpn.h"
#include "lib/tls/certificate.h"
#include "lib/tls/file_watch.h"

/* host -> policy index, one table per entry point, sorted for bsearch. */
typedef struct host_entry {
  char *host; /* exact name, or the ".example.com" suffix of a "*.example.com" */
  int pol;    /* -1: routers disagree, the default options apply */
} host_entry;

typedef struct ep_hosts {
  host_entry *exact, *wild;
  size_t nexact, nwild, cexact, cwild;
} ep_hosts;

struct wh_tls_server {
  bool ip_names;        /* some certificate names an IP address: SNI-less lookups need it */
  wh_file_watch *files; /* certificate, key and CA files read */
  wh_tls_policy **pol;  /* pol[0] is the default options */
  size_t npol;
  wh_cert_store *store;
  size_t ngroups;          /* groups in store; the default certificate's slot is ngroups */
  _Atomic(SSL_CTX *) *ctx; /* npol * (ngroups + 1) */
  ep_hosts *eps;
  size_t neps;
  wh_errlist errors;
};

/* ---- files to watch ---- */

static void watch(wh_tls_server *s, const char *path) {
  wh_file_watch_add(s->files, path);
}

bool wh_tls_server_files_changed(const wh_tls_server *s) {
  return wh_file_watch_changed(s->files);
}

size_t wh_tls_server_watched(const wh_tls_server *s) {
  return wh_file_watch_count(s->files);
}

/* ---- process-wide state ---- */

static unsigned char ticket_keys[80];
static pthread_once_t ticket_once = PTHREAD_ONCE_INIT;

static void make_ticket_keys(void) {
  if (RAND_bytes(ticket_keys, sizeof(ticket_keys)) != 1)
    abort(); /* no randomness: nothing TLS can be made safe */
}

void wh_tls_ticket_keys(unsigned char keys[80]) {
  pthread_once(&ticket_once, make_ticket_keys);
  memcpy(keys, ticket_keys, sizeof(ticket_keys));
}

/* The generated default certificate lives as long as the process: a reload
 * must not change what a client without SNI sees. Control thread only. */
static wh_cert *generated_default;

static wh_cert *default_generated(void) {
  if (!generated_default)
    generated_default = wh_cert_self_signed("TRAEFIK DEFAULT CERT", NULL, 0);
  return generated_default;
}

/* ---- policies ---- */

static int policy_index(const wh_tls_server *s, const char *name) {
  if (!name || !*name || strcmp(name, "default") == 0)
    return 0;
  for (size_t i = 1; i < s->npol; i++)
    if (strcmp(s->pol[i]->name, name) == 0)
      return (int)i;
  return -1;
}

static int add_policy(wh_tls_server *s, wh_tls_policy *p) {
  wh_tls_policy **v = realloc(s->pol, (s->npol + 1) * sizeof(*v));
  if (!v)
    return -1;
  s->pol = v;
  s->pol[s->npol++] = p;
  return 0;
}

/* Failed option sets: name -> first error, for the routers that use them. */
typedef struct failed_opts {
  char **names;
  char **errs;
  size_t n;
} failed_opts;

static const char *failed_reason(const failed_opts *f, const char *name) {
  for (size_t i = 0; i < f->n; i++)
    if (strcmp(f->names[i], name) == 0)
      return f->errs[i];
  return NULL;
}

static void failed_free(failed_opts *f) {
  for (size_t i = 0; i < f->n; i++) {
    free(f->names[i]);
    free(f->errs[i]);
  }
  free(f->names);
  free(f->errs);
}

static void failed_add(failed_opts *f, const char *name, const wh_errlist *errs) {
  char **n = realloc(f->names, (f->n + 1) * sizeof(*n));
  if (!n)
    return;
  f->names = n;
  char **e = realloc(f->errs, (f->n + 1) * sizeof(*e));
  if (!e)
    return;
  f->errs = e;
  f->names[f->n] = wh_strdup(name);
  f->errs[f->n] = wh_strdup(errs->n ? errs->items[0] : "invalid TLS options");
  f->n++;
}

static int compile_policies(wh_tls_server *s, const wh_runtime *rt, failed_opts *failed) {
  const wh_map *opts = rt->tls ? &rt->tls->options : NULL;
  const wh_tls_options *def = opts ? wh_map_get(opts, "default") : NULL;
  wh_tls_policy *p0 = NULL;
  if (def) {
    wh_errlist errs;
    wh_errlist_init(&errs);
    p0 = wh_tls_policy_compile("default", def, false, &errs);
    if (!p0) {
      for (size_t i = 0; i < errs.n; i++)
        wh_log_error("TLS options \"default\": %s", errs.items[i]);
      failed_add(failed, "default", &errs);
      wh_errlist_extend(&s->errors, &errs, "TLS options \"default\": ");
    }
    wh_errlist_free(&errs);
  }
  /* Handshakes still need options when "default" is broken: the built-in
   * ones serve them, while every router that relies on "default" is off. */
  if (!p0)
    p0 = wh_tls_policy_default(false);
  if (!p0 || add_policy(s, p0) < 0) {
    wh_tls_policy_free(p0);
    return -1;
  }
  for (size_t i = 0; opts && i < opts->n; i++) {
    const wh_tls_options *o = opts->vals[i];
    for (size_t k = 0; k < o->client_auth.ca_files.n; k++)
      watch(s, o->client_auth.ca_files.v[k]);
    if (strcmp(opts->keys[i], "default") == 0)
      continue;
    wh_errlist errs;
    wh_errlist_init(&errs);
    wh_tls_policy *p = wh_tls_policy_compile(opts->keys[i], opts->vals[i], false, &errs);
    if (!p) {
      for (size_t k = 0; k < errs.n; k++)
        wh_log_error("TLS options \"%s\": %s", opts->keys[i], errs.items[k]);
      failed_add(failed, opts->keys[i], &errs);
    } else if (add_policy(s, p) < 0) {
      wh_tls_policy_free(p);
      wh_errlist_free(&errs);
      return -1;
    }
    wh_errlist_free(&errs);
  }
  return 0;
}

/* ---- routers: effective options ---- */

/* The qualified options name a TLS router uses on entry point ep: its own,
 * else the entry point's http.tls.options, else "default". */
static char *router_options(const wh_rt_elem *el, const wh_entrypoint *ep, bool tcp) {
  const char *own = NULL;
  if (tcp) {
    const wh_tcp_router *r = el->cfg;
    own = r->tls ? r->tls->options : NULL;
  } else {
    const wh_http_router *r = el->cfg;
    own = r->tls ? r->tls->options : NULL;
  }
  if (own && *own)
    return strcmp(own, "default") == 0 ? wh_strdup("default") : wh_qualify(own, el->provider);
  if (!tcp && ep && ep->http.tls && ep->http.tls->options && *ep->http.tls->options) {
    const char *o = ep->http.tls->options;
    /* Entry point options are written as in the file provider's namespace
     * when unqualified (Traefik resolves them the same way). */
    return strcmp(o, "default") == 0 || strchr(o, '@') ? wh_strdup(o) : wh_qualify(o, "file");
  }
  return wh_strdup("default");
}

static int host_cmp(const void *a, const void *b) {
  return strcmp(((const host_entry *)a)->host, ((const host_entry *)b)->host);
}

static void host_put(host_entry **v, size_t *n, size_t *cap, const char *host, int pol) {
  for (size_t i = 0; i < *n; i++) {
    if (strcmp((*v)[i].host, host) == 0) {
      if ((*v)[i].pol != pol && (*v)[i].pol != -1) {
        wh_log_warn("TLS routers for host %s use different TLS options; the default options "
                    "apply to it",
                    host);
        (*v)[i].pol = -1;
      }
      return;
    }
  }
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 8;
    host_entry *nv = realloc(*v, nc * sizeof(*nv));
    if (!nv)
      return;
    *v = nv;
    *cap = nc;
  }
  char *h = wh_strdup(host);
  if (!h)
    return;
  (*v)[(*n)++] = (host_entry){h, pol};
}

static void add_router_hosts(wh_tls_server *s, size_t epi, const wh_rt_elem *el, int pol) {
  char **hosts = NULL;
  size_t n = el->rule ? wh_rule_host_values(el->rule, &hosts) : 0;
  ep_hosts *e = &s->eps[epi];
  for (size_t i = 0; i < n; i++) {
    const char *h = hosts[i];
    size_t len = strlen(h);
    if (len && h[len - 1] == '.')
      hosts[i][--len] = '\0';
    if (strcmp(h, "*") == 0 || len == 0) {
      /* Host(`*`) says nothing about names */
    } else if (h[0] == '*' && h[1] == '.') {
      host_put(&e->wild, &e->nwild, &e->cwild, h + 1, pol);
    } else {
      host_put(&e->exact, &e->nexact, &e->cexact, h, pol);
    }
    free(hosts[i]);
  }
  free(hosts);
}

/* The entry point index of name, or stat->entry_points.n. */
static size_t ep_index(const wh_static_config *stat, const char *name) {
  size_t i = 0;
  for (; i < stat->entry_points.n; i++)
    if (strcmp(stat->entry_points.keys[i], name) == 0)
      break;
  return i;
}

/* Two passes per router: its options on every entry point first, then its
 * hosts, only when none disabled it. A router disabled on one entry point
 * must not leave its hosts claimed on another, where they would conflict
 * with a stricter router's options and drop the host to the default
 * options (mTLS silently off, HARDENING 24). */
static void map_routers(wh_tls_server *s, const wh_static_config *stat, wh_runtime *rt,
                        const failed_opts *failed, bool tcp) {
  wh_rt_list *l = &rt->elems[tcp ? WH_KIND_TCP_ROUTER : WH_KIND_HTTP_ROUTER];
  int *pols = NULL;
  for (size_t i = 0; i < l->n; i++) {
    wh_rt_elem *el = l->v[i];
    if (el->status == WH_STATUS_DISABLED)
      continue;
    if (tcp) {
      const wh_tcp_router *r = el->cfg;
      if (!r->tls || r->tls->passthrough)
        continue; /* passthrough never sees the options */
    }
    int *np = realloc(pols, (el->using.n ? el->using.n : 1) * sizeof(*np));
    if (!np)
      break;
    pols = np;
    for (size_t e = 0; e < el->using.n && el->status != WH_STATUS_DISABLED; e++) {
      pols[e] = -1;
      size_t epi = ep_index(stat, el->using.v[e]);
      if (epi == stat->entry_points.n)
        continue;
      const wh_entrypoint *ep = stat->entry_points.vals[epi];
      if (!(el->tls || (!tcp && ep->http.tls != NULL)))
        continue;
      char *name = router_options(el, ep, tcp);
      if (!name)
        continue;
      const char *why = failed_reason(failed, name);
      int pol = policy_index(s, name);
      if (why)
        wh_runtime_disable(el, "TLS options \"%s\" are invalid: %s", name, why);
      else if (pol < 0)
        wh_runtime_disable(el, "unknown TLS options: %s", name);
      else
        pols[e] = pol;
      free(name);
    }
    if (el->status == WH_STATUS_DISABLED)
      continue;
    for (size_t e = 0; e < el->using.n; e++)
      if (pols[e] >= 0)
        add_router_hosts(s, ep_index(stat, el->using.v[e]), el, pols[e]);
  }
  free(pols);
}

/* ---- certificates ---- */

static void warn_expiry(const wh_cert *c);

static void load_certificates(wh_tls_server *s, const wh_runtime *rt) {
  const wh_list *certs = rt->tls ? &rt->tls->certificates : NULL;
  for (size_t i = 0; certs && i < certs->n; i++) {
    const wh_tls_certificate *c = (const wh_tls_certificate *)certs->items + i;
    bool in_default = c->stores.n == 0;
    for (size_t k = 0; k < c->stores.n; k++)
      if (strcmp(c->stores.v[k], "default") == 0)
        in_default = true;
    if (!in_default) {
      wh_log_warn("TLS certificate %zu: only the \"default\" store exists; certificate skipped", i);
      continue;
    }
    wh_errlist errs;
    wh_errlist_init(&errs);
    watch(s, c->cert_file);
    watch(s, c->key_file);
    wh_cert *cert = wh_cert_load(c->cert_file, c->key_file, &errs);
    if (!cert) {
      for (size_t k = 0; k < errs.n; k++)
        wh_log_error("%s", errs.items[k]);
      wh_errlist_extend(&s->errors, &errs, NULL);
    } else {
      wh_errlist warns;
      wh_errlist_init(&warns);
      warn_expiry(cert);
      wh_cert_store_add(s->store, cert, &warns);
      for (size_t k = 0; k < warns.n; k++)
        wh_log_warn("%s", warns.items[k]);
      wh_errlist_free(&warns);
      wh_cert_unref(cert);
    }
    wh_errlist_free(&errs);
  }
  const wh_tls_store *st = rt->tls ? wh_map_get(&rt->tls->stores, "default") : NULL;
  wh_cert *def = NULL;
  if (st && st->default_certificate) {
    watch(s, st->default_certificate->cert_file);
    watch(s, st->default_certificate->key_file);
    wh_errlist errs;
    wh_errlist_init(&errs);
    def =
        wh_cert_load(st->default_certificate->cert_file, st->default_certificate->key_file, &errs);
    for (size_t k = 0; k < errs.n; k++)
      wh_log_error("default certificate: %s", errs.items[k]);
    wh_errlist_extend(&s->errors, &errs, "default certificate: ");
    wh_errlist_free(&errs);
  }
  if (def) {
    warn_expiry(def);
    wh_cert_store_set_default(s->store, def);
    wh_cert_unref(def);
  } else {
    /* (only reached when the configuration serves TLS at all: see
     * needs_tls) */
    wh_cert *gen = default_generated();
    if (gen)
      wh_cert_store_set_default(s->store, gen);
  }
}

/* ---- expiry ---- */

#define EXPIRY_WARN_DAYS 14
#define EXPIRY_REPEAT_SECS (24 * 3600)

/* Fingerprints warned about and when: a rebuild per Docker event must not
 * repeat the warning; once a day is enough. Control thread only. */
static struct {
  char sha256[65];
  time_t at;
} warned[64];

static void warn_expiry(const wh_cert *c) {
  time_t now = time(NULL);
  if (c->not_after - now > (time_t)EXPIRY_WARN_DAYS * 86400)
    return;
  size_t slot = 0;
  for (size_t i = 0; i < sizeof(warned) / sizeof(warned[0]); i++) {
    if (strcmp(warned[i].sha256, c->sha256) == 0) {
      if (now - warned[i].at < EXPIRY_REPEAT_SECS)
        return;
      slot = i;
      break;
    }
    if (warned[i].at < warned[slot].at)
      slot = i; /* the oldest entry makes room */
  }
  memcpy(warned[slot].sha256, c->sha256, sizeof(warned[slot].sha256));
  warned[slot].at = now;
  const char *name = c->nnames ? c->names[0] : (c->subject ? c->subject : "?");
  char when[32];
  struct tm tm;
  gmtime_r(&c->not_after, &tm);
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (c->not_after <= now)
    wh_log_warn("TLS certificate for %s (%s) expired on %s", name, c->origin ? c->origin : "?",
                when);
  else
    wh_log_warn("TLS certificate for %s (%s) expires on %s, in %ld day(s)", name,
                c->origin ? c->origin : "?", when, (long)((c->not_after - now) / 86400));
}

/* ---- build ---- */

static bool needs_tls(const wh_static_config *stat, const wh_runtime *rt) {
  if (rt->tls && (rt->tls->certificates.n || rt->tls->options.n || rt->tls->stores.n))
    return true;
  for (size_t i = 0; i < stat->entry_points.n; i++) {
    const wh_entrypoint *ep = stat->entry_points.vals[i];
    if (ep->http.tls)
      return true;
  }
  const wh_rt_list *h = &rt->elems[WH_KIND_HTTP_ROUTER], *t = &rt->elems[WH_KIND_TCP_ROUTER];
  for (size_t i = 0; i < h->n; i++)
    if (h->v[i]->tls)
      return true;
  for (size_t i = 0; i < t->n; i++)
    if (t->v[i]->tls)
      return true;
  return false;
}

wh_tls_server *wh_tls_server_build(const wh_static_config *stat, wh_runtime *rt) {
  wh_tls_server *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  wh_errlist_init(&s->errors);
  failed_opts failed = {0};
  s->neps = stat->entry_points.n;
  s->eps = calloc(s->neps ? s->neps : 1, sizeof(*s->eps));
  s->store = wh_cert_store_new();
  s->files = wh_file_watch_new();
  if (!s->eps || !s->store || !s->files)
    goto oom;
  /* A configuration without any TLS builds none of it: compiling options
   * and generating the default certificate bring OpenSSL's state in, a few
   * MiB of resident memory a plain HTTP deployment does not need. A
   * ClientHello is then refused. */
  if (!needs_tls(stat, rt)) {
    failed_free(&failed);
    if (wh_cert_store_finish(s->store) < 0)
      goto oom_nofailed;
    s->ctx = calloc(1, sizeof(*s->ctx));
    if (!s->ctx)
      goto oom_nofailed;
    return s;
  }
  if (compile_policies(s, rt, &failed) < 0)
    goto oom;
  map_routers(s, stat, rt, &failed, false);
  map_routers(s, stat, rt, &failed, true);
  failed_free(&failed);
  for (size_t i = 0; i < s->neps; i++) {
    ep_hosts *e = &s->eps[i];
    if (e->nexact)
      qsort(e->exact, e->nexact, sizeof(*e->exact), host_cmp);
    if (e->nwild)
      qsort(e->wild, e->nwild, sizeof(*e->wild), host_cmp);
  }
  load_certificates(s, rt);
  if (wh_cert_store_finish(s->store) < 0)
    goto oom_nofailed;
  s->ngroups = wh_cert_store_count(s->store);
  for (size_t i = 0; i < s->ngroups && !s->ip_names; i++) {
    const wh_cert_group *g = wh_cert_store_at(s->store, i);
    const wh_cert *cs[2] = {g->rsa, g->ec};
    for (int k = 0; k < 2; k++)
      for (size_t j = 0; cs[k] && j < cs[k]->nnames; j++) {
        unsigned char addr[16];
        if (inet_pton(AF_INET, cs[k]->names[j], addr) == 1 ||
            inet_pton(AF_INET6, cs[k]->names[j], addr) == 1)
          s->ip_names = true;
      }
  }
  s->ctx = calloc(s->npol * (s->ngroups + 1), sizeof(*s->ctx));
  if (!s->ctx)
    goto oom_nofailed;
  return s;
oom:
  failed_free(&failed);
oom_nofailed:
  wh_tls_server_free(s);
  return NULL;
}

void wh_tls_server_free(wh_tls_server *s) {
  if (!s)
    return;
  size_t nctx = s->ctx ? s->npol * (s->ngroups + 1) : 0;
  for (size_t i = 0; i < nctx; i++) {
    SSL_CTX *c = atomic_load(&s->ctx[i]);
    if (c)
      SSL_CTX_free(c);
  }
  free(s->ctx);
  wh_file_watch_free(s->files);
  for (size_t i = 0; i < s->npol; i++)
    wh_tls_policy_free(s->pol[i]);
  free(s->pol);
  for (size_t i = 0; s->eps && i < s->neps; i++) {
    for (size_t k = 0; k < s->eps[i].nexact; k++)
      free(s->eps[i].exact[k].host);
    for (size_t k = 0; k < s->eps[i].nwild; k++)
      free(s->eps[i].wild[k].host);
    free(s->eps[i].exact);
    free(s->eps[i].wild);
  }
  free(s->eps);
  if (s->store)
    wh_cert_store_free(s->store);
  wh_errlist_free(&s->errors);
  free(s);
}

/* ---- lookups (any thread) ---- */

static int find_host(const host_entry *v, size_t n, const char *host) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(v[mid].host, host);
    if (c == 0)
      return (int)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

/* Lowercase, without a trailing dot or a port, into buf; false when too long. */
static bool canon_host(const char *in, char *buf, size_t cap) {
  size_t n = 0;
  if (in[0] == '[') { /* an IPv6 literal: no name options can apply */
    const char *end = strchr(in, ']');
    if (!end || (size_t)(end - in - 1) >= cap)
      return false;
    memcpy(buf, in + 1, (size_t)(end - in - 1));
    buf[end - in - 1] = '\0';
    return true;
  }
  for (; in[n] && in[n] != ':'; n++) {
    if (n + 1 >= cap)
      return false;
    char ch = in[n];
    buf[n] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
  }
  if (n && buf[n - 1] == '.')
    n--;
  buf[n] = '\0';
  return true;
}

static int host_policy(const wh_tls_server *s, size_t ep_index, const char *host) {
  if (!host || !*host || ep_index >= s->neps)
    return 0;
  char h[256];
  if (!canon_host(host, h, sizeof(h)))
    return 0;
  const ep_hosts *e = &s->eps[ep_index];
  int i = find_host(e->exact, e->nexact, h);
  if (i >= 0)
    return e->exact[i].pol < 0 ? 0 : e->exact[i].pol;
  const char *dot = strchr(h, '.');
  if (dot && e->nwild) {
    i = find_host(e->wild, e->nwild, dot);
    if (i >= 0)
      return e->wild[i].pol < 0 ? 0 : e->wild[i].pol;
  }
  return 0;
}

const wh_tls_policy *wh_tls_server_policy_for_host(const wh_tls_server *s, size_t ep_index,
                                                   const char *host) {
  if (!s->npol)
    return NULL; /* no TLS configured */
  return s->pol[host_policy(s, ep_index, host)];
}

static SSL_CTX *make_ctx(const wh_tls_policy *p, const wh_cert_group *g, bool acme_only) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx)
    return NULL;
  wh_errlist errs;
  wh_errlist_init(&errs);
  int rc = wh_tls_policy_apply(p, ctx, &errs);
  for (size_t i = 0; i < errs.n; i++)
    wh_log_error("TLS options \"%s\": %s", p->name, errs.items[i]);
  wh_errlist_free(&errs);
  if (rc < 0 || (g->rsa && wh_cert_install(g->rsa, ctx) < 0) ||
      (g->ec && wh_cert_install(g->ec, ctx) < 0)) {
    SSL_CTX_free(ctx);
    return NULL;
  }
  unsigned char keys[80];
  wh_tls_ticket_keys(keys);
  SSL_CTX_ctrl(ctx, SSL_CTRL_SET_TLSEXT_TICKET_KEYS, sizeof(keys), keys);
  /* Idle keep-alive connections give their record buffers back (about
   * 34 KB each): memory per connection is a goal (PERFORMANCE.md). */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  wh_tls_acme_install(ctx, acme_only);
  return ctx;
}

SSL_CTX *wh_tls_server_ctx(wh_tls_server *s, size_t ep_index, const char *sni, const char *local_ip,
                           const wh_tls_policy **pol) {
  *pol = NULL;
  if (!s->npol)
    return NULL; /* no TLS configured: the handshake is refused */
  bool has_sni = sni && *sni;
  int pi = host_policy(s, ep_index, has_sni ? sni : NULL);
  const wh_tls_policy *p = s->pol[pi];
  *pol = p;
  const wh_cert_group *g = wh_cert_store_lookup(s->store, has_sni ? sni : local_ip);
  size_t gi;
  if (g) {
    gi = g->index;
  } else {
    /* ACME TLS-ALPN-01 validates names that have no certificate yet; the
     * context then refuses anything but the validation (acme_alpn.h). */
    if (p->sni_strict && !(has_sni && wh_acme_chal_tls_has(sni)))
      return NULL;
    g = wh_cert_store_default(s->store);
    gi = s->ngroups;
  }
  if (!g)
    return NULL;
  _Atomic(SSL_CTX *) *slot = &s->ctx[(size_t)pi * (s->ngroups + 1) + gi];
  SSL_CTX *ctx = atomic_load_explicit(slot, memory_order_acquire);
  if (ctx)
    return ctx;
  ctx = make_ctx(p, g, p->sni_strict && gi == s->ngroups);
  if (!ctx)
    return NULL;
  SSL_CTX *expected = NULL;
  if (!atomic_compare_exchange_strong_explicit(slot, &expected, ctx, memory_order_acq_rel,
                                               memory_order_acquire)) {
    SSL_CTX_free(ctx); /* another worker made it first */
    return expected;
  }
  return ctx;
}

bool wh_tls_server_has_ip_names(const wh_tls_server *s) {
  return s->ip_names;
}

const wh_cert_store *wh_tls_server_store(const wh_tls_server *s) {
  return s->store;
}

const wh_errlist *wh_tls_server_errors(const wh_tls_server *s) {
  return &s->errors;
}
