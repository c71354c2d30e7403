/* lib/acme/domains.c: the domain sets routers want from each resolver,
 * collected from a runtime built from real configuration text. */
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

#include "lib/acme/domains.h"
#include "lib/config/load.h"
#include "lib/config/runtime.h"
#include "lib/core/err.h"
#include "middleware/registry.h"

static const char *STATIC =
    "entryPoints:\n"
    "  web: {address: ':8081'}\n"
    "  websecure: {address: ':8443'}\n"
    "  tlsep: {address: ':8444', http: {tls: {certResolver: dns}}}\n"
    "certificatesResolvers:\n"
    "  le: {acme: {email: a@example.com, storage: /tmp/none.json, httpChallenge: {entryPoint: "
    "web}}}\n"
    "  dns: {acme: {storage: /tmp/none.json, dnsChallenge: {provider: exec}}}\n";

static const char *DYNAMIC =
    "http:\n"
    "  routers:\n"
    "    a: {rule: 'Host(`A.Example.com.`)', service: s, entryPoints: [websecure], tls: "
    "{certResolver: le}}\n"
    "    b: {rule: 'Host(`b.example.com`) || (Host(`c.example.com`) && Path(`/x`))', service: s, "
    "entryPoints: [websecure], tls: {certResolver: le}}\n"
    "    bad: {rule: 'Host(`k.example.com`)', service: s, entryPoints: [websecure], tls: "
    "{certResolver: dns, domains: [{main: '*.*.example.com'}]}}\n"
    "    c: {rule: 'Host(`ignored.example.com`)', service: s, entryPoints: [websecure], tls: "
    "{certResolver: le, domains: [{main: d.example.com, sans: [e.example.com, D.example.com]}, "
    "{main: f.example.com}]}}\n"
    "    d: {rule: 'Host(`x.example.com`)', service: s, entryPoints: [websecure], tls: "
    "{certResolver: nope}}\n"
    "    e: {rule: 'Host(`y.example.com`)', service: s, entryPoints: [websecure], tls: "
    "{certResolver: le, domains: [{main: '*.w.example.com'}]}}\n"
    "    f: {rule: 'Host(`z.example.com`)', service: s, entryPoints: [websecure], tls: {}}\n"
    "    g: {rule: 'Host(`ep.example.com`)', service: s, entryPoints: [tlsep]}\n"
    "    h: {rule: 'Host(`a.example.com`)', service: s, entryPoints: [web], tls: {certResolver: "
    "le}}\n"
    "    w: {rule: 'Host(`q.example.com`)', service: s, entryPoints: [websecure], tls: "
    "{certResolver: dns, domains: [{main: '*.dns.example.com', sans: [dns.example.com]}]}}\n"
    "  services:\n"
    "    s: {loadBalancer: {servers: [{url: 'http://127.0.0.1:9'}]}}\n"
    "tcp:\n"
    "  routers:\n"
    "    all: {rule: 'HostSNI(`*`)', service: ts, entryPoints: [websecure], tls: {certResolver: "
    "le}}\n"
    "    t: {rule: 'HostSNI(`t.example.com`)', service: ts, entryPoints: [websecure], tls: "
    "{certResolver: le}}\n"
    "  services:\n"
    "    ts: {loadBalancer: {servers: [{address: '127.0.0.1:9'}]}}\n";

static void check_want(const wh_acme_want *w, const char *resolver, const char *router,
                       const char *const *names, size_t n) {
  assert_string_equal(w->resolver, resolver);
  assert_string_equal(w->router, router);
  assert_int_equal(w->n, n);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(w->names[i], names[i]);
}

static bool has_error(const wh_errlist *e, const char *needle) {
  for (size_t i = 0; i < e->n; i++)
    if (strstr(e->items[i], needle))
      return true;
  return false;
}

static void test_collect(void **state) {
  (void)state;
  wh_static_config *stat = stat_from(STATIC);
  wh_dyn_config *dyn = dyn_from(DYNAMIC);
  wh_fragment frag = {"file", dyn};
  wh_runtime *rt = wh_runtime_build(stat, &frag, 1);
  assert_non_null(rt);
  wh_acme_wants w = {0};
  wh_errlist errs;
  wh_errlist_init(&errs);
  assert_int_equal(wh_acme_domains_collect(stat, rt, &w, &errs), 0);
  for (size_t i = 0; i < errs.n; i++)
    fprintf(stderr, "collect: %s\n", errs.items[i]);

  assert_int_equal(w.n, 7);
  /* Host: lowercased, trailing dot dropped */
  check_want(&w.v[0], "le", "a@file", (const char *[]){"a.example.com"}, 1);
  /* every Host of the rule, the first one the main domain */
  check_want(&w.v[1], "le", "b@file", (const char *[]){"b.example.com", "c.example.com"}, 2);
  /* tls.domains win over the rule, one set per entry, duplicates once */
  check_want(&w.v[2], "le", "c@file", (const char *[]){"d.example.com", "e.example.com"}, 2);
  check_want(&w.v[3], "le", "c@file", (const char *[]){"f.example.com"}, 1);
  /* the entry point's http.tls.certResolver for a router without tls */
  check_want(&w.v[4], "dns", "g@file", (const char *[]){"ep.example.com"}, 1);
  /* h wants what a already wants: kept once. A wildcard through DNS-01. */
  check_want(&w.v[5], "dns", "w@file", (const char *[]){"*.dns.example.com", "dns.example.com"}, 2);
  /* TCP: HostSNI; HostSNI(`*`) names nothing */
  check_want(&w.v[6], "le", "t@file", (const char *[]){"t.example.com"}, 1);

  assert_int_equal(errs.n, 3);
  assert_true(has_error(&errs, "router \"d@file\" uses a non-existent certificate resolver "
                               "\"nope\""));
  assert_true(has_error(&errs, "router \"e@file\": certificate resolver \"le\": unable to "
                               "generate a wildcard certificate for domains \"*.w.example.com\": "
                               "ACME needs a DNSChallenge"));
  assert_true(has_error(&errs, "router \"bad@file\": certificate resolver \"dns\": unable to "
                               "generate a wildcard certificate for domains \"*.*.example.com\""));

  wh_acme_wants_free(&w);
  assert_int_equal(w.n, 0);
  wh_errlist_free(&errs);
  wh_runtime_free(rt);
  wh_dyn_config_free(dyn);
  wh_static_free(stat);
}

static void test_nothing_without_resolver(void **state) {
  (void)state;
  wh_static_config *stat = stat_from("entryPoints:\n  websecure: {address: ':8443'}\n");
  wh_dyn_config *dyn =
      dyn_from("http:\n  routers:\n    r: {rule: 'Host(`a.example.com`)', service: s, tls: {}}\n"
               "  services:\n    s: {loadBalancer: {servers: [{url: 'http://127.0.0.1:9'}]}}\n");
  wh_fragment frag = {"file", dyn};
  wh_runtime *rt = wh_runtime_build(stat, &frag, 1);
  wh_acme_wants w = {0};
  assert_int_equal(wh_acme_domains_collect(stat, rt, &w, NULL), 0);
  assert_int_equal(w.n, 0);
  wh_runtime_free(rt);
  wh_dyn_config_free(dyn);
  wh_static_free(stat);
}

static void test_name_matching(void **state) {
  (void)state;
  assert_true(wh_acme_name_matches("a.example.com", "a.example.com"));
  assert_true(wh_acme_name_matches("A.example.com", "a.EXAMPLE.com"));
  assert_true(wh_acme_name_matches("a.example.com", "*.example.com"));
  assert_true(wh_acme_name_matches("*.example.com", "*.example.com"));
  assert_false(wh_acme_name_matches("a.b.example.com", "*.example.com"));
  assert_false(wh_acme_name_matches("example.com", "*.example.com"));
  assert_false(wh_acme_name_matches(".example.com", "*.example.com"));
  assert_false(wh_acme_name_matches("a.example.com", "b.example.com"));
  const char *a[] = {"a", "B", "c"}, *b[] = {"c", "b", "A"}, *c[] = {"a", "b"};
  assert_true(wh_acme_names_equal(a, 3, b, 3));
  assert_false(wh_acme_names_equal(a, 3, c, 2));
  assert_false(wh_acme_names_equal(c, 2, a, 3));
}

int main(void) {
  wh_dynamic_register_middleware_types(wh_mw_registry, wh_mw_registry_len);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_collect),
      cmocka_unit_test(test_nothing_without_resolver),
      cmocka_unit_test(test_name_matching),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
