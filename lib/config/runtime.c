/* Merge, qualify and validate provider fragments into the runtime view.
 *
 * Invariants (see docs/internals/runtime.md):
 * - every element carries its qualified name and its own copy of its config;
 * - an error is attached to the element it concerns; a router is disabled
 *   when its rule, service, TLS options, entry points or any middleware is
 *   missing or broken, and nothing else is taken down with it;
 * - the result depends only on the inputs and their order (deterministic). */
#include "lib/config/runtime.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/rules/rules.h"

#define MAX_USER_PRIORITY (INT64_MAX - 1000)

const char *wh_status_name(wh_status s) {
  switch (s) {
  case WH_STATUS_ENABLED:
    return "enabled";
  case WH_STATUS_WARNING:
    return "warning";
  default:
    return "disabled";
  }
}

char *wh_qualify(const char *name, const char *provider) {
  if (!name)
    return NULL;
  if (strchr(name, '@'))
    return wh_strdup(name);
  return wh_asprintf("%s@%s", name, provider);
}

static int elem_cmp(const void *a, const void *b) {
  const wh_rt_elem *x = *(const wh_rt_elem *const *)a, *y = *(const wh_rt_elem *const *)b;
  return strcmp(x->name, y->name);
}

wh_rt_elem *wh_runtime_find(const wh_runtime *rt, wh_kind kind, const char *qualified) {
  if (!rt || !qualified)
    return NULL;
  const wh_rt_list *l = &rt->elems[kind];
  size_t lo = 0, hi = l->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(l->v[mid]->name, qualified);
    if (c == 0)
      return l->v[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

void wh_runtime_count(const wh_runtime *rt, wh_kind kind, size_t *total, size_t *warnings,
                      size_t *errors) {
  size_t t = 0, w = 0, e = 0;
  for (size_t i = 0; rt && i < rt->elems[kind].n; i++) {
    const wh_rt_elem *el = rt->elems[kind].v[i];
    t++;
    if (el->status == WH_STATUS_WARNING)
      w++;
    else if (el->status == WH_STATUS_DISABLED)
      e++;
  }
  if (total)
    *total = t;
  if (warnings)
    *warnings = w;
  if (errors)
    *errors = e;
}

static void elem_free(wh_rt_elem *el) {
  if (!el)
    return;
  free(el->name);
  free(el->provider);
  if (el->cfg)
    wh_schema_destroy(el->schema, el->cfg);
  wh_errlist_free(&el->errors);
  wh_strlist_free(&el->used_by);
  wh_strlist_free(&el->using);
  wh_rule_free(el->rule);
  free(el->service_ref);
  wh_strlist_free(&el->middleware_refs);
  for (size_t i = 0; i < el->server_status.n; i++) {
    free(el->server_status.keys[i]);
    free(el->server_status.vals[i]);
  }
  free(el->server_status.keys);
  free(el->server_status.vals);
  free(el);
}

void wh_runtime_free(wh_runtime *rt) {
  if (!rt)
    return;
  for (int k = 0; k < WH_KIND_COUNT; k++) {
    for (size_t i = 0; i < rt->elems[k].n; i++)
      elem_free(rt->elems[k].v[i]);
    free(rt->elems[k].v);
  }
  if (rt->tls) {
    wh_schema_free(&wh_schema_tls_config, rt->tls);
    free(rt->tls);
  }
  wh_strlist_free(&rt->providers);
  free(rt);
}

/* Error that disables the element. */
static void fail(wh_rt_elem *el, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(wh_rt_elem *el, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  wh_errlist_addv(&el->errors, fmt, ap);
  va_end(ap);
  el->status = WH_STATUS_DISABLED;
}

void wh_runtime_disable(wh_rt_elem *el, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  wh_errlist_addv(&el->errors, fmt, ap);
  va_end(ap);
  el->status = WH_STATUS_DISABLED;
}

/* Error that leaves the element serving (Traefik's non-critical errors). */
static void warn(wh_rt_elem *el, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(wh_rt_elem *el, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  wh_errlist_addv(&el->errors, fmt, ap);
  va_end(ap);
  if (el->status == WH_STATUS_ENABLED)
    el->status = WH_STATUS_WARNING;
}

static int list_push(wh_rt_list *l, wh_rt_elem *el) {
  wh_rt_elem **v = realloc(l->v, (l->n + 1) * sizeof(*v));
  if (!v)
    return WH_ENOMEM;
  l->v = v;
  l->v[l->n++] = el;
  return WH_OK;
}

static const char *section_of(wh_kind k) {
  static const char *const names[WH_KIND_COUNT] = {
      "http.routers", "http.services", "http.middlewares", "http.serversTransports",
      "tcp.routers",  "tcp.services",  "tcp.middlewares",  "tcp.serversTransports",
      "udp.routers",  "udp.services"};
  return names[k];
}

static const wh_schema *schema_of(wh_kind k) {
  switch (k) {
  case WH_KIND_HTTP_ROUTER:
    return &wh_schema_http_router;
  case WH_KIND_HTTP_SERVICE:
    return &wh_schema_http_service;
  case WH_KIND_HTTP_MIDDLEWARE:
    return &wh_schema_http_middleware;
  case WH_KIND_HTTP_TRANSPORT:
    return &wh_schema_servers_transport;
  case WH_KIND_TCP_ROUTER:
    return &wh_schema_tcp_router;
  case WH_KIND_TCP_SERVICE:
    return &wh_schema_tcp_service;
  case WH_KIND_TCP_MIDDLEWARE:
    return &wh_schema_tcp_middleware;
  case WH_KIND_TCP_TRANSPORT:
    return &wh_schema_tcp_servers_transport;
  case WH_KIND_UDP_ROUTER:
    return &wh_schema_udp_router;
  default:
    return &wh_schema_udp_service;
  }
}

static const wh_map *map_of(const wh_dyn_config *c, wh_kind k) {
  switch (k) {
  case WH_KIND_HTTP_ROUTER:
    return c->http ? &c->http->routers : NULL;
  case WH_KIND_HTTP_SERVICE:
    return c->http ? &c->http->services : NULL;
  case WH_KIND_HTTP_MIDDLEWARE:
    return c->http ? &c->http->middlewares : NULL;
  case WH_KIND_HTTP_TRANSPORT:
    return c->http ? &c->http->servers_transports : NULL;
  case WH_KIND_TCP_ROUTER:
    return c->tcp ? &c->tcp->routers : NULL;
  case WH_KIND_TCP_SERVICE:
    return c->tcp ? &c->tcp->services : NULL;
  case WH_KIND_TCP_MIDDLEWARE:
    return c->tcp ? &c->tcp->middlewares : NULL;
  case WH_KIND_TCP_TRANSPORT:
    return c->tcp ? &c->tcp->servers_transports : NULL;
  case WH_KIND_UDP_ROUTER:
    return c->udp ? &c->udp->routers : NULL;
  default:
    return c->udp ? &c->udp->services : NULL;
  }
}

static const wh_elem_error *find_elem_error(const wh_dyn_config *c, const char *section,
                                            const char *name) {
  for (size_t i = 0; i < c->n_elem_errors; i++)
    if (strcmp(c->elem_errors[i].section, section) == 0 &&
        strcmp(c->elem_errors[i].name, name) == 0)
      return &c->elem_errors[i];
  return NULL;
}

/* Copies every element of every fragment into the runtime, qualified. */
static int collect(wh_runtime *rt, const wh_fragment *frags, size_t n) {
  for (size_t f = 0; f < n; f++) {
    const wh_dyn_config *c = frags[f].cfg;
    if (!c)
      continue;
    if (!wh_strlist_contains(&rt->providers, frags[f].provider))
      wh_strlist_push(&rt->providers, frags[f].provider);
    for (int k = 0; k < WH_KIND_COUNT; k++) {
      const wh_map *m = map_of(c, (wh_kind)k);
      for (size_t i = 0; m && i < m->n; i++) {
        char *qn = wh_qualify(m->keys[i], frags[f].provider);
        if (!qn)
          return WH_ENOMEM;
        wh_rt_elem *prev = NULL;
        for (size_t j = 0; j < rt->elems[k].n; j++)
          if (strcmp(rt->elems[k].v[j]->name, qn) == 0)
            prev = rt->elems[k].v[j];
        if (prev) {
          /* Two fragments of one provider name: the first one wins. */
          fail(prev, "%s defined more than once", qn);
          free(qn);
          continue;
        }
        wh_rt_elem *el = calloc(1, sizeof(*el));
        if (!el) {
          free(qn);
          return WH_ENOMEM;
        }
        el->name = qn;
        el->provider = wh_strdup(frags[f].provider);
        el->kind = (wh_kind)k;
        el->schema = schema_of((wh_kind)k);
        /* wh_schema_copy fills an uninitialised struct */
        el->cfg = calloc(1, el->schema->size);
        wh_errlist_init(&el->errors);
        if (!el->cfg || wh_schema_copy(el->schema, el->cfg, m->vals[i]) != WH_OK) {
          if (el->cfg)
            free(el->cfg);
          el->cfg = NULL;
          elem_free(el);
          return WH_ENOMEM;
        }
        const wh_elem_error *ee = find_elem_error(c, section_of((wh_kind)k), m->keys[i]);
        if (ee && ee->errs.n) {
          wh_errlist_copy(&el->errors, &ee->errs);
          el->status = WH_STATUS_DISABLED;
        }
        if (list_push(&rt->elems[k], el) != WH_OK) {
          elem_free(el);
          return WH_ENOMEM;
        }
      }
    }
  }
  for (int k = 0; k < WH_KIND_COUNT; k++)
    if (rt->elems[k].n > 1)
      qsort(rt->elems[k].v, rt->elems[k].n, sizeof(wh_rt_elem *), elem_cmp);
  return WH_OK;
}

static void add_used_by(wh_rt_elem *target, const char *router) {
  if (!wh_strlist_contains(&target->used_by, router))
    wh_strlist_push(&target->used_by, router);
}

/* ---- middlewares ---- */

static void check_middlewares(wh_runtime *rt, wh_kind kind, wh_mw_proto proto) {
  for (size_t i = 0; i < rt->elems[kind].n; i++) {
    wh_rt_elem *el = rt->elems[kind].v[i];
    size_t count = 0;
    void *cfg = NULL;
    const wh_mw_type *t = wh_middleware_type(el->cfg, proto, &cfg, &count);
    if (count == 0) {
      if (el->errors.n == 0)
        fail(el, "middleware has no type");
    } else if (count > 1) {
      fail(el, "middleware defines %zu types; exactly one is allowed", count);
    } else {
      el->mw_type = t;
      el->mw_cfg = cfg;
    }
  }
}

/* A chain's members exist, are enabled and do not loop back to it. */
static bool chain_ok(wh_runtime *rt, wh_rt_elem *el, int depth, wh_errlist *why);

static const wh_strlist *chain_members(const wh_rt_elem *el) {
  /* The chain type's config starts with its member list (middleware/chain.h);
   * read it through the schema encoder-neutral way: the field named
   * "middlewares" of type STRLIST. */
  if (!el->mw_type || strcmp(el->mw_type->name, "chain") != 0 || !el->mw_cfg)
    return NULL;
  const wh_schema *s = el->mw_type->schema;
  for (size_t i = 0; i < s->nfields; i++)
    if (s->fields[i].type == WH_F_STRLIST && wh_strcaseeq(s->fields[i].name, "middlewares"))
      return (const wh_strlist *)((const char *)el->mw_cfg + s->fields[i].offset);
  return NULL;
}

static bool chain_ok(wh_runtime *rt, wh_rt_elem *el, int depth, wh_errlist *why) {
  const wh_strlist *members = chain_members(el);
  if (!members)
    return true;
  if (depth > 32) {
    wh_errlist_add(why, "chain %s: recursion (a chain includes itself)", el->name);
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < members->n; i++) {
    char *qn = wh_qualify(members->v[i], el->provider);
    wh_rt_elem *m = wh_runtime_find(rt, WH_KIND_HTTP_MIDDLEWARE, qn);
    if (!m) {
      wh_errlist_add(why, "middleware \"%s\" does not exist", qn);
      ok = false;
    } else if (m == el) {
      wh_errlist_add(why, "chain %s: recursion (a chain includes itself)", el->name);
      ok = false;
    } else if (m->status == WH_STATUS_DISABLED) {
      wh_errlist_add(why, "middleware \"%s\" is disabled", qn);
      ok = false;
    } else if (!chain_ok(rt, m, depth + 1, why)) {
      ok = false;
    }
    free(qn);
    if (!ok)
      break;
  }
  return ok;
}

static void check_chains(wh_runtime *rt) {
  /* Two passes settle chains of chains without ordering assumptions: a
   * chain disabled in pass one disables the chains containing it in pass two. */
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < rt->elems[WH_KIND_HTTP_MIDDLEWARE].n; i++) {
      wh_rt_elem *el = rt->elems[WH_KIND_HTTP_MIDDLEWARE].v[i];
      if (el->status == WH_STATUS_DISABLED)
        continue;
      wh_errlist why;
      wh_errlist_init(&why);
      if (!chain_ok(rt, el, 0, &why))
        for (size_t j = 0; j < why.n; j++)
          fail(el, "%s", why.items[j]);
      wh_errlist_free(&why);
    }
  }
}

/* ---- services ---- */

static void check_http_services(wh_runtime *rt) {
  wh_rt_list *l = &rt->elems[WH_KIND_HTTP_SERVICE];
  for (size_t i = 0; i < l->n; i++) {
    wh_rt_elem *el = l->v[i];
    const wh_http_service *s = el->cfg;
    /* Labels may give port/scheme instead of url; a provider turns them into
     * a url before the build. One still without a url cannot be served. */
    for (size_t j = 0; s->load_balancer && j < s->load_balancer->servers.n; j++) {
      const wh_server *srv = (const wh_server *)s->load_balancer->servers.items + j;
      if (!srv->url || !*srv->url)
        fail(el, "loadBalancer.servers[%zu]: url is missing", j);
    }
    if (s->load_balancer && s->load_balancer->servers_transport) {
      char *qn = wh_qualify(s->load_balancer->servers_transport, el->provider);
      if (!wh_runtime_find(rt, WH_KIND_HTTP_TRANSPORT, qn) && strcmp(qn, "default@internal") != 0)
        fail(el, "serversTransport \"%s\" does not exist", qn);
      free(qn);
    }
    const wh_list *refs = NULL;
    if (s->weighted)
      refs = &s->weighted->services;
    for (size_t j = 0; refs && j < refs->n; j++) {
      const wh_weighted_ref *r = (const wh_weighted_ref *)refs->items + j;
      char *qn = wh_qualify(r->name, el->provider);
      if (!wh_runtime_find(rt, WH_KIND_HTTP_SERVICE, qn))
        fail(el, "service \"%s\" does not exist", qn);
      free(qn);
    }
    const char *single[3] = {NULL, NULL, NULL};
    if (s->mirroring)
      single[0] = s->mirroring->service;
    if (s->failover) {
      single[1] = s->failover->service;
      single[2] = s->failover->fallback;
    }
    for (int j = 0; j < 3; j++) {
      if (!single[j])
        continue;
      char *qn = wh_qualify(single[j], el->provider);
      if (!wh_runtime_find(rt, WH_KIND_HTTP_SERVICE, qn))
        fail(el, "service \"%s\" does not exist", qn);
      free(qn);
    }
    for (size_t j = 0; s->mirroring && j < s->mirroring->mirrors.n; j++) {
      const wh_mirror_ref *r = (const wh_mirror_ref *)s->mirroring->mirrors.items + j;
      char *qn = wh_qualify(r->name, el->provider);
      if (!wh_runtime_find(rt, WH_KIND_HTTP_SERVICE, qn))
        fail(el, "service \"%s\" does not exist", qn);
      free(qn);
    }
  }
}

static void check_tcp_services(wh_runtime *rt) {
  wh_rt_list *l = &rt->elems[WH_KIND_TCP_SERVICE];
  for (size_t i = 0; i < l->n; i++) {
    wh_rt_elem *el = l->v[i];
    const wh_tcp_service *s = el->cfg;
    if (!s->load_balancer && !s->weighted && el->errors.n == 0)
      fail(el, "service must define loadBalancer or weighted");
    if (s->load_balancer && s->load_balancer->servers_transport) {
      char *qn = wh_qualify(s->load_balancer->servers_transport, el->provider);
      if (!wh_runtime_find(rt, WH_KIND_TCP_TRANSPORT, qn) && strcmp(qn, "default@internal") != 0)
        fail(el, "serversTransport \"%s\" does not exist", qn);
      free(qn);
    }
    for (size_t j = 0; s->weighted && j < s->weighted->services.n; j++) {
      const wh_weighted_ref *r = (const wh_weighted_ref *)s->weighted->services.items + j;
      char *qn = wh_qualify(r->name, el->provider);
      if (!wh_runtime_find(rt, WH_KIND_TCP_SERVICE, qn))
        fail(el, "service \"%s\" does not exist", qn);
      free(qn);
    }
  }
}

/* ---- entry points ---- */

/* Default entry points of a router (TRAEFIK-COMPAT §2): those with asDefault
 * when any has it, else every entry point of the protocol except "traefik". */
static void default_entrypoints(const wh_static_config *stat, bool udp, wh_strlist *out) {
  bool any_default = false;
  for (size_t i = 0; i < stat->entry_points.n; i++) {
    const wh_entrypoint *ep = stat->entry_points.vals[i];
    if (ep->is_udp == udp && ep->as_default)
      any_default = true;
  }
  for (size_t i = 0; i < stat->entry_points.n; i++) {
    const wh_entrypoint *ep = stat->entry_points.vals[i];
    if (ep->is_udp != udp)
      continue;
    if (any_default ? ep->as_default : strcmp(stat->entry_points.keys[i], "traefik") != 0)
      wh_strlist_push(out, stat->entry_points.keys[i]);
  }
}

static void resolve_entrypoints(const wh_static_config *stat, wh_rt_elem *el,
                                const wh_strlist *given, bool udp) {
  if (!given || given->n == 0) {
    default_entrypoints(stat, udp, &el->using);
    if (el->using.n == 0)
      fail(el, "no valid entryPoint for this router");
    return;
  }
  for (size_t i = 0; i < given->n; i++) {
    const wh_entrypoint *ep = wh_map_get(&stat->entry_points, given->v[i]);
    if (!ep) {
      warn(el, "entryPoint \"%s\" doesn't exist", given->v[i]);
      continue;
    }
    if (ep->is_udp != udp) {
      warn(el, "entryPoint \"%s\" is a %s entry point", given->v[i], ep->is_udp ? "UDP" : "TCP");
      continue;
    }
    if (!wh_strlist_contains(&el->using, given->v[i]))
      wh_strlist_push(&el->using, given->v[i]);
  }
  if (el->using.n == 0)
    fail(el, "no valid entryPoint for this router");
}

static wh_rule_syntax router_syntax(const wh_static_config *stat, wh_rt_elem *el,
                                    const char *given) {
  wh_rule_syntax def = WH_RULE_V3;
  if (stat->core && stat->core->default_rule_syntax)
    wh_rule_syntax_parse(stat->core->default_rule_syntax, WH_RULE_V3, &def);
  wh_rule_syntax s = def;
  if (wh_rule_syntax_parse(given, def, &s) != 0)
    fail(el, "ruleSyntax: unknown value \"%s\" (expected v2 or v3)", given);
  return s;
}

static void compile_rule(wh_rt_elem *el, const char *rule, wh_rule_proto proto,
                         wh_rule_syntax syntax) {
  if (!rule || !*rule) {
    fail(el, "rule: empty rule");
    return;
  }
  wh_rule_error err;
  memset(&err, 0, sizeof(err));
  el->rule = wh_rule_parse(rule, proto, syntax, &err);
  if (!el->rule)
    fail(el, "rule: %s", err.msg);
}

static bool tls_options_exist(const wh_runtime *rt, const char *qn) {
  if (strcmp(qn, "default") == 0)
    return true;
  return rt->tls && wh_map_get(&rt->tls->options, qn) != NULL;
}

/* Router -> service, middlewares, TLS options. */
static void link_router_common(wh_runtime *rt, wh_rt_elem *el, const char *service,
                               const wh_strlist *mws, const char *tls_options, wh_kind svc_kind,
                               wh_kind mw_kind) {
  if (!service || !*service) {
    fail(el, "the service is missing on the router");
  } else {
    el->service_ref = wh_qualify(service, el->provider);
    wh_rt_elem *svc = wh_runtime_find(rt, svc_kind, el->service_ref);
    if (!svc) {
      fail(el, "service \"%s\" does not exist", el->service_ref);
    } else {
      add_used_by(svc, el->name);
      if (svc->status == WH_STATUS_DISABLED)
        fail(el, "service \"%s\" is disabled", el->service_ref);
    }
  }
  for (size_t i = 0; mws && i < mws->n; i++) {
    char *qn = wh_qualify(mws->v[i], el->provider);
    if (!qn)
      continue;
    wh_strlist_push(&el->middleware_refs, qn);
    wh_rt_elem *m = wh_runtime_find(rt, mw_kind, qn);
    if (!m) {
      fail(el, "middleware \"%s\" does not exist", qn);
    } else {
      add_used_by(m, el->name);
      if (m->status == WH_STATUS_DISABLED)
        fail(el, "middleware \"%s\" is disabled", qn);
    }
    free(qn);
  }
  if (tls_options && *tls_options) {
    char *qn = strcmp(tls_options, "default") == 0 ? wh_strdup("default")
                                                   : wh_qualify(tls_options, el->provider);
    if (!tls_options_exist(rt, qn))
      fail(el, "unknown TLS options: %s", qn);
    free(qn);
  }
}

static void check_priority(wh_rt_elem *el, int64_t given, const char *rule) {
  if (given > MAX_USER_PRIORITY && strcmp(el->provider, "internal") != 0)
    fail(el, "the router priority %lld exceeds the max user-defined priority %lld",
         (long long)given, (long long)MAX_USER_PRIORITY);
  el->priority = given != 0 ? given : (int64_t)(rule ? strlen(rule) : 0);
}

static void check_http_routers(wh_runtime *rt, const wh_static_config *stat) {
  wh_rt_list *l = &rt->elems[WH_KIND_HTTP_ROUTER];
  for (size_t i = 0; i < l->n; i++) {
    wh_rt_elem *el = l->v[i];
    const wh_http_router *r = el->cfg;
    resolve_entrypoints(stat, el, &r->entry_points, false);
    compile_rule(el, r->rule, WH_RULE_HTTP, router_syntax(stat, el, r->rule_syntax));
    check_priority(el, r->priority, r->rule);
    /* The entry points' own middlewares run first (TRAEFIK-COMPAT §4, References). */
    wh_strlist mws = {0};
    for (size_t e = 0; e < el->using.n; e++) {
      const wh_entrypoint *ep = wh_map_get(&stat->entry_points, el->using.v[e]);
      if (!ep)
        continue;
      if (strcmp(el->provider, "internal") == 0)
        continue;
      for (size_t m = 0; m < ep->http.middlewares.n; m++)
        if (!wh_strlist_contains(&mws, ep->http.middlewares.v[m]))
          wh_strlist_push(&mws, ep->http.middlewares.v[m]);
    }
    for (size_t m = 0; m < r->middlewares.n; m++)
      wh_strlist_push(&mws, r->middlewares.v[m]);
    el->tls = r->tls != NULL;
    link_router_common(rt, el, r->service, &mws, r->tls ? r->tls->options : NULL,
                       WH_KIND_HTTP_SERVICE, WH_KIND_HTTP_MIDDLEWARE);
    wh_strlist_free(&mws);
  }
}

static void check_tcp_routers(wh_runtime *rt, const wh_static_config *stat) {
  wh_rt_list *l = &rt->elems[WH_KIND_TCP_ROUTER];
  for (size_t i = 0; i < l->n; i++) {
    wh_rt_elem *el = l->v[i];
    const wh_tcp_router *r = el->cfg;
    resolve_entrypoints(stat, el, &r->entry_points, false);
    compile_rule(el, r->rule, WH_RULE_TCP, router_syntax(stat, el, r->rule_syntax));
    el->tls = r->tls != NULL;
    if (el->rule && !el->tls && wh_rule_uses(el->rule, "HostSNI") &&
        !wh_rule_is_catchall_sni(el->rule))
      fail(el, "invalid rule: \"%s\": has HostSNI matcher, but no TLS on router", r->rule);
    if (el->rule && !el->tls && wh_rule_uses(el->rule, "HostSNIRegexp"))
      fail(el, "invalid rule: \"%s\": has HostSNIRegexp matcher, but no TLS on router", r->rule);
    check_priority(el, r->priority, r->rule);
    if (r->priority == 0 && el->rule && wh_rule_is_catchall_sni(el->rule))
      el->priority = -1;
    link_router_common(rt, el, r->service, &r->middlewares, r->tls ? r->tls->options : NULL,
                       WH_KIND_TCP_SERVICE, WH_KIND_TCP_MIDDLEWARE);
  }
}

static void check_udp_routers(wh_runtime *rt, const wh_static_config *stat) {
  wh_rt_list *l = &rt->elems[WH_KIND_UDP_ROUTER];
  for (size_t i = 0; i < l->n; i++) {
    wh_rt_elem *el = l->v[i];
    const wh_udp_router *r = el->cfg;
    resolve_entrypoints(stat, el, &r->entry_points, true);
    link_router_common(rt, el, r->service, NULL, NULL, WH_KIND_UDP_SERVICE, WH_KIND_UDP_SERVICE);
  }
}

/* A service or middleware no enabled router uses, or whose user is broken,
 * keeps its own status: Traefik reports elements independently. */

/* ---- TLS ---- */

static int merge_tls(wh_runtime *rt, const wh_fragment *frags, size_t n) {
  rt->tls = wh_schema_new(&wh_schema_tls_config);
  if (!rt->tls)
    return WH_ENOMEM;
  for (size_t f = 0; f < n; f++) {
    const wh_tls_config *t = frags[f].cfg ? frags[f].cfg->tls : NULL;
    if (!t)
      continue;
    for (size_t i = 0; i < t->certificates.n; i++) {
      const wh_tls_certificate *c = (const wh_tls_certificate *)t->certificates.items + i;
      void *items = realloc(rt->tls->certificates.items,
                            (rt->tls->certificates.n + 1) * sizeof(wh_tls_certificate));
      if (!items)
        return WH_ENOMEM;
      rt->tls->certificates.items = items;
      wh_tls_certificate *dst = (wh_tls_certificate *)items + rt->tls->certificates.n;
      if (wh_schema_copy(&wh_schema_tls_certificate, dst, c) != WH_OK)
        return WH_ENOMEM;
      rt->tls->certificates.n++;
    }
    const wh_map *maps[2] = {&t->options, &t->stores};
    wh_map *dsts[2] = {&rt->tls->options, &rt->tls->stores};
    const wh_schema *schemas[2] = {&wh_schema_tls_options, &wh_schema_tls_store};
    for (int k = 0; k < 2; k++) {
      for (size_t i = 0; i < maps[k]->n; i++) {
        /* "default" options and store are global (pkg/server/aggregator.go). */
        char *qn = strcmp(maps[k]->keys[i], "default") == 0
                       ? wh_strdup("default")
                       : wh_qualify(maps[k]->keys[i], frags[f].provider);
        if (wh_map_get(dsts[k], qn)) {
          wh_log_error("TLS %s \"%s\" defined by several providers; keeping the first",
                       k == 0 ? "options" : "store", qn);
          free(qn);
          continue;
        }
        void *copy = calloc(1, schemas[k]->size);
        if (!copy || wh_schema_copy(schemas[k], copy, maps[k]->vals[i]) != WH_OK) {
          free(copy);
          free(qn);
          return WH_ENOMEM;
        }
        wh_map_put(dsts[k], qn, copy, NULL);
        free(qn);
      }
    }
  }
  return WH_OK;
}

wh_runtime *wh_runtime_build(const wh_static_config *stat, const wh_fragment *frags, size_t n) {
  wh_runtime *rt = calloc(1, sizeof(*rt));
  if (!rt)
    return NULL;
  if (collect(rt, frags, n) != WH_OK || merge_tls(rt, frags, n) != WH_OK) {
    wh_runtime_free(rt);
    return NULL;
  }
  check_middlewares(rt, WH_KIND_HTTP_MIDDLEWARE, WH_MW_HTTP);
  check_middlewares(rt, WH_KIND_TCP_MIDDLEWARE, WH_MW_TCP);
  check_chains(rt);
  check_http_services(rt);
  check_tcp_services(rt);
  check_http_routers(rt, stat);
  check_tcp_routers(rt, stat);
  check_udp_routers(rt, stat);
  return rt;
}
