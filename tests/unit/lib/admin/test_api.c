/* The admin API as Traefik's clients see it: a runtime is built by hand (no
 * providers, no rules), wrapped in a snapshot, and every endpoint's JSON is
 * checked with cJSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "lib/admin/api.h"
#include "lib/config/dynamic.h"
#include "lib/config/runtime.h"
#include "lib/config/static.h"
#include "lib/core/err.h"

#ifndef WH_VERSION
#define WH_VERSION "dev"
#endif

/* ---- a middleware type for the test (the real registry is not linked) ---- */

typedef struct test_allow {
  wh_strlist source_range;
} test_allow;

static const wh_field test_allow_fields[] = {
    {.name = "sourceRange", .type = WH_F_STRLIST, .offset = offsetof(test_allow, source_range)},
};
static const wh_schema test_allow_schema = {
    .name = "ipAllowList",
    .size = sizeof(test_allow),
    .fields = test_allow_fields,
    .nfields = 1,
};
static const wh_mw_type test_allow_type = {
    .name = "ipAllowList", .proto = WH_MW_HTTP | WH_MW_TCP, .schema = &test_allow_schema};

/* ---- fixture ---- */

static wh_snapshot snap;
static wh_static_config stat;
static wh_metrics metrics;
static wh_prometheus prom;
static wh_accesslog alog;
static wh_providers providers;
static wh_file_provider fileprov;
static wh_docker_provider dockerprov;

static void strlist(wh_strlist *l, const char *csv) {
  char **v;
  size_t n;
  wh_str_split(csv, ',', &v, &n);
  for (size_t i = 0; i < n; i++)
    wh_strlist_push(l, v[i]);
  wh_strv_free(v, n);
}

static wh_rt_elem *add(wh_kind kind, const char *name, const wh_schema *schema, void *cfg,
                       wh_status st) {
  wh_rt_elem *el = calloc(1, sizeof(*el));
  el->name = strdup(name);
  el->provider = strdup(strchr(name, '@') + 1);
  el->kind = kind;
  el->schema = schema;
  el->cfg = cfg;
  el->status = st;
  wh_rt_list *l = &snap.rt->elems[kind];
  l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
  /* keep sorted by name, as wh_runtime_build does */
  size_t i = l->n;
  while (i > 0 && strcmp(l->v[i - 1]->name, name) > 0) {
    l->v[i] = l->v[i - 1];
    i--;
  }
  l->v[i] = el;
  l->n++;
  return el;
}

static wh_rt_elem *http_router(const char *name, const char *rule, const char *service,
                               const char *eps, const char *mws, int64_t prio, wh_status st) {
  wh_http_router *r = wh_schema_new(&wh_schema_http_router);
  r->rule = strdup(rule);
  r->service = strdup(service);
  strlist(&r->entry_points, eps);
  if (mws)
    strlist(&r->middlewares, mws);
  wh_rt_elem *el = add(WH_KIND_HTTP_ROUTER, name, &wh_schema_http_router, r, st);
  el->priority = prio;
  strlist(&el->using, eps);
  return el;
}

static void add_server(wh_lb_service *lb, const char *url) {
  lb->servers.items = realloc(lb->servers.items, (lb->servers.n + 1) * sizeof(wh_server));
  wh_server *s = (wh_server *)lb->servers.items + lb->servers.n;
  memset(s, 0, sizeof(*s));
  s->url = strdup(url);
  lb->servers.n++;
}

static void strmap_put(wh_strmap *m, const char *k, const char *v) {
  m->keys = realloc(m->keys, (m->n + 1) * sizeof(char *));
  m->vals = realloc(m->vals, (m->n + 1) * sizeof(char *));
  m->keys[m->n] = strdup(k);
  m->vals[m->n] = strdup(v);
  m->n++;
}

static void ep(const char *name, const char *address) {
  wh_entrypoint *e = calloc(1, sizeof(*e));
  e->address = strdup(address);
  wh_map_put(&stat.entry_points, name, e, NULL);
}

static int setup(void **state) {
  (void)state;
  const wh_mw_type *types[] = {&test_allow_type};
  assert_int_equal(wh_dynamic_register_middleware_types(types, 1), 0);
  memset(&snap, 0, sizeof(snap));
  memset(&stat, 0, sizeof(stat));
  snap.rt = calloc(1, sizeof(wh_runtime));
  snap.stat = &stat;
  snap.generation = 1;

  ep("web", ":80");
  ep("websecure", ":443");
  ep("traefik", ":8080");
  stat.metrics = &metrics;
  metrics.prometheus = &prom;
  stat.access_log = &alog;
  stat.providers = &providers;
  providers.file = &fileprov;
  providers.docker = &dockerprov;

  wh_rt_elem *el;
  el = http_router("api@docker", "Host(`api.example.com`)", "api-svc", "web", "auth", 24,
                   WH_STATUS_ENABLED);
  /* tls set with no options: the API shows options "default" */
  {
    wh_http_router *r = el->cfg;
    r->tls = calloc(1, sizeof(wh_router_tls));
  }
  wh_strlist_push(&el->middleware_refs, "auth@docker");
  http_router("blog@file", "Host(`blog.example.com`) && PathPrefix(`/b`)", "blog@file",
              "web,websecure", NULL, 100, WH_STATUS_ENABLED);
  el = http_router("broken@docker", "Host(`x`)", "missing", "web", NULL, 9, WH_STATUS_DISABLED);
  wh_errlist_add(&el->errors, "the service \"missing@docker\" does not exist");
  el = http_router("web@docker", "PathPrefix(`/`)", "api-svc", "web", "auth,gone", 1,
                   WH_STATUS_WARNING);
  wh_strlist_push(&el->middleware_refs, "auth@docker");
  wh_strlist_push(&el->middleware_refs, "gone@docker");

  wh_http_service *svc = wh_schema_new(&wh_schema_http_service);
  svc->load_balancer = calloc(1, sizeof(wh_lb_service));
  svc->load_balancer->pass_host_header = true;
  add_server(svc->load_balancer, "http://10.0.0.1:80");
  add_server(svc->load_balancer, "http://10.0.0.2:80");
  el = add(WH_KIND_HTTP_SERVICE, "api-svc@docker", &wh_schema_http_service, svc, WH_STATUS_ENABLED);
  strlist(&el->used_by, "api@docker,web@docker");
  strmap_put(&el->server_status, "http://10.0.0.1:80", "UP");
  strmap_put(&el->server_status, "http://10.0.0.2:80", "DOWN");

  svc = wh_schema_new(&wh_schema_http_service);
  svc->weighted = calloc(1, sizeof(wh_weighted_service));
  el = add(WH_KIND_HTTP_SERVICE, "blog@file", &wh_schema_http_service, svc, WH_STATUS_ENABLED);
  strlist(&el->used_by, "blog@file");

  wh_middleware *mw = wh_schema_new(&wh_schema_http_middleware);
  test_allow *ta = wh_schema_new(&test_allow_schema);
  strlist(&ta->source_range, "10.0.0.0/8");
  mw->cfg[0] = ta;
  el = add(WH_KIND_HTTP_MIDDLEWARE, "auth@docker", &wh_schema_http_middleware, mw,
           WH_STATUS_ENABLED);
  el->mw_type = &test_allow_type;
  el->mw_cfg = ta;
  strlist(&el->used_by, "api@docker,web@docker");

  wh_tcp_router *tr = wh_schema_new(&wh_schema_tcp_router);
  tr->rule = strdup("HostSNI(`*`)");
  tr->service = strdup("db");
  strlist(&tr->entry_points, "websecure");
  el = add(WH_KIND_TCP_ROUTER, "db@docker", &wh_schema_tcp_router, tr, WH_STATUS_ENABLED);
  el->priority = 12;
  strlist(&el->using, "websecure");
  wh_tcp_service *ts = wh_schema_new(&wh_schema_tcp_service);
  ts->load_balancer = calloc(1, sizeof(wh_tcp_lb_service));
  ts->load_balancer->servers.items = calloc(1, sizeof(wh_tcp_server));
  ((wh_tcp_server *)ts->load_balancer->servers.items)->address = strdup("10.0.0.5:5432");
  ts->load_balancer->servers.n = 1;
  el = add(WH_KIND_TCP_SERVICE, "db@docker", &wh_schema_tcp_service, ts, WH_STATUS_ENABLED);
  strlist(&el->used_by, "db@docker");

  wh_udp_router *ur = wh_schema_new(&wh_schema_udp_router);
  ur->service = strdup("dns");
  strlist(&ur->entry_points, "dns");
  el = add(WH_KIND_UDP_ROUTER, "dns@file", &wh_schema_udp_router, ur, WH_STATUS_ENABLED);
  strlist(&el->using, "dns");
  wh_udp_service *us = wh_schema_new(&wh_schema_udp_service);
  us->load_balancer = calloc(1, sizeof(wh_udp_lb_service));
  el = add(WH_KIND_UDP_SERVICE, "dns@file", &wh_schema_udp_service, us, WH_STATUS_ENABLED);
  strlist(&el->used_by, "dns@file");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  wh_runtime_free(snap.rt);
  for (size_t i = 0; i < stat.entry_points.n; i++) {
    wh_entrypoint *e = stat.entry_points.vals[i];
    free(e->address);
    free(e);
    free(stat.entry_points.keys[i]);
  }
  free(stat.entry_points.keys);
  free(stat.entry_points.vals);
  return 0;
}

/* ---- helpers ---- */

typedef struct result {
  int rc;
  int status;
  cJSON *json;
  wh_http_resp resp;
} result;

static result *call_m(const wh_snapshot *s, const char *method, const char *path,
                      const char *query) {
  result *r = calloc(1, sizeof(*r));
  wh_http_resp_init(&r->resp);
  r->rc = wh_api_handle(s, method, path, query, &r->resp);
  r->status = r->resp.status ? r->resp.status : 200;
  if (r->resp.body.len)
    r->json = cJSON_Parse(r->resp.body.data);
  return r;
}

static result *call(const char *path, const char *query) {
  return call_m(&snap, "GET", path, query);
}

static void done(result *r) {
  cJSON_Delete(r->json);
  wh_http_resp_free(&r->resp);
  free(r);
}

static const char *str(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *name_at(const result *r, int i) {
  return str(cJSON_GetArrayItem(r->json, i), "name");
}

static const char *hdr(const result *r, const char *name) {
  return wh_http_resp_get_header(&r->resp, name);
}

static void assert_names(const result *r, const char *csv) {
  char **v;
  size_t n;
  wh_str_split(csv, ',', &v, &n);
  assert_true(cJSON_IsArray(r->json));
  assert_int_equal(cJSON_GetArraySize(r->json), (int)n);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(name_at(r, (int)i), v[i]);
  wh_strv_free(v, n);
}

static void assert_message(const result *r, int status, const char *msg) {
  assert_int_equal(r->status, status);
  assert_non_null(r->json);
  assert_string_equal(str(r->json, "message"), msg);
}

/* ---- routers ---- */

static void test_routers_list_sorted_by_name(void **state) {
  (void)state;
  result *r = call("/api/http/routers", NULL);
  assert_int_equal(r->rc, 0);
  assert_int_equal(r->status, 200);
  assert_string_equal(hdr(r, "Content-Type"), "application/json");
  assert_string_equal(hdr(r, "X-Next-Page"), "1");
  assert_names(r, "api@docker,blog@file,broken@docker,web@docker");
  assert_int_equal(r->resp.body.data[r->resp.body.len - 1], '\n');
  done(r);
}

static void test_router_object_fields(void **state) {
  (void)state;
  result *r = call("/api/http/routers/api@docker", NULL);
  assert_int_equal(r->status, 200);
  const cJSON *o = r->json;
  assert_string_equal(str(o, "name"), "api@docker");
  assert_string_equal(str(o, "provider"), "docker");
  assert_string_equal(str(o, "status"), "enabled");
  assert_string_equal(str(o, "rule"), "Host(`api.example.com`)");
  assert_string_equal(str(o, "service"), "api-svc");
  assert_int_equal(cJSON_GetObjectItem(o, "priority")->valuedouble, 24);
  assert_string_equal(str(o, "priorityStr"), "24");
  const cJSON *eps = cJSON_GetObjectItem(o, "entryPoints");
  assert_int_equal(cJSON_GetArraySize(eps), 1);
  assert_string_equal(cJSON_GetArrayItem(eps, 0)->valuestring, "web");
  assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "using"), 0)->valuestring, "web");
  assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "middlewares"), 0)->valuestring,
                      "auth");
  assert_null(cJSON_GetObjectItem(o, "error"));
  assert_null(cJSON_GetObjectItem(o, "usedBy"));
  done(r);
}

static void test_router_tls_default_options(void **state) {
  (void)state;
  result *r = call("/api/http/routers/api@docker", NULL);
  const cJSON *tls = cJSON_GetObjectItem(r->json, "tls");
  assert_non_null(tls);
  assert_string_equal(str(tls, "options"), "default");
  done(r);
  r = call("/api/http/routers/blog@file", NULL);
  assert_null(cJSON_GetObjectItem(r->json, "tls"));
  done(r);
}

static void test_router_error_array(void **state) {
  (void)state;
  result *r = call("/api/http/routers/broken@docker", NULL);
  assert_string_equal(str(r->json, "status"), "disabled");
  const cJSON *err = cJSON_GetObjectItem(r->json, "error");
  assert_true(cJSON_IsArray(err));
  assert_int_equal(cJSON_GetArraySize(err), 1);
  assert_string_equal(cJSON_GetArrayItem(err, 0)->valuestring,
                      "the service \"missing@docker\" does not exist");
  done(r);
}

static void test_router_name_url_escaped(void **state) {
  (void)state;
  result *r = call("/api/http/routers/blog%40file", NULL);
  assert_int_equal(r->status, 200);
  assert_string_equal(str(r->json, "name"), "blog@file");
  assert_int_equal(cJSON_GetObjectItem(r->json, "priority")->valuedouble, 100);
  done(r);
}

static void test_router_not_found(void **state) {
  (void)state;
  result *r = call("/api/http/routers/nope%40docker", NULL);
  assert_int_equal(r->rc, 0);
  assert_message(r, 404, "router not found: nope@docker");
  assert_string_equal(hdr(r, "X-Content-Type-Options"), "nosniff");
  done(r);
}

static void test_bad_escape_is_400(void **state) {
  (void)state;
  result *r = call("/api/http/routers/bad%zz", NULL);
  assert_int_equal(r->status, 400);
  assert_non_null(strstr(str(r->json, "message"), "unable to decode"));
  done(r);
}

static void test_search_name_and_rule(void **state) {
  (void)state;
  result *r = call("/api/http/routers", "search=BLOG");
  assert_names(r, "blog@file");
  done(r);
  r = call("/api/http/routers", "search=example.com");
  assert_names(r, "api@docker,blog@file");
  done(r);
  r = call("/api/http/routers", "search=nothing-matches");
  assert_names(r, "");
  assert_string_equal(r->resp.body.data, "[]\n");
  done(r);
}

static void test_status_filter(void **state) {
  (void)state;
  result *r = call("/api/http/routers", "status=disabled");
  assert_names(r, "broken@docker");
  done(r);
  r = call("/api/http/routers", "status=Warning");
  assert_names(r, "web@docker");
  done(r);
  r = call("/api/http/routers", "status=enabled&search=api");
  assert_names(r, "api@docker");
  done(r);
}

static void test_service_name_filter(void **state) {
  (void)state;
  result *r = call("/api/http/routers", "serviceName=api-svc%40docker");
  assert_names(r, "api@docker,web@docker");
  done(r);
  r = call("/api/http/routers", "serviceName=blog@file");
  assert_names(r, "blog@file");
  done(r);
  r = call("/api/http/routers", "serviceName=blog@docker");
  assert_names(r, "");
  done(r);
}

static void test_middleware_name_filter(void **state) {
  (void)state;
  result *r = call("/api/http/routers", "middlewareName=auth");
  assert_names(r, "api@docker,web@docker");
  done(r);
  r = call("/api/http/routers", "middlewareName=gone@docker");
  assert_names(r, "web@docker");
  done(r);
}

static void test_sort_by_priority(void **state) {
  (void)state;
  result *r = call("/api/http/routers", "sortBy=priority");
  assert_names(r, "web@docker,broken@docker,api@docker,blog@file");
  done(r);
  r = call("/api/http/routers", "sortBy=priority&direction=desc");
  assert_names(r, "blog@file,api@docker,broken@docker,web@docker");
  done(r);
}

static void test_sort_direction_desc(void **state) {
  (void)state;
  result *r = call("/api/http/routers", "direction=desc");
  assert_names(r, "web@docker,broken@docker,blog@file,api@docker");
  done(r);
}

static void test_sort_by_rule_and_service(void **state) {
  (void)state;
  result *r = call("/api/http/routers", "sortBy=rule");
  assert_names(r, "api@docker,blog@file,broken@docker,web@docker");
  done(r);
  /* ties (api-svc) broken by name */
  r = call("/api/http/routers", "sortBy=service");
  assert_names(r, "api@docker,web@docker,blog@file,broken@docker");
  done(r);
}

static void test_pagination_and_next_page(void **state) {
  (void)state;
  result *r = call("/api/http/routers", "per_page=3");
  assert_names(r, "api@docker,blog@file,broken@docker");
  assert_string_equal(hdr(r, "X-Next-Page"), "2");
  done(r);
  r = call("/api/http/routers", "per_page=3&page=2");
  assert_names(r, "web@docker");
  assert_string_equal(hdr(r, "X-Next-Page"), "1");
  done(r);
  r = call("/api/http/routers", "per_page=2&page=2");
  assert_names(r, "broken@docker,web@docker");
  assert_string_equal(hdr(r, "X-Next-Page"), "1");
  done(r);
}

static void test_page_beyond_end_400(void **state) {
  (void)state;
  result *r = call("/api/http/routers", "per_page=2&page=3");
  assert_message(r, 400, "invalid request: page: 3, per_page: 2");
  assert_null(hdr(r, "X-Next-Page"));
  done(r);
}

static void test_bad_page_params_400(void **state) {
  (void)state;
  result *r = call("/api/http/routers", "per_page=0");
  assert_message(r, 400, "invalid request: per_page: 0");
  done(r);
  r = call("/api/http/routers", "page=abc");
  assert_message(r, 400, "invalid request: page: 0");
  done(r);
  r = call("/api/http/routers", "page=-2");
  assert_message(r, 400, "invalid request: page: -2");
  done(r);
}

static void test_empty_list_first_page_ok(void **state) {
  (void)state;
  /* page 1 of nothing is an empty list, not an error (start index 0) */
  result *r = call("/api/http/routers", "status=disabled&search=zzz");
  assert_int_equal(r->status, 200);
  assert_names(r, "");
  assert_string_equal(hdr(r, "X-Next-Page"), "1");
  done(r);
}

/* ---- services ---- */

static void test_services_list(void **state) {
  (void)state;
  result *r = call("/api/http/services", NULL);
  assert_names(r, "api-svc@docker,blog@file");
  assert_string_equal(str(cJSON_GetArrayItem(r->json, 0), "type"), "loadbalancer");
  assert_string_equal(str(cJSON_GetArrayItem(r->json, 1), "type"), "weighted");
  done(r);
}

static void test_service_object(void **state) {
  (void)state;
  result *r = call("/api/http/services/api-svc@docker", NULL);
  const cJSON *o = r->json;
  assert_string_equal(str(o, "provider"), "docker");
  const cJSON *lb = cJSON_GetObjectItem(o, "loadBalancer");
  assert_non_null(lb);
  const cJSON *servers = cJSON_GetObjectItem(lb, "servers");
  assert_int_equal(cJSON_GetArraySize(servers), 2);
  assert_string_equal(str(cJSON_GetArrayItem(servers, 0), "url"), "http://10.0.0.1:80");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(lb, "passHostHeader")));
  const cJSON *used = cJSON_GetObjectItem(o, "usedBy");
  assert_int_equal(cJSON_GetArraySize(used), 2);
  assert_string_equal(cJSON_GetArrayItem(used, 1)->valuestring, "web@docker");
  assert_null(cJSON_GetObjectItem(o, "using"));
  done(r);
}

static void test_service_server_status(void **state) {
  (void)state;
  result *r = call("/api/http/services/api-svc@docker", NULL);
  const cJSON *ss = cJSON_GetObjectItem(r->json, "serverStatus");
  assert_non_null(ss);
  assert_string_equal(str(ss, "http://10.0.0.1:80"), "UP");
  assert_string_equal(str(ss, "http://10.0.0.2:80"), "DOWN");
  done(r);
  r = call("/api/http/services/blog@file", NULL);
  assert_null(cJSON_GetObjectItem(r->json, "serverStatus")); /* omitted when empty */
  done(r);
}

static void test_service_not_found_and_sort(void **state) {
  (void)state;
  result *r = call("/api/http/services/x", NULL);
  assert_message(r, 404, "service not found: x");
  done(r);
  r = call("/api/http/services", "sortBy=type&direction=desc");
  assert_names(r, "blog@file,api-svc@docker");
  done(r);
  r = call("/api/http/services", "sortBy=servers&direction=desc");
  assert_names(r, "api-svc@docker,blog@file");
  done(r);
  /* services search names only */
  r = call("/api/http/services", "search=API");
  assert_names(r, "api-svc@docker");
  done(r);
}

/* ---- middlewares ---- */

static void test_middlewares(void **state) {
  (void)state;
  result *r = call("/api/http/middlewares", NULL);
  assert_names(r, "auth@docker");
  const cJSON *o = cJSON_GetArrayItem(r->json, 0);
  assert_string_equal(str(o, "type"), "ipallowlist");
  assert_string_equal(str(o, "status"), "enabled");
  const cJSON *cfg = cJSON_GetObjectItem(o, "ipAllowList");
  assert_non_null(cfg);
  assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(cfg, "sourceRange"), 0)->valuestring,
                      "10.0.0.0/8");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "usedBy")), 2);
  done(r);
  r = call("/api/http/middlewares/gone@docker", NULL);
  assert_message(r, 404, "middleware not found: gone@docker");
  done(r);
}

/* ---- tcp / udp ---- */

static void test_tcp(void **state) {
  (void)state;
  result *r = call("/api/tcp/routers", NULL);
  assert_names(r, "db@docker");
  const cJSON *o = cJSON_GetArrayItem(r->json, 0);
  assert_string_equal(str(o, "rule"), "HostSNI(`*`)");
  assert_int_equal(cJSON_GetObjectItem(o, "priority")->valuedouble, 12);
  done(r);
  r = call("/api/tcp/services/db@docker", NULL);
  assert_string_equal(str(r->json, "type"), "loadbalancer");
  const cJSON *servers =
      cJSON_GetObjectItem(cJSON_GetObjectItem(r->json, "loadBalancer"), "servers");
  assert_string_equal(str(cJSON_GetArrayItem(servers, 0), "address"), "10.0.0.5:5432");
  done(r);
  r = call("/api/tcp/middlewares", NULL);
  assert_names(r, "");
  done(r);
  r = call("/api/tcp/routers/web@docker", NULL);
  assert_message(r, 404, "router not found: web@docker");
  done(r);
}

static void test_udp(void **state) {
  (void)state;
  result *r = call("/api/udp/routers", NULL);
  assert_names(r, "dns@file");
  const cJSON *o = cJSON_GetArrayItem(r->json, 0);
  assert_string_equal(str(o, "service"), "dns");
  assert_null(cJSON_GetObjectItem(o, "priority"));
  done(r);
  r = call("/api/udp/services/dns%40file", NULL);
  assert_string_equal(str(r->json, "type"), "loadbalancer");
  assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(r->json, "usedBy"), 0)->valuestring,
                      "dns@file");
  done(r);
  r = call("/api/udp/middlewares", NULL); /* there is no such collection */
  assert_int_equal(r->status, 404);
  done(r);
}

/* ---- overview, rawdata, version, certificates, entry points ---- */

static void test_overview(void **state) {
  (void)state;
  result *r = call("/api/overview", NULL);
  const cJSON *routers = cJSON_GetObjectItem(cJSON_GetObjectItem(r->json, "http"), "routers");
  assert_int_equal(cJSON_GetObjectItem(routers, "total")->valueint, 4);
  assert_int_equal(cJSON_GetObjectItem(routers, "warnings")->valueint, 1);
  assert_int_equal(cJSON_GetObjectItem(routers, "errors")->valueint, 1);
  const cJSON *tcp = cJSON_GetObjectItem(r->json, "tcp");
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(tcp, "services"), "total")->valueint, 1);
  assert_non_null(cJSON_GetObjectItem(tcp, "middlewares"));
  const cJSON *udp = cJSON_GetObjectItem(r->json, "udp");
  assert_null(cJSON_GetObjectItem(udp, "middlewares"));
  const cJSON *f = cJSON_GetObjectItem(r->json, "features");
  assert_string_equal(str(f, "tracing"), "");
  assert_string_equal(str(f, "metrics"), "Prometheus");
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(f, "accessLog")));
  const cJSON *p = cJSON_GetObjectItem(r->json, "providers");
  assert_int_equal(cJSON_GetArraySize(p), 2);
  assert_string_equal(cJSON_GetArrayItem(p, 0)->valuestring, "Docker");
  assert_string_equal(cJSON_GetArrayItem(p, 1)->valuestring, "File");
  done(r);
}

static void test_rawdata(void **state) {
  (void)state;
  result *r = call("/api/rawdata", NULL);
  const cJSON *routers = cJSON_GetObjectItem(r->json, "routers");
  assert_int_equal(cJSON_GetArraySize(routers), 4);
  const cJSON *api = cJSON_GetObjectItem(routers, "api@docker");
  assert_non_null(api);
  assert_null(cJSON_GetObjectItem(api, "name")); /* runtime info, not representation */
  assert_string_equal(str(api, "status"), "enabled");
  const cJSON *svc =
      cJSON_GetObjectItem(cJSON_GetObjectItem(r->json, "services"), "api-svc@docker");
  assert_non_null(cJSON_GetObjectItem(svc, "serverStatus"));
  assert_non_null(cJSON_GetObjectItem(r->json, "middlewares"));
  assert_non_null(cJSON_GetObjectItem(r->json, "tcpRouters"));
  assert_non_null(cJSON_GetObjectItem(r->json, "udpServices"));
  assert_null(cJSON_GetObjectItem(r->json, "tcpMiddlewares")); /* omitted when empty */
  done(r);
}

static void test_version(void **state) {
  (void)state;
  wh_api_set_start_time(1700000000);
  result *r = call("/api/version", NULL);
  assert_string_equal(str(r->json, "Version"), WH_VERSION);
  assert_string_equal(str(r->json, "Codename"), "wharf");
  assert_string_equal(str(r->json, "startDate"), "2023-11-14T22:13:20Z");
  done(r);
}

static void test_certificates_empty(void **state) {
  (void)state;
  result *r = call("/api/certificates", NULL);
  assert_int_equal(r->status, 200);
  assert_string_equal(r->resp.body.data, "[]\n");
  done(r);
}

static void test_entrypoints(void **state) {
  (void)state;
  result *r = call("/api/entrypoints", NULL);
  assert_names(r, "traefik,web,websecure");
  assert_string_equal(str(cJSON_GetArrayItem(r->json, 1), "address"), ":80");
  assert_string_equal(hdr(r, "X-Next-Page"), "1");
  done(r);
  r = call("/api/entrypoints/websecure", NULL);
  assert_string_equal(str(r->json, "name"), "websecure");
  assert_string_equal(str(r->json, "address"), ":443");
  done(r);
  r = call("/api/entrypoints/nope", NULL);
  assert_message(r, 404, "entry point not found: nope");
  done(r);
  r = call("/api/entrypoints", "per_page=1&page=2");
  assert_names(r, "web");
  assert_string_equal(hdr(r, "X-Next-Page"), "3");
  done(r);
}

/* ---- routing of the API itself ---- */

static void test_method_not_allowed(void **state) {
  (void)state;
  result *r = call_m(&snap, "POST", "/api/http/routers", NULL);
  assert_int_equal(r->rc, 0);
  assert_int_equal(r->status, 405);
  done(r);
  r = call_m(&snap, "DELETE", "/api/http/routers/api@docker", NULL);
  assert_int_equal(r->status, 405);
  done(r);
  r = call_m(&snap, "HEAD", "/api/overview", NULL);
  assert_int_equal(r->status, 200);
  done(r);
}

static void test_unknown_api_path_404(void **state) {
  (void)state;
  result *r = call("/api/nothing", NULL);
  assert_int_equal(r->rc, 0);
  assert_int_equal(r->status, 404);
  assert_string_equal(r->resp.body.data, "404 page not found\n");
  done(r);
  r = call("/api/http/routers/a/b", NULL);
  assert_int_equal(r->status, 404);
  done(r);
  r = call("/api", NULL);
  assert_int_equal(r->rc, 0);
  assert_int_equal(r->status, 404);
  done(r);
}

static void test_not_an_api_path(void **state) {
  (void)state;
  const char *paths[] = {"/apix", "/dashboard/", "/", "/ping", "/API/overview"};
  for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
    wh_http_resp resp;
    wh_http_resp_init(&resp);
    assert_int_equal(wh_api_handle(&snap, "GET", paths[i], NULL, &resp), WH_ENOENT);
    assert_int_equal(resp.status, 0);
    assert_int_equal(resp.body.len, 0);
    wh_http_resp_free(&resp);
  }
}

static void test_no_snapshot_yet(void **state) {
  (void)state;
  result *r = call_m(NULL, "GET", "/api/http/routers", NULL);
  assert_int_equal(r->status, 200);
  assert_names(r, "");
  done(r);
  r = call_m(NULL, "GET", "/api/http/routers/x@y", NULL);
  assert_message(r, 404, "router not found: x@y");
  done(r);
  r = call_m(NULL, "GET", "/api/overview", NULL);
  assert_int_equal(
      cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r->json, "http"), "routers"),
                          "total")
          ->valueint,
      0);
  done(r);
}

static void test_ping(void **state) {
  (void)state;
  wh_http_resp resp;
  wh_http_resp_init(&resp);
  wh_ping_handle(false, 503, &resp);
  assert_int_equal(resp.status, 200);
  assert_string_equal(resp.body.data, "OK");
  wh_http_resp_free(&resp);
  wh_ping_handle(true, 503, &resp);
  assert_int_equal(resp.status, 503);
  assert_string_equal(resp.body.data, "Service Unavailable");
  wh_http_resp_free(&resp);
  wh_ping_handle(true, 0, &resp);
  assert_int_equal(resp.status, 503);
  wh_http_resp_free(&resp);
  wh_ping_handle(true, 204, &resp);
  assert_int_equal(resp.status, 204);
  wh_http_resp_free(&resp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_routers_list_sorted_by_name),
      cmocka_unit_test(test_router_object_fields),
      cmocka_unit_test(test_router_tls_default_options),
      cmocka_unit_test(test_router_error_array),
      cmocka_unit_test(test_router_name_url_escaped),
      cmocka_unit_test(test_router_not_found),
      cmocka_unit_test(test_bad_escape_is_400),
      cmocka_unit_test(test_search_name_and_rule),
      cmocka_unit_test(test_status_filter),
      cmocka_unit_test(test_service_name_filter),
      cmocka_unit_test(test_middleware_name_filter),
      cmocka_unit_test(test_sort_by_priority),
      cmocka_unit_test(test_sort_direction_desc),
      cmocka_unit_test(test_sort_by_rule_and_service),
      cmocka_unit_test(test_pagination_and_next_page),
      cmocka_unit_test(test_page_beyond_end_400),
      cmocka_unit_test(test_bad_page_params_400),
      cmocka_unit_test(test_empty_list_first_page_ok),
      cmocka_unit_test(test_services_list),
      cmocka_unit_test(test_service_object),
      cmocka_unit_test(test_service_server_status),
      cmocka_unit_test(test_service_not_found_and_sort),
      cmocka_unit_test(test_middlewares),
      cmocka_unit_test(test_tcp),
      cmocka_unit_test(test_udp),
      cmocka_unit_test(test_overview),
      cmocka_unit_test(test_rawdata),
      cmocka_unit_test(test_version),
      cmocka_unit_test(test_certificates_empty),
      cmocka_unit_test(test_entrypoints),
      cmocka_unit_test(test_method_not_allowed),
      cmocka_unit_test(test_unknown_api_path_404),
      cmocka_unit_test(test_not_an_api_path),
      cmocka_unit_test(test_no_snapshot_yet),
      cmocka_unit_test(test_ping),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
