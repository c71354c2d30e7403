/* wh_runtime_build: merge, qualification, references, statuses, and the
 * route order that follows from them. */
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
#include "lib/router/route_table.h"
#include "lib/router/snapshot.h"
#include "middleware/registry.h"

static const char *STATIC = "entryPoints:\n"
                            "  web: {address: ':8081'}\n"
                            "  websecure: {address: ':8443', http: {tls: {}}}\n"
                            "  traefik: {address: '127.0.0.1:8082'}\n"
                            "  dns: {address: ':5353/udp'}\n";

typedef struct fixture {
  wh_static_config *stat;
  wh_dyn_config *file, *docker;
  wh_runtime *rt;
} fixture;

static void build(fixture *f, const char *file_yaml, const char *docker_yaml) {
  f->stat = stat_from(STATIC);
  f->file = file_yaml ? dyn_from(file_yaml) : NULL;
  f->docker = docker_yaml ? dyn_from(docker_yaml) : NULL;
  wh_fragment frags[2];
  size_t n = 0;
  if (f->file)
    frags[n++] = (wh_fragment){"file", f->file};
  if (f->docker)
    frags[n++] = (wh_fragment){"docker", f->docker};
  f->rt = wh_runtime_build(f->stat, frags, n);
  assert_non_null(f->rt);
}

static void done(fixture *f) {
  wh_runtime_free(f->rt);
  wh_dyn_config_free(f->file);
  wh_dyn_config_free(f->docker);
  wh_static_free(f->stat);
}

static wh_rt_elem *get(fixture *f, wh_kind k, const char *name) {
  wh_rt_elem *el = wh_runtime_find(f->rt, k, name);
  if (!el)
    fail_msg("%s not found", name);
  return el;
}

static bool has_error(const wh_rt_elem *el, const char *frag) {
  for (size_t i = 0; i < el->errors.n; i++)
    if (strstr(el->errors.items[i], frag))
      return true;
  return false;
}

#define SVC "  services:\n    s: {loadBalancer: {servers: [{url: 'http://127.0.0.1:9'}]}}\n"

static void test_qualified_names_and_refs(void **state) {
  (void)state;
  fixture f = {0};
  build(&f,
        "http:\n  routers:\n    r: {rule: 'Host(`a`)', service: s, middlewares: [m]}\n" SVC
        "  middlewares:\n    m: {headers: {stsSeconds: 5}}\n",
        "http:\n  routers:\n    d: {rule: 'Host(`b`)', service: s@file, middlewares: [m@file]}\n");
  wh_rt_elem *r = get(&f, WH_KIND_HTTP_ROUTER, "r@file");
  assert_int_equal(r->status, WH_STATUS_ENABLED);
  assert_string_equal(r->service_ref, "s@file");
  assert_string_equal(r->middleware_refs.v[0], "m@file");
  wh_rt_elem *d = get(&f, WH_KIND_HTTP_ROUTER, "d@docker");
  assert_int_equal(d->status, WH_STATUS_ENABLED);
  wh_rt_elem *s = get(&f, WH_KIND_HTTP_SERVICE, "s@file");
  assert_int_equal(s->used_by.n, 2);
  wh_rt_elem *m = get(&f, WH_KIND_HTTP_MIDDLEWARE, "m@file");
  assert_string_equal(m->mw_type->name, "headers");
  assert_int_equal(f.rt->providers.n, 2);
  done(&f);
}

static void test_unqualified_refs_take_the_referrers_provider(void **state) {
  (void)state;
  fixture f = {0};
  build(&f, "http:\n" SVC, "http:\n  routers:\n    d: {rule: 'Host(`b`)', service: s}\n");
  wh_rt_elem *d = get(&f, WH_KIND_HTTP_ROUTER, "d@docker");
  assert_int_equal(d->status, WH_STATUS_DISABLED);
  assert_true(has_error(d, "service \"s@docker\" does not exist"));
  done(&f);
}

static void test_broken_router_does_not_take_others_down(void **state) {
  (void)state;
  fixture f = {0};
  build(&f,
        "http:\n  routers:\n"
        "    bad: {rule: 'Host(`a`) &&', service: s}\n"
        "    nomw: {rule: 'Host(`b`)', service: s, middlewares: [ghost]}\n"
        "    nosvc: {rule: 'Host(`c`)'}\n"
        "    good: {rule: 'Host(`d`)', service: s}\n" SVC,
        NULL);
  assert_int_equal(get(&f, WH_KIND_HTTP_ROUTER, "bad@file")->status, WH_STATUS_DISABLED);
  assert_true(has_error(get(&f, WH_KIND_HTTP_ROUTER, "bad@file"), "rule: "));
  assert_true(
      has_error(get(&f, WH_KIND_HTTP_ROUTER, "nomw@file"), "middleware \"ghost@file\" does not"));
  assert_true(has_error(get(&f, WH_KIND_HTTP_ROUTER, "nosvc@file"), "the service is missing"));
  assert_int_equal(get(&f, WH_KIND_HTTP_ROUTER, "good@file")->status, WH_STATUS_ENABLED);
  assert_int_equal(get(&f, WH_KIND_HTTP_SERVICE, "s@file")->status, WH_STATUS_ENABLED);
  size_t total, warn, err;
  wh_runtime_count(f.rt, WH_KIND_HTTP_ROUTER, &total, &warn, &err);
  assert_int_equal(total, 4);
  assert_int_equal(err, 3);
  done(&f);
}

static void test_entrypoints(void **state) {
  (void)state;
  fixture f = {0};
  build(&f,
        "http:\n  routers:\n"
        "    def: {rule: 'Host(`a`)', service: s}\n"
        "    some: {rule: 'Host(`b`)', service: s, entryPoints: [web, nope]}\n"
        "    none: {rule: 'Host(`c`)', service: s, entryPoints: [nope]}\n"
        "    udp: {rule: 'Host(`d`)', service: s, entryPoints: [dns]}\n" SVC,
        NULL);
  wh_rt_elem *def = get(&f, WH_KIND_HTTP_ROUTER, "def@file");
  /* all TCP entry points except "traefik" */
  assert_int_equal(def->using.n, 2);
  assert_true(wh_strlist_contains(&def->using, "web"));
  assert_true(wh_strlist_contains(&def->using, "websecure"));
  assert_true(def->tls == false); /* own tls unset; websecure's http.tls applies per entry point */
  wh_rt_elem *some = get(&f, WH_KIND_HTTP_ROUTER, "some@file");
  assert_int_equal(some->status, WH_STATUS_WARNING);
  assert_true(has_error(some, "entryPoint \"nope\" doesn't exist"));
  assert_int_equal(get(&f, WH_KIND_HTTP_ROUTER, "none@file")->status, WH_STATUS_DISABLED);
  assert_int_equal(get(&f, WH_KIND_HTTP_ROUTER, "udp@file")->status, WH_STATUS_DISABLED);
  done(&f);
}

static void test_priorities_and_order(void **state) {
  (void)state;
  fixture f = {0};
  build(&f,
        "http:\n  routers:\n"
        "    short: {rule: 'Host(`a`)', service: s, entryPoints: [web]}\n"
        "    longer: {rule: 'Host(`a`) && Path(`/x`)', service: s, entryPoints: [web]}\n"
        "    explicit: {rule: 'Host(`a`)', service: s, priority: 100, entryPoints: [web]}\n"
        "    tie: {rule: 'Host(`b`)', service: s, entryPoints: [web]}\n"
        "    huge: {rule: 'Host(`a`)', service: s, priority: 9223372036854775000, entryPoints: "
        "[web]}\n" SVC,
        "http:\n  routers:\n    tie: {rule: 'Host(`b`)', service: s@file, entryPoints: [web]}\n");
  assert_int_equal(get(&f, WH_KIND_HTTP_ROUTER, "short@file")->priority, 9);
  assert_int_equal(get(&f, WH_KIND_HTTP_ROUTER, "explicit@file")->priority, 100);
  assert_int_equal(get(&f, WH_KIND_HTTP_ROUTER, "huge@file")->status, WH_STATUS_DISABLED);
  const char *order[] = {"file", "docker"};
  wh_route_table *t = wh_route_table_build(f.rt, "web", false, order, 2);
  assert_non_null(t);
  assert_int_equal(t->n_http, 5);
  assert_string_equal(t->http[0]->name, "explicit@file");
  assert_string_equal(t->http[1]->name, "longer@file");
  /* equal priority and length: file before docker, then name */
  assert_string_equal(t->http[2]->name, "short@file");
  assert_string_equal(t->http[3]->name, "tie@file");
  assert_string_equal(t->http[4]->name, "tie@docker");
  wh_http_req_view req = {.method = "GET", .host = "A:80", .path = "/x"};
  assert_string_equal(wh_route_match_http(t, &req, false)->name, "explicit@file");
  assert_null(wh_route_match_http(t, &req, true)); /* no TLS router on web */
  req.host = "b";
  assert_string_equal(wh_route_match_http(t, &req, false)->name, "tie@file");
  req.host = "zzz";
  assert_null(wh_route_match_http(t, &req, false));
  wh_route_table_free(t);
  /* on an entry point with http.tls the same routers serve TLS connections only */
  t = wh_route_table_build(f.rt, "web", true, order, 2);
  req.host = "b";
  assert_null(wh_route_match_http(t, &req, false));
  assert_string_equal(wh_route_match_http(t, &req, true)->name, "tie@file");
  wh_route_table_free(t);
  done(&f);
}

static void test_tcp_rules(void **state) {
  (void)state;
  fixture f = {0};
  build(&f,
        "tcp:\n  routers:\n"
        "    sni: {rule: 'HostSNI(`a.example`)', service: t, tls: {passthrough: true}}\n"
        "    notls: {rule: 'HostSNI(`a.example`)', service: t}\n"
        "    catch: {rule: 'HostSNI(`*`)', service: t}\n"
        "  services:\n    t: {loadBalancer: {servers: [{address: '127.0.0.1:5432'}]}}\n",
        NULL);
  assert_int_equal(get(&f, WH_KIND_TCP_ROUTER, "sni@file")->status, WH_STATUS_ENABLED);
  wh_rt_elem *notls = get(&f, WH_KIND_TCP_ROUTER, "notls@file");
  assert_int_equal(notls->status, WH_STATUS_DISABLED);
  assert_true(has_error(notls, "has HostSNI matcher, but no TLS on router"));
  assert_int_equal(get(&f, WH_KIND_TCP_ROUTER, "catch@file")->priority, -1);
  done(&f);
}

static void test_chains_and_tls_options(void **state) {
  (void)state;
  fixture f = {0};
  build(&f,
        "http:\n  routers:\n"
        "    c: {rule: 'Host(`a`)', service: s, middlewares: [loop]}\n"
        "    ok: {rule: 'Host(`b`)', service: s, middlewares: [chain1], tls: {options: strict}}\n"
        "    badtls: {rule: 'Host(`c`)', service: s, tls: {options: nosuch}}\n" SVC
        "  middlewares:\n"
        "    loop: {chain: {middlewares: [loop2]}}\n"
        "    loop2: {chain: {middlewares: [loop]}}\n"
        "    chain1: {chain: {middlewares: [h]}}\n"
        "    h: {headers: {frameDeny: true}}\n"
        "tls:\n  options:\n    strict: {minVersion: VersionTLS13}\n",
        NULL);
  assert_int_equal(get(&f, WH_KIND_HTTP_MIDDLEWARE, "loop@file")->status, WH_STATUS_DISABLED);
  assert_int_equal(get(&f, WH_KIND_HTTP_ROUTER, "c@file")->status, WH_STATUS_DISABLED);
  assert_int_equal(get(&f, WH_KIND_HTTP_ROUTER, "ok@file")->status, WH_STATUS_ENABLED);
  assert_true(get(&f, WH_KIND_HTTP_ROUTER, "ok@file")->tls);
  assert_true(
      has_error(get(&f, WH_KIND_HTTP_ROUTER, "badtls@file"), "unknown TLS options: nosuch@file"));
  assert_non_null(wh_map_get(&f.rt->tls->options, "strict@file"));
  done(&f);
}

static void test_element_decode_errors_disable_the_element(void **state) {
  (void)state;
  fixture f = {0};
  build(&f,
        "http:\n  routers:\n    r: {rule: 'Host(`a`)', service: s, servise: x}\n" SVC
        "    nourl: {loadBalancer: {servers: [{weight: 1}]}}\n",
        NULL);
  wh_rt_elem *r = get(&f, WH_KIND_HTTP_ROUTER, "r@file");
  assert_int_equal(r->status, WH_STATUS_DISABLED);
  assert_true(has_error(r, "did you mean \"service\""));
  wh_rt_elem *nourl = get(&f, WH_KIND_HTTP_SERVICE, "nourl@file");
  assert_true(has_error(nourl, "url is missing"));
  done(&f);
}

/* The host index must give exactly the router a linear scan in winning
 * order would give, whatever mix of host and any-host routers. */
static void test_host_index_matches_linear_order(void **state) {
  (void)state;
  wh_strbuf y = {0};
  wh_strbuf_puts(&y, "http:\n  routers:\n");
  for (int i = 0; i < 500; i++)
    wh_strbuf_printf(&y, "    h%d: {rule: 'Host(`h%d.example`)', service: s, entryPoints: [web]}\n",
                     i, i);
  /* any-host routers above and below the host ones */
  wh_strbuf_puts(&y, "    rx: {rule: 'HostRegexp(`^h1[0-9]\\.example$`)', service: s, priority: "
                     "1000, entryPoints: [web]}\n"
                     "    low: {rule: 'PathPrefix(`/`)', service: s, priority: 1, entryPoints: "
                     "[web]}\n"
                     "    both: {rule: 'Host(`a.example`) || Host(`b.example`)', service: s, "
                     "entryPoints: [web]}\n"
                     "    pathy: {rule: 'Host(`h7.example`) && Path(`/p`)', service: s, "
                     "entryPoints: [web]}\n");
  wh_strbuf_puts(&y, SVC);
  fixture f = {0};
  build(&f, wh_strbuf_cstr(&y), NULL);
  wh_strbuf_free(&y);
  const char *order[] = {"file"};
  wh_route_table *t = wh_route_table_build(f.rt, "web", false, order, 1);
  assert_non_null(t);
  assert_int_equal(t->n_any, 2);
  struct {
    const char *host, *path, *want;
  } cases[] = {
      {"h0.example", "/", "h0@file"},
      {"H499.EXAMPLE.", "/", "h499@file"},
      {"h12.example:8080", "/", "rx@file"}, /* the regexp outranks the host router */
      {"h7.example", "/p", "pathy@file"},   /* the longer rule first */
      {"h7.example", "/q", "h7@file"},
      {"b.example", "/", "both@file"},
      {"nowhere.example", "/", "low@file"},
      {"", "/", "low@file"},
      {NULL, "/", "low@file"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    wh_http_req_view req = {.method = "GET", .host = cases[i].host, .path = cases[i].path};
    const wh_rt_elem *got = wh_route_match_http(t, &req, false);
    assert_non_null(got);
    assert_string_equal(got->name, cases[i].want);
    /* same answer as a linear scan */
    const wh_rt_elem *lin = NULL;
    for (size_t j = 0; j < t->n_http && !lin; j++)
      if (wh_rule_match_http(t->http[j]->rule, &req))
        lin = t->http[j];
    assert_ptr_equal(lin, got);
  }
  wh_route_table_free(t);
  done(&f);
}

static void test_snapshot_refcount(void **state) {
  (void)state;
  fixture f = {0};
  build(&f, "http:\n  routers:\n    r: {rule: 'Host(`a`)', service: s}\n" SVC, NULL);
  wh_snapshot *s = wh_snapshot_new(f.stat, f.rt, 7, NULL, 0);
  f.rt = NULL; /* owned by the snapshot */
  assert_non_null(s);
  assert_int_equal(s->generation, 7);
  assert_int_equal(s->ntables, f.stat->entry_points.n);
  wh_snapshot *r = wh_snapshot_ref(s);
  wh_snapshot_unref(s);
  /* still readable through the second reference */
  assert_non_null(wh_runtime_find(r->rt, WH_KIND_HTTP_ROUTER, "r@file"));
  wh_snapshot_unref(r);
  done(&f);
}

static int setup(void **state) {
  (void)state;
  return wh_dynamic_register_middleware_types(wh_mw_registry, wh_mw_registry_len);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_qualified_names_and_refs),
      cmocka_unit_test(test_unqualified_refs_take_the_referrers_provider),
      cmocka_unit_test(test_broken_router_does_not_take_others_down),
      cmocka_unit_test(test_entrypoints),
      cmocka_unit_test(test_priorities_and_order),
      cmocka_unit_test(test_tcp_rules),
      cmocka_unit_test(test_chains_and_tls_options),
      cmocka_unit_test(test_element_decode_errors_disable_the_element),
      cmocka_unit_test(test_host_index_matches_linear_order),
      cmocka_unit_test(test_snapshot_refcount),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
