#include "lib/admin/api.h"
#include "lib/admin/containers.h"
#include "lib/admin/explain.h"
#include "lib/admin/reply.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/config/dynamic.h"
#include "lib/config/runtime.h"
#include "lib/config/static.h"
#include "lib/core/err.h"
#include "lib/core/str.h"
#include "lib/lb/lb.h"
#include "lib/router/snapshot.h"
#include "lib/tls/certificate.h"
#include "lib/tls/server.h"

#ifndef WH_VERSION
#define WH_VERSION "dev"
#endif

static time_t start_time;

void wh_api_set_start_time(time_t t) {
  start_time = t;
}

/* ---- responses ---- */

static void reply_not_found(wh_http_resp *resp) {
  wh_http_resp_text(resp, 404, "404 page not found\n");
  wh_http_resp_header(resp, "X-Content-Type-Options", "nosniff");
}

/* ---- decoding ---- */

/* ---- element objects ---- */

static const char *service_type(const wh_rt_elem *el) {
  if (!el->cfg)
    return "";
  switch (el->kind) {
  case WH_KIND_HTTP_SERVICE: {
    const wh_http_service *s = el->cfg;
    return s->load_balancer ? "loadbalancer"
           : s->weighted    ? "weighted"
           : s->mirroring   ? "mirroring"
           : s->failover    ? "failover"
                            : "";
  }
  case WH_KIND_TCP_SERVICE: {
    const wh_tcp_service *s = el->cfg;
    return s->load_balancer ? "loadbalancer" : s->weighted ? "weighted" : "";
  }
  case WH_KIND_UDP_SERVICE: {
    const wh_udp_service *s = el->cfg;
    return s->load_balancer ? "loadbalancer" : s->weighted ? "weighted" : "";
  }
  default:
    return "";
  }
}

/* Lowercased type key, e.g. "ipallowlist"; written into buf. */
static const char *middleware_type(const wh_rt_elem *el, char *buf, size_t len) {
  buf[0] = '\0';
  if (el->mw_type && el->mw_type->name) {
    snprintf(buf, len, "%s", el->mw_type->name);
    wh_str_lower(buf);
  }
  return buf;
}

static bool is_router(wh_kind k) {
  return k == WH_KIND_HTTP_ROUTER || k == WH_KIND_TCP_ROUTER || k == WH_KIND_UDP_ROUTER;
}

static bool is_service(wh_kind k) {
  return k == WH_KIND_HTTP_SERVICE || k == WH_KIND_TCP_SERVICE || k == WH_KIND_UDP_SERVICE;
}

static bool is_middleware(wh_kind k) {
  return k == WH_KIND_HTTP_MIDDLEWARE || k == WH_KIND_TCP_MIDDLEWARE;
}

/* The runtime info object (rawdata shape); with repr, the API's
 * representation adding name, provider, type and defaults. Field order
 * follows Traefik's structs: configuration, error, status, using/usedBy,
 * serverStatus, name, provider, type. */
static cJSON *elem_json(const wh_snapshot *snap, const wh_rt_elem *el, bool repr) {
  cJSON *o = el->cfg ? wh_schema_encode(el->schema, el->cfg) : cJSON_CreateObject();
  if (!o)
    return NULL;
  if (el->kind == WH_KIND_HTTP_ROUTER || el->kind == WH_KIND_TCP_ROUTER)
    wh_api_set_int64(o, "priority", el->priority);
  if (repr && el->kind == WH_KIND_HTTP_ROUTER && el->cfg) {
    const wh_http_router *r = el->cfg;
    if (r->tls && (!r->tls->options || !r->tls->options[0])) {
      cJSON *tls = cJSON_GetObjectItemCaseSensitive(o, "tls");
      if (!tls) {
        tls = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "tls", tls);
      }
      cJSON_DeleteItemFromObjectCaseSensitive(tls, "options");
      cJSON_AddStringToObject(tls, "options", "default");
    }
  }
  if (el->errors.n) {
    cJSON *a = cJSON_AddArrayToObject(o, "error");
    for (size_t i = 0; a && i < el->errors.n; i++)
      cJSON_AddItemToArray(a, cJSON_CreateString(el->errors.items[i]));
  }
  cJSON_AddStringToObject(o, "status", wh_status_name(el->status));
  if (is_router(el->kind) && el->using.n)
    cJSON_AddItemToObject(o, "using", wh_api_strlist_json(&el->using));
  if ((is_service(el->kind) || is_middleware(el->kind)) && el->used_by.n)
    cJSON_AddItemToObject(o, "usedBy", wh_api_strlist_json(&el->used_by));
  /* Read from the balancer's health cells at request time; a snapshot built
   * without balancers falls back to what the runtime recorded. */
  const struct wh_lb *lb = el->kind == WH_KIND_HTTP_SERVICE ? wh_snapshot_lb(snap, el->name) : NULL;
  if (lb && wh_lb_nservers(lb)) {
    cJSON *ss = cJSON_AddObjectToObject(o, "serverStatus");
    for (size_t i = 0; ss && i < wh_lb_nservers(lb); i++) {
      const wh_lb_server *srv = wh_lb_server_at(lb, i);
      if (!cJSON_GetObjectItemCaseSensitive(ss, srv->url))
        cJSON_AddStringToObject(ss, srv->url, wh_lb_server_up(srv) ? "UP" : "DOWN");
    }
  } else if (el->kind == WH_KIND_HTTP_SERVICE && el->server_status.n) {
    cJSON *ss = cJSON_AddObjectToObject(o, "serverStatus");
    for (size_t i = 0; ss && i < el->server_status.n; i++)
      cJSON_AddStringToObject(ss, el->server_status.keys[i], el->server_status.vals[i]);
  }
  if (!repr)
    return o;
  cJSON_AddStringToObject(o, "name", el->name);
  cJSON_AddStringToObject(o, "provider", el->provider ? el->provider : "");
  if (el->kind == WH_KIND_HTTP_ROUTER || el->kind == WH_KIND_TCP_ROUTER) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64, el->priority);
    cJSON_AddStringToObject(o, "priorityStr", buf);
  }
  const char *type = NULL;
  char mbuf[64];
  if (is_service(el->kind))
    type = service_type(el);
  else if (is_middleware(el->kind))
    type = middleware_type(el, mbuf, sizeof(mbuf));
  if (type && *type)
    cJSON_AddStringToObject(o, "type", type);
  return o;
}

/* ---- list queries ---- */

typedef struct item {
  const wh_rt_elem *el;
  const char *name, *provider, *status, *rule, *service, *type;
  int64_t num; /* priority / entry point count / server count */
  char mtype[64];
} item;

typedef enum { SK_NAME, SK_PROVIDER, SK_STATUS, SK_RULE, SK_SERVICE, SK_TYPE, SK_NUM } sort_key;

typedef struct sort_spec {
  sort_key key;
  bool desc;
} sort_spec;

static const char *router_rule(const wh_rt_elem *el) {
  if (!el->cfg)
    return "";
  const char *r = el->kind == WH_KIND_HTTP_ROUTER  ? ((const wh_http_router *)el->cfg)->rule
                  : el->kind == WH_KIND_TCP_ROUTER ? ((const wh_tcp_router *)el->cfg)->rule
                                                   : NULL;
  return r ? r : "";
}

static const char *router_service(const wh_rt_elem *el) {
  if (!el->cfg)
    return "";
  const char *s = el->kind == WH_KIND_HTTP_ROUTER  ? ((const wh_http_router *)el->cfg)->service
                  : el->kind == WH_KIND_TCP_ROUTER ? ((const wh_tcp_router *)el->cfg)->service
                                                   : ((const wh_udp_router *)el->cfg)->service;
  return s ? s : "";
}

static const wh_strlist *router_entrypoints(const wh_rt_elem *el) {
  static const wh_strlist empty = {0};
  if (!el->cfg)
    return &empty;
  return el->kind == WH_KIND_HTTP_ROUTER  ? &((const wh_http_router *)el->cfg)->entry_points
         : el->kind == WH_KIND_TCP_ROUTER ? &((const wh_tcp_router *)el->cfg)->entry_points
                                          : &((const wh_udp_router *)el->cfg)->entry_points;
}

static const wh_strlist *router_middlewares(const wh_rt_elem *el) {
  static const wh_strlist empty = {0};
  if (!el->cfg || el->kind == WH_KIND_UDP_ROUTER)
    return &empty;
  return el->kind == WH_KIND_HTTP_ROUTER ? &((const wh_http_router *)el->cfg)->middlewares
                                         : &((const wh_tcp_router *)el->cfg)->middlewares;
}

static size_t service_servers(const wh_rt_elem *el) {
  if (!el->cfg)
    return 0;
  if (el->kind == WH_KIND_HTTP_SERVICE) {
    const wh_http_service *s = el->cfg;
    return s->load_balancer ? s->load_balancer->servers.n : 0;
  }
  if (el->kind == WH_KIND_TCP_SERVICE) {
    const wh_tcp_service *s = el->cfg;
    return s->load_balancer ? s->load_balancer->servers.n : 0;
  }
  const wh_udp_service *s = el->cfg;
  return s->load_balancer ? s->load_balancer->servers.n : 0;
}

static void item_fill(item *it, const wh_rt_elem *el, const char *sort_by) {
  memset(it, 0, sizeof(*it));
  it->el = el;
  it->name = el->name ? el->name : "";
  it->provider = el->provider ? el->provider : "";
  it->status = wh_status_name(el->status);
  it->rule = it->service = it->type = "";
  if (is_router(el->kind)) {
    it->rule = router_rule(el);
    it->service = router_service(el);
    if (sort_by && strcmp(sort_by, "entryPoints") == 0)
      it->num = (int64_t)router_entrypoints(el)->n;
    else
      it->num = el->kind == WH_KIND_UDP_ROUTER ? 0 : el->priority;
  } else if (is_service(el->kind)) {
    it->type = service_type(el);
    it->num = (int64_t)service_servers(el);
  } else if (is_middleware(el->kind)) {
    it->type = middleware_type(el, it->mtype, sizeof(it->mtype));
  }
}

static const char *item_str(const item *it, sort_key k) {
  switch (k) {
  case SK_PROVIDER:
    return it->provider;
  case SK_STATUS:
    return it->status;
  case SK_RULE:
    return it->rule;
  case SK_SERVICE:
    return it->service;
  case SK_TYPE:
    return it->type;
  default:
    return it->name;
  }
}

/* Go's sortByFunc: by the key, ties by name, both in the same direction. */
static int item_cmp(const void *a, const void *b, void *arg) {
  const item *x = a, *y = b;
  const sort_spec *sp = arg;
  int c = 0;
  if (sp->key == SK_NUM)
    c = x->num < y->num ? -1 : x->num > y->num;
  else if (sp->key != SK_NAME)
    c = strcmp(item_str(x, sp->key), item_str(y, sp->key));
  if (c == 0)
    c = strcmp(x->name, y->name);
  return sp->desc ? -c : c;
}

/* sortBy values each collection accepts, as Traefik's sort.go; anything
 * else sorts by name. */
static sort_key parse_sort(const char *by, wh_kind kind) {
  if (!by)
    return SK_NAME;
  if (strcmp(by, "provider") == 0)
    return SK_PROVIDER;
  if (strcmp(by, "status") == 0)
    return SK_STATUS;
  if (is_router(kind)) {
    if (strcmp(by, "priority") == 0 || strcmp(by, "entryPoints") == 0)
      return SK_NUM;
    if (strcmp(by, "rule") == 0)
      return SK_RULE;
    if (strcmp(by, "service") == 0)
      return SK_SERVICE;
  } else {
    if (strcmp(by, "type") == 0)
      return SK_TYPE;
    if (is_service(kind) && strcmp(by, "servers") == 0)
      return SK_NUM;
  }
  return SK_NAME;
}

static bool contains_icase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  if (!n)
    return true;
  for (; *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0)
      return true;
  return false;
}

typedef struct criterion {
  char *search, *status, *service_name, *middleware_name;
} criterion;

static void criterion_free(criterion *c) {
  free(c->search);
  free(c->status);
  free(c->service_name);
  free(c->middleware_name);
}

/* Go's criterion.filterService: a qualified router service must match
 * exactly; an unqualified one matches the filter's name part. */
static bool filter_service(const criterion *c, const char *svc) {
  if (!c->service_name || !*c->service_name)
    return true;
  if (strchr(svc, '@'))
    return strcmp(c->service_name, svc) == 0;
  size_t n = strcspn(c->service_name, "@");
  return strlen(svc) == n && strncmp(c->service_name, svc, n) == 0;
}

static bool filter_middleware(const criterion *c, const wh_rt_elem *el) {
  if (!c->middleware_name || !*c->middleware_name)
    return true;
  /* as configured (Traefik), or qualified (what the dashboard links with) */
  return wh_strlist_contains(router_middlewares(el), c->middleware_name) ||
         wh_strlist_contains(&el->middleware_refs, c->middleware_name);
}

static bool keep(const criterion *c, const item *it) {
  if (c->status && *c->status && !wh_strcaseeq(c->status, it->status))
    return false;
  if (c->search && *c->search) {
    bool hit = contains_icase(it->name, c->search);
    if (!hit && is_router(it->el->kind))
      hit = contains_icase(it->rule, c->search);
    if (!hit)
      return false;
  }
  if (is_router(it->el->kind))
    return filter_service(c, it->service) && filter_middleware(c, it->el);
  return true;
}

typedef struct page {
  size_t start, end;
  long next;
} page;

/* Go's getIntParam: absent -> default; not a positive integer -> error. */
static int int_param(const char *query, const char *key, long dflt, long *out, char *err,
                     size_t errlen) {
  char *raw = wh_api_query_get(query, key);
  if (!raw || !*raw) {
    free(raw);
    *out = dflt;
    return 0;
  }
  char *end;
  errno = 0;
  long v = strtol(raw, &end, 10);
  bool ok = !errno && end != raw && !*end && !isspace((unsigned char)raw[0]);
  free(raw);
  if (!ok)
    v = 0;
  if (v <= 0) {
    snprintf(err, errlen, "invalid request: %s: %ld", key, v);
    return WH_EINVAL;
  }
  *out = v;
  return 0;
}

static int paginate(const char *query, size_t total, page *pg, char *err, size_t errlen) {
  long per_page, pgno;
  if (int_param(query, "per_page", 100, &per_page, err, errlen) < 0 ||
      int_param(query, "page", 1, &pgno, err, errlen) < 0)
    return WH_EINVAL;
  /* overflow-safe: both are positive longs */
  unsigned long long start = (unsigned long long)(pgno - 1) * (unsigned long long)per_page;
  if (start != 0 && start >= total) {
    snprintf(err, errlen, "invalid request: page: %ld, per_page: %ld", pgno, per_page);
    return WH_EINVAL;
  }
  unsigned long long end = start + (unsigned long long)per_page;
  if (end > total)
    end = total;
  pg->start = (size_t)start;
  pg->end = (size_t)end;
  pg->next = (unsigned long long)pgno * (unsigned long long)per_page < total ? pgno + 1 : 1;
  return 0;
}

static void list_elems(const wh_snapshot *snap, wh_kind kind, const char *query,
                       wh_http_resp *resp) {
  const wh_rt_list *l = snap && snap->rt ? &snap->rt->elems[kind] : NULL;
  size_t n = l ? l->n : 0;
  item *items = calloc(n ? n : 1, sizeof(*items));
  if (!items) {
    wh_api_reply_error(resp, 500, "out of memory");
    return;
  }
  criterion c = {
      .search = wh_api_query_get(query, "search"),
      .status = wh_api_query_get(query, "status"),
      .service_name = wh_api_query_get(query, "serviceName"),
      .middleware_name = wh_api_query_get(query, "middlewareName"),
  };
  char *sort_by = wh_api_query_get(query, "sortBy");
  char *direction = wh_api_query_get(query, "direction");
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    item_fill(&items[kept], l->v[i], sort_by);
    if (keep(&c, &items[kept]))
      kept++;
  }
  /* Go treats any direction other than "asc" (or empty) as descending. */
  sort_spec sp = {.key = parse_sort(sort_by, kind),
                  .desc = direction && *direction && strcmp(direction, "asc") != 0};
  qsort_r(items, kept, sizeof(*items), item_cmp, &sp);
  page pg;
  char err[160];
  if (paginate(query, kept, &pg, err, sizeof(err)) < 0) {
    wh_api_reply_error(resp, 400, "%s", err);
  } else {
    char next[24];
    snprintf(next, sizeof(next), "%ld", pg.next);
    wh_http_resp_header(resp, "X-Next-Page", next);
    cJSON *a = cJSON_CreateArray();
    for (size_t i = pg.start; a && i < pg.end; i++)
      cJSON_AddItemToArray(a, elem_json(snap, items[i].el, true));
    wh_api_reply_json(resp, 200, a);
  }
  criterion_free(&c);
  free(sort_by);
  free(direction);
  free(items);
}

static const char *kind_noun(wh_kind k) {
  return is_router(k) ? "router" : is_service(k) ? "service" : "middleware";
}

static const char *kind_id(wh_kind k) {
  return is_router(k) ? "routerID" : is_service(k) ? "serviceID" : "middlewareID";
}

static void get_elem(const wh_snapshot *snap, wh_kind kind, const char *raw, wh_http_resp *resp) {
  char *name = wh_api_pct_decode(raw, strlen(raw), false);
  if (!name) {
    wh_api_reply_error(resp, 400, "unable to decode %s %s", kind_id(kind), raw);
    return;
  }
  const wh_rt_elem *el = snap && snap->rt ? wh_runtime_find(snap->rt, kind, name) : NULL;
  if (!el)
    wh_api_reply_error(resp, 404, "%s not found: %s", kind_noun(kind), name);
  else
    wh_api_reply_json(resp, 200, elem_json(snap, el, true));
  free(name);
}

/* ---- entry points ---- */

static cJSON *entrypoints_json(const wh_snapshot *snap) {
  if (!snap || !snap->stat)
    return NULL;
  cJSON *all = wh_static_encode(snap->stat);
  if (!all)
    return NULL;
  cJSON *eps = cJSON_DetachItemFromObjectCaseSensitive(all, "entryPoints");
  cJSON_Delete(all);
  return eps;
}

/* One entry point object: its static fields plus "name". */
static cJSON *entrypoint_repr(cJSON *eps, const char *name) {
  cJSON *ep = eps ? cJSON_GetObjectItemCaseSensitive(eps, name) : NULL;
  cJSON *o = ep ? cJSON_Duplicate(ep, true) : cJSON_CreateObject();
  if (o)
    cJSON_AddStringToObject(o, "name", name);
  return o;
}

static int str_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_entrypoints(const wh_snapshot *snap, const char *query, wh_http_resp *resp) {
  const wh_map *m = snap && snap->stat ? &snap->stat->entry_points : NULL;
  size_t n = m ? m->n : 0;
  char **names = calloc(n ? n : 1, sizeof(*names));
  if (!names) {
    wh_api_reply_error(resp, 500, "out of memory");
    return;
  }
  for (size_t i = 0; i < n; i++)
    names[i] = m->keys[i];
  qsort(names, n, sizeof(*names), str_cmp);
  page pg;
  char err[160];
  if (paginate(query, n, &pg, err, sizeof(err)) < 0) {
    wh_api_reply_error(resp, 400, "%s", err);
  } else {
    char next[24];
    snprintf(next, sizeof(next), "%ld", pg.next);
    wh_http_resp_header(resp, "X-Next-Page", next);
    cJSON *eps = entrypoints_json(snap);
    cJSON *a = cJSON_CreateArray();
    for (size_t i = pg.start; a && i < pg.end; i++)
      cJSON_AddItemToArray(a, entrypoint_repr(eps, names[i]));
    cJSON_Delete(eps);
    wh_api_reply_json(resp, 200, a);
  }
  free(names);
}

static void get_entrypoint(const wh_snapshot *snap, const char *raw, wh_http_resp *resp) {
  char *name = wh_api_pct_decode(raw, strlen(raw), false);
  if (!name) {
    wh_api_reply_error(resp, 400, "unable to decode entryPointID %s", raw);
    return;
  }
  if (!snap || !snap->stat || !wh_map_get(&snap->stat->entry_points, name)) {
    wh_api_reply_error(resp, 404, "entry point not found: %s", name);
  } else {
    cJSON *eps = entrypoints_json(snap);
    wh_api_reply_json(resp, 200, entrypoint_repr(eps, name));
    cJSON_Delete(eps);
  }
  free(name);
}

/* ---- overview, rawdata, version ---- */

static void add_section(cJSON *parent, const char *key, const wh_snapshot *snap, wh_kind kind) {
  size_t t = 0, w = 0, e = 0;
  if (snap && snap->rt)
    wh_runtime_count(snap->rt, kind, &t, &w, &e);
  cJSON *s = cJSON_AddObjectToObject(parent, key);
  cJSON_AddNumberToObject(s, "total", (double)t);
  cJSON_AddNumberToObject(s, "warnings", (double)w);
  cJSON_AddNumberToObject(s, "errors", (double)e);
}

static void overview(const wh_snapshot *snap, wh_http_resp *resp) {
  cJSON *o = cJSON_CreateObject();
  cJSON *http = cJSON_AddObjectToObject(o, "http");
  add_section(http, "routers", snap, WH_KIND_HTTP_ROUTER);
  add_section(http, "services", snap, WH_KIND_HTTP_SERVICE);
  add_section(http, "middlewares", snap, WH_KIND_HTTP_MIDDLEWARE);
  cJSON *tcp = cJSON_AddObjectToObject(o, "tcp");
  add_section(tcp, "routers", snap, WH_KIND_TCP_ROUTER);
  add_section(tcp, "services", snap, WH_KIND_TCP_SERVICE);
  add_section(tcp, "middlewares", snap, WH_KIND_TCP_MIDDLEWARE);
  cJSON *udp = cJSON_AddObjectToObject(o, "udp");
  add_section(udp, "routers", snap, WH_KIND_UDP_ROUTER);
  add_section(udp, "services", snap, WH_KIND_UDP_SERVICE);
  const wh_static_config *st = snap ? snap->stat : NULL;
  cJSON *f = cJSON_AddObjectToObject(o, "features");
  cJSON_AddStringToObject(f, "tracing", "");
  /* Traefik reports the Go field name of the configured metrics backend. */
  cJSON_AddStringToObject(f, "metrics",
                          st && st->metrics && st->metrics->prometheus ? "Prometheus" : "");
  cJSON_AddBoolToObject(f, "accessLog", st && st->access_log);
  /* Providers configured statically, named and ordered like the fields of
   * Traefik's static Providers struct. */
  if (st && st->providers &&
      (st->providers->docker || st->providers->swarm || st->providers->file)) {
    cJSON *p = cJSON_AddArrayToObject(o, "providers");
    if (st->providers->docker)
      cJSON_AddItemToArray(p, cJSON_CreateString("Docker"));
    if (st->providers->swarm)
      cJSON_AddItemToArray(p, cJSON_CreateString("Swarm"));
    if (st->providers->file)
      cJSON_AddItemToArray(p, cJSON_CreateString("File"));
  }
  wh_api_reply_json(resp, 200, o);
}

static void rawdata(const wh_snapshot *snap, wh_http_resp *resp) {
  static const struct {
    const char *key;
    wh_kind kind;
  } sections[] = {
      {"routers", WH_KIND_HTTP_ROUTER},
      {"middlewares", WH_KIND_HTTP_MIDDLEWARE},
      {"services", WH_KIND_HTTP_SERVICE},
      {"tcpRouters", WH_KIND_TCP_ROUTER},
      {"tcpMiddlewares", WH_KIND_TCP_MIDDLEWARE},
      {"tcpServices", WH_KIND_TCP_SERVICE},
      {"udpRouters", WH_KIND_UDP_ROUTER},
      {"udpServices", WH_KIND_UDP_SERVICE},
      {"serversTransports", WH_KIND_HTTP_TRANSPORT},
      {"tcpServersTransports", WH_KIND_TCP_TRANSPORT},
  };
  cJSON *o = cJSON_CreateObject();
  for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
    const wh_rt_list *l = snap && snap->rt ? &snap->rt->elems[sections[s].kind] : NULL;
    if (!l || !l->n)
      continue; /* omitempty */
    cJSON *m = cJSON_AddObjectToObject(o, sections[s].key);
    for (size_t i = 0; i < l->n; i++)
      cJSON_AddItemToObject(m, l->v[i]->name, elem_json(snap, l->v[i], false));
  }
  wh_api_reply_json(resp, 200, o);
}

static void version(const wh_snapshot *snap, wh_http_resp *resp) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "Version", WH_VERSION);
  cJSON_AddStringToObject(o, "Codename", "wharf");
  char date[64];
  struct tm tm;
  gmtime_r(&start_time, &tm);
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
  cJSON_AddStringToObject(o, "startDate", date);
  if (snap && snap->stat && snap->stat->api && snap->stat->api->disable_dashboard_ad)
    cJSON_AddBoolToObject(o, "disableDashboardAd", true);
  wh_api_reply_json(resp, 200, o);
}

/* ---- routing ---- */

static const struct {
  const char *prefix; /* collection path */
  wh_kind kind;
} collections[] = {
    {"/api/http/routers", WH_KIND_HTTP_ROUTER},
    {"/api/http/services", WH_KIND_HTTP_SERVICE},
    {"/api/http/middlewares", WH_KIND_HTTP_MIDDLEWARE},
    {"/api/http/serversTransports", WH_KIND_HTTP_TRANSPORT},
    {"/api/tcp/routers", WH_KIND_TCP_ROUTER},
    {"/api/tcp/services", WH_KIND_TCP_SERVICE},
    {"/api/tcp/middlewares", WH_KIND_TCP_MIDDLEWARE},
    {"/api/tcp/serversTransports", WH_KIND_TCP_TRANSPORT},
    {"/api/udp/routers", WH_KIND_UDP_ROUTER},
    {"/api/udp/services", WH_KIND_UDP_SERVICE},
};

/* When path is prefix exactly, *elem = NULL; when it is prefix "/" name with
 * a non-empty name that has no further '/', *elem = name. */
static void time_json(cJSON *o, const char *key, time_t t) {
  char buf[32];
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  cJSON_AddStringToObject(o, key, buf);
}

static cJSON *cert_json(const wh_cert *c, bool is_default) {
  cJSON *o = cJSON_CreateObject();
  cJSON *names = cJSON_AddArrayToObject(o, "sans");
  for (size_t i = 0; i < c->nnames; i++)
    cJSON_AddItemToArray(names, cJSON_CreateString(c->names[i]));
  cJSON_AddStringToObject(o, "subject", c->subject ? c->subject : "");
  cJSON_AddStringToObject(o, "issuer", c->issuer ? c->issuer : "");
  time_json(o, "notBefore", c->not_before);
  time_json(o, "notAfter", c->not_after);
  cJSON_AddStringToObject(o, "keyType",
                          c->kind == WH_KEY_RSA  ? "RSA"
                          : c->kind == WH_KEY_EC ? "ECDSA"
                                                 : "other");
  cJSON_AddStringToObject(o, "sha256", c->sha256);
  cJSON_AddStringToObject(o, "source", c->origin ? c->origin : "");
  cJSON_AddStringToObject(o, "store", "default");
  cJSON_AddBoolToObject(o, "default", is_default);
  long days = (long)((c->not_after - time(NULL)) / 86400);
  cJSON_AddNumberToObject(o, "daysLeft", (double)days);
  return o;
}

/* Every certificate the snapshot serves, the default one last (never a
 * key: the loaded key stays in memory only). */
static cJSON *certificates_json(const wh_snapshot *snap) {
  cJSON *a = cJSON_CreateArray();
  const wh_cert_store *st = snap && snap->tls ? wh_tls_server_store(snap->tls) : NULL;
  if (!st)
    return a;
  size_t n = wh_cert_store_count(st);
  for (size_t i = 0; i <= n; i++) {
    const wh_cert_group *g = i < n ? wh_cert_store_at(st, i) : wh_cert_store_default(st);
    if (!g)
      continue;
    if (g->rsa)
      cJSON_AddItemToArray(a, cert_json(g->rsa, i == n));
    if (g->ec)
      cJSON_AddItemToArray(a, cert_json(g->ec, i == n));
  }
  return a;
}

static bool match(const char *path, const char *prefix, const char **elem) {
  size_t n = strlen(prefix);
  if (strncmp(path, prefix, n) != 0)
    return false;
  if (path[n] == '\0') {
    *elem = NULL;
    return true;
  }
  if (path[n] != '/' || path[n + 1] == '\0' || strchr(path + n + 1, '/'))
    return false;
  *elem = path + n + 1;
  return true;
}

int wh_api_handle(const wh_snapshot *snap, const char *method, const char *path, const char *query,
                  wh_http_resp *resp) {
  if (!path || strncmp(path, "/api", 4) != 0 || (path[4] != '\0' && path[4] != '/'))
    return WH_ENOENT;
  if (!start_time)
    start_time = time(NULL);
  if (wh_containers_handle(snap, method, path, query, resp) != WH_ENOENT)
    return 0;
  if (strcmp(path, "/api/debug/explain") == 0 &&
      (wh_streq(method, "GET") || wh_streq(method, "HEAD"))) {
    wh_api_explain(snap, query, resp);
    return 0;
  }
  const char *name = NULL;
  bool known = false;
  enum { R_NONE, R_OVERVIEW, R_RAW, R_VERSION, R_CERTS, R_EPS, R_COLL } route = R_NONE;
  wh_kind kind = WH_KIND_HTTP_ROUTER;
  if (strcmp(path, "/api/overview") == 0)
    route = R_OVERVIEW;
  else if (strcmp(path, "/api/rawdata") == 0)
    route = R_RAW;
  else if (strcmp(path, "/api/version") == 0)
    route = R_VERSION;
  else if (strcmp(path, "/api/certificates") == 0)
    route = R_CERTS;
  else if (match(path, "/api/entrypoints", &name))
    route = R_EPS;
  else
    for (size_t i = 0; i < sizeof(collections) / sizeof(collections[0]); i++)
      if (match(path, collections[i].prefix, &name)) {
        route = R_COLL;
        kind = collections[i].kind;
        break;
      }
  known = route != R_NONE;
  if (!known) {
    reply_not_found(resp);
    return 0;
  }
  /* HEAD is answered like GET (the server drops the body). */
  if (!wh_streq(method, "GET") && !wh_streq(method, "HEAD")) {
    resp->status = 405;
    wh_http_resp_header(resp, "Allow", "GET");
    return 0;
  }
  switch (route) {
  case R_OVERVIEW:
    overview(snap, resp);
    break;
  case R_RAW:
    rawdata(snap, resp);
    break;
  case R_VERSION:
    version(snap, resp);
    break;
  case R_CERTS:
    wh_api_reply_json(resp, 200, certificates_json(snap));
    break;
  case R_EPS:
    if (name)
      get_entrypoint(snap, name, resp);
    else
      list_entrypoints(snap, query, resp);
    break;
  case R_COLL:
    if (name)
      get_elem(snap, kind, name, resp);
    else
      list_elems(snap, kind, query, resp);
    break;
  default:
    break;
  }
  return 0;
}

void wh_ping_handle(bool terminating, int terminating_status, wh_http_resp *resp) {
  int status = 200;
  if (terminating)
    status = terminating_status > 0 ? terminating_status : 503;
  wh_http_resp_text(resp, status, wh_http_status_reason(status));
}
