/* wh_route_explain_http: the winner is the data plane's, and every other router of the entry
 * point (and the relevant ones elsewhere) carries the reason it did not get the request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/support/config_fixture.h"

#include "lib/config/load.h"
#include "lib/config/runtime.h"
#include "lib/core/str.h"
#include "lib/router/explain.h"
#include "lib/router/route_table.h"
#include "middleware/registry.h"

static const char *STATIC = "entryPoints:\n"
                            "  web: {address: ':8081'}\n"
                            "  websecure: {address: ':8443'}\n";

static const char *DYNAMIC = "http:\n"
                             "  routers:\n"
                             "    api:\n"
                             "      rule: Host(`a.example`) && PathPrefix(`/api`)\n"
                             "      priority: 30\n"
                             "      entryPoints: [web]\n"
                             "      middlewares: [strip]\n"
                             "      service: svc\n"
                             "    site:\n"
                             "      rule: Host(`a.example`)\n"
                             "      priority: 12\n"
                             "      entryPoints: [web]\n"
                             "      service: svc\n"
                             "    other:\n"
                             "      rule: Host(`b.example`) || Path(`/b`)\n"
                             "      priority: 5\n"
                             "      entryPoints: [web]\n"
                             "      service: svc\n"
                             "    secure:\n"
                             "      rule: Host(`a.example`) && PathPrefix(`/admin`)\n"
                             "      priority: 100\n"
                             "      entryPoints: [web]\n"
                             "      service: svc\n"
                             "      tls: {}\n"
                             "    broken:\n"
                             "      rule: Host(`a.example`) && Pathh(`/x`)\n"
                             "      entryPoints: [web]\n"
                             "      service: svc\n"
                             "    nosvc:\n"
                             "      rule: Host(`a.example`)\n"
                             "      entryPoints: [web]\n"
                             "      service: missing\n"
                             "    elsewhere:\n"
                             "      rule: Host(`a.example`) && PathPrefix(`/api`)\n"
                             "      entryPoints: [websecure]\n"
                             "      service: svc\n"
                             "    unrelated:\n"
                             "      rule: Host(`z.example`)\n"
                             "      entryPoints: [websecure]\n"
                             "      service: svc\n"
                             "  middlewares:\n"
                             "    strip: {stripPrefix: {prefixes: [/api]}}\n"
                             "  services:\n"
                             "    svc: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}]}}\n"
                             "tcp:\n"
                             "  routers:\n"
                             "    catchall:\n"
                             "      rule: HostSNI(`*`)\n"
                             "      entryPoints: [websecure]\n"
                             "      service: tsvc\n"
                             "  services:\n"
                             "    tsvc: {loadBalancer: {servers: [{address: '127.0.0.1:1'}]}}\n";

typedef struct fixture {
  wh_static_config *stat;
  wh_dyn_config *dyn;
  wh_runtime *rt;
  wh_route_table *web;
} fixture;

static int setup(void **state) {
  assert_int_equal(wh_dynamic_register_middleware_types(wh_mw_registry, wh_mw_registry_len), 0);
  fixture *f = calloc(1, sizeof(*f));
  f->stat = stat_from(STATIC);
  f->dyn = dyn_from(DYNAMIC);
  wh_fragment frag = {"file", f->dyn};
  f->rt = wh_runtime_build(f->stat, &frag, 1);
  assert_non_null(f->rt);
  const char *order[] = {"file"};
  f->web = wh_route_table_build(f->rt, "web", false, order, 1);
  assert_non_null(f->web);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  wh_route_table_free(f->web);
  wh_runtime_free(f->rt);
  wh_dyn_config_free(f->dyn);
  wh_static_free(f->stat);
  free(f);
  return 0;
}

static const wh_route_cand *find(const wh_route_explain *e, const char *name) {
  for (size_t i = 0; i < e->ncands; i++)
    if (strcmp(e->cands[i].router->name, name) == 0)
      return &e->cands[i];
  return NULL;
}

static void explain(fixture *f, const char *host, const char *path, bool tls, wh_route_explain *e) {
  wh_http_req_view v = {.method = "GET", .host = host, .path = path};
  assert_int_equal(wh_route_explain_http(f->rt, f->web, &v, tls, e), 0);
  /* the winner is always the data plane's */
  assert_ptr_equal(e->winner, wh_route_match_http(f->web, &v, tls));
}

static void expect(const wh_route_explain *e, const char *name, wh_route_verdict v,
                   const char *reason) {
  const wh_route_cand *c = find(e, name);
  if (!c)
    fail_msg("%s not among the candidates", name);
  if (c->verdict != v)
    fail_msg("%s: verdict %s, expected %s", name, wh_route_verdict_name(c->verdict),
             wh_route_verdict_name(v));
  if (reason && (!c->reason || strcmp(c->reason, reason) != 0))
    fail_msg("%s: reason \"%s\", expected \"%s\"", name, c->reason ? c->reason : "(null)", reason);
}

static void test_winner_and_shadowed(void **state) {
  fixture *f = *state;
  wh_route_explain e;
  explain(f, "a.example", "/api/users", false, &e);
  assert_non_null(e.winner);
  assert_string_equal(e.winner->name, "api@file");
  expect(&e, "api@file", WH_ROUTE_WINS, NULL);
  expect(&e, "site@file", WH_ROUTE_SHADOWED,
         "would match, but priority 12 < 30 of api@file, which matched first");
  expect(&e, "other@file", WH_ROUTE_NO_MATCH,
         "no alternative matched: Host(`b.example`) did not match host a.example; "
         "Path(`/b`) did not match path /api/users");
  expect(&e, "secure@file", WH_ROUTE_TLS_MISMATCH,
         "requires TLS (the router has tls); its rule does not match either: "
         "PathPrefix(`/admin`) did not match path /api/users");
  expect(&e, "broken@file", WH_ROUTE_DISABLED, NULL);
  assert_non_null(strstr(find(&e, "broken@file")->reason, "router disabled: "));
  assert_non_null(strstr(find(&e, "broken@file")->reason, "Pathh"));
  expect(&e, "nosvc@file", WH_ROUTE_DISABLED, NULL);
  assert_non_null(strstr(find(&e, "nosvc@file")->reason, "missing"));
  expect(&e, "elsewhere@file", WH_ROUTE_OTHER_EP,
         "not on entry point web (on websecure only); its rule matches");
  /* a router of another entry point for another host is not relevant */
  assert_null(find(&e, "unrelated@file"));
  /* data plane order: the TLS router (priority 100) comes first, the winner second */
  assert_string_equal(e.cands[0].router->name, "secure@file");
  assert_string_equal(e.cands[1].router->name, "api@file");
  assert_string_equal(e.cands[2].router->name, "site@file");
  assert_string_equal(e.cands[3].router->name, "other@file");
  wh_route_explain_free(&e);
}

static void test_no_match(void **state) {
  fixture *f = *state;
  wh_route_explain e;
  explain(f, "c.example", "/", false, &e);
  assert_null(e.winner);
  assert_null(e.tcp);
  expect(&e, "api@file", WH_ROUTE_NO_MATCH, "Host(`a.example`) did not match host c.example");
  expect(&e, "site@file", WH_ROUTE_NO_MATCH, "Host(`a.example`) did not match host c.example");
  for (size_t i = 0; i < e.ncands; i++)
    assert_int_not_equal(e.cands[i].verdict, WH_ROUTE_WINS);
  wh_route_explain_free(&e);
}

static void test_tls(void **state) {
  fixture *f = *state;
  wh_route_explain e;
  explain(f, "a.example", "/admin", true, &e);
  assert_non_null(e.winner);
  assert_string_equal(e.winner->name, "secure@file");
  expect(&e, "site@file", WH_ROUTE_TLS_MISMATCH,
         "serves plaintext (non-TLS) requests only: neither the router nor the entry point has "
         "tls; its rule matches");
  wh_route_explain_free(&e);
  /* the same request in plaintext: the TLS router is named, the site router serves */
  explain(f, "a.example", "/admin", false, &e);
  assert_string_equal(e.winner->name, "site@file");
  expect(&e, "secure@file", WH_ROUTE_TLS_MISMATCH,
         "requires TLS (the router has tls); its rule matches");
  wh_route_explain_free(&e);
}

static void test_tcp_router_takes_the_connection_first(void **state) {
  fixture *f = *state;
  const char *order[] = {"file"};
  wh_route_table *t = wh_route_table_build(f->rt, "websecure", false, order, 1);
  assert_non_null(t);
  wh_http_req_view v = {.method = "GET", .host = "a.example", .path = "/api"};
  wh_route_explain e;
  assert_int_equal(wh_route_explain_http(f->rt, t, &v, false, &e), 0);
  assert_null(e.winner);
  assert_non_null(e.tcp);
  assert_string_equal(e.tcp->name, "catchall@file");
  expect(&e, "catchall@file", WH_ROUTE_TCP_TAKES, NULL);
  expect(&e, "elsewhere@file", WH_ROUTE_SHADOWED,
         "would match, but TCP router catchall@file takes the connection first");
  wh_route_explain_free(&e);
  wh_route_table_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_winner_and_shadowed),
      cmocka_unit_test(test_no_match),
      cmocka_unit_test(test_tls),
      cmocka_unit_test(test_tcp_router_takes_the_connection_first),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
