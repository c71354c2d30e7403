/* wh_backend_tls: the serversTransports of a runtime compiled into TLS
 * clients, which service uses which, and what a transport that does not
 * compile disables (itself, the services using it, their routers). The
 * runtime is built from dynamic YAML the way the file provider hands it
 * over; certificates are made with the OpenSSL API in a mkdtemp directory. */
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
#include "tests/unit/support/pki.h"

#include "lib/config/load.h"
#include "lib/config/runtime.h"
#include "lib/router/backend_tls.h"
#include "lib/tls/client.h"

/* ---- certificates ---- */

static pki_dir g_dir;
static const char *p_ca, *p_cli_crt, *p_cli_key, *p_other_key;

static int setup(void **state) {
  (void)state;
  if (!pki_dir_make(&g_dir, "/tmp/wh_backend_tls_test_XXXXXX"))
    return -1;
  EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *cli_key = EVP_EC_gen("P-256"),
           *other = EVP_EC_gen("P-256");
  if (!ca_key || !cli_key || !other)
    return -1;
  pki_spec ca_spec = {.cn = "backend test CA", .key = ca_key, .ca = true};
  X509 *ca = pki_cert(&ca_spec);
  X509 *cli = pki_leaf("client.example", "DNS:client.example", cli_key, ca, ca_key);
  p_ca = pki_dir_write_cert(&g_dir, "ca.pem", ca);
  p_cli_crt = pki_dir_write_cert(&g_dir, "client.pem", cli);
  p_cli_key = pki_dir_write_key(&g_dir, "client.key", cli_key);
  p_other_key = pki_dir_write_key(&g_dir, "other.key", other);
  X509_free(ca);
  X509_free(cli);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(cli_key);
  EVP_PKEY_free(other);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  pki_dir_remove(&g_dir);
  return 0;
}

/* ---- the configuration ---- */

static const char *STATIC = "entryPoints:\n"
                            "  web: {address: ':8081'}\n"
                            "  websecure: {address: ':8443'}\n";

/* %1$s: the CA, %2$s %3$s: the client certificate and key, %4$s: another key */
static const char *DYNAMIC =
    "http:\n"
    "  routers:\n"
    "    r-ok: {rule: 'Host(`ok.example`)', service: s-ok, entryPoints: [web]}\n"
    "    r-mtls: {rule: 'Host(`mtls.example`)', service: s-mtls, entryPoints: [web]}\n"
    "    r-plain: {rule: 'Host(`plain.example`)', service: s-plain, entryPoints: [web]}\n"
    "    r-plain-st: {rule: 'Host(`plainst.example`)', service: s-plain-st, entryPoints: [web]}\n"
    "    r-mixed: {rule: 'Host(`mixed.example`)', service: s-mixed, entryPoints: [web]}\n"
    "    r-bad: {rule: 'Host(`bad.example`)', service: s-bad, entryPoints: [web]}\n"
    "    r-bad2: {rule: 'Host(`bad2.example`)', service: s-bad, entryPoints: [web]}\n"
    "    r-badkey: {rule: 'Host(`badkey.example`)', service: s-badkey, entryPoints: [web]}\n"
    "    r-spiffe: {rule: 'Host(`spiffe.example`)', service: s-spiffe, entryPoints: [web]}\n"
    "    r-default: {rule: 'Host(`default.example`)', service: s-default, entryPoints: [web]}\n"
    "    r-default-named: {rule: 'Host(`dn.example`)', service: s-default-named,"
    " entryPoints: [web]}\n"
    "    r-insecure: {rule: 'Host(`insecure.example`)', service: s-insecure, entryPoints: [web]}\n"
    "  services:\n"
    "    s-ok: {loadBalancer: {servers: [{url: 'https://127.0.0.1:9001'}], serversTransport: st}}\n"
    "    s-mtls: {loadBalancer: {servers: [{url: 'https://localhost:9001'}],"
    " serversTransport: st-mtls}}\n"
    "    s-plain: {loadBalancer: {servers: [{url: 'http://127.0.0.1:9002'}]}}\n"
    "    s-plain-st: {loadBalancer: {servers: [{url: 'http://127.0.0.1:9002'}],"
    " serversTransport: st}}\n"
    "    s-mixed: {loadBalancer: {servers: [{url: 'http://127.0.0.1:9002'},"
    " {url: 'HTTPS://127.0.0.1:9001'}], serversTransport: st}}\n"
    "    s-bad: {loadBalancer: {servers: [{url: 'https://127.0.0.1:9001'}],"
    " serversTransport: st-missing}}\n"
    "    s-bad-unrouted: {loadBalancer: {servers: [{url: 'http://127.0.0.1:9002'}],"
    " serversTransport: st-missing}}\n"
    "    s-badkey: {loadBalancer: {servers: [{url: 'https://127.0.0.1:9001'}],"
    " serversTransport: st-badkey}}\n"
    "    s-spiffe: {loadBalancer: {servers: [{url: 'https://127.0.0.1:9001'}],"
    " serversTransport: st-spiffe}}\n"
    "    s-default: {loadBalancer: {servers: [{url: 'https://127.0.0.1:9001'}]}}\n"
    "    s-default-named: {loadBalancer: {servers: [{url: 'https://127.0.0.1:9001'}],"
    " serversTransport: default@internal}}\n"
    "    s-insecure: {loadBalancer: {servers: [{url: 'https://127.0.0.1:9001'}],"
    " serversTransport: st-insecure}}\n"
    "  serversTransports:\n"
    "    st: {serverName: backend.example, rootCAs: ['%1$s']}\n"
    "    st-mtls: {rootCAs: ['%1$s'], certificates: [{certFile: '%2$s', keyFile: '%3$s'}],"
    " peerCertURI: 'spiffe://example.org/backend'}\n"
    "    st-missing: {rootCAs: ['%1$s', '/nonexistent/wharf/ca.pem']}\n"
    "    st-badkey: {certificates: [{certFile: '%2$s', keyFile: '%4$s'}]}\n"
    "    st-spiffe: {spiffe: {ids: ['spiffe://example.org/backend']}}\n"
    "    st-insecure: {insecureSkipVerify: true}\n"
    "    st-unused-bad: {rootCAs: ['/nonexistent/wharf/unused.pem']}\n"
    "tcp:\n"
    "  routers:\n"
    "    t-ok: {rule: 'HostSNI(`db.example`)', service: ts-ok, entryPoints: [websecure], tls: {}}\n"
    "    t-default: {rule: 'HostSNI(`dd.example`)', service: ts-default, entryPoints: [websecure],"
    " tls: {}}\n"
    "    t-bad: {rule: 'HostSNI(`tb.example`)', service: ts-bad, entryPoints: [websecure],"
    " tls: {}}\n"
    "    t-spiffe: {rule: 'HostSNI(`ts.example`)', service: ts-spiffe, entryPoints: [websecure],"
    " tls: {}}\n"
    "  services:\n"
    "    ts-ok: {loadBalancer: {servers: [{address: '127.0.0.1:9003', tls: true}],"
    " serversTransport: tst}}\n"
    "    ts-default: {loadBalancer: {servers: [{address: '127.0.0.1:9003', tls: true}]}}\n"
    "    ts-notls-transport: {loadBalancer: {servers: [{address: '127.0.0.1:9003', tls: true}],"
    " serversTransport: tst-notls}}\n"
    "    ts-plain: {loadBalancer: {servers: [{address: '127.0.0.1:9003'}],"
    " serversTransport: tst}}\n"
    "    ts-bad: {loadBalancer: {servers: [{address: '127.0.0.1:9003', tls: true}],"
    " serversTransport: tst-bad}}\n"
    "    ts-spiffe: {loadBalancer: {servers: [{address: '127.0.0.1:9003', tls: true}],"
    " serversTransport: tst-spiffe}}\n"
    "  serversTransports:\n"
    "    tst: {tls: {serverName: db.example, rootCAs: ['%1$s']}}\n"
    "    tst-notls: {dialTimeout: 5s}\n"
    "    tst-bad: {tls: {rootCAs: ['/nonexistent/wharf/tcp-ca.pem']}}\n"
    "    tst-spiffe: {tls: {spiffe: {trustDomain: example.org}}}\n";

typedef struct fixture {
  wh_static_config *stat;
  wh_dyn_config *dyn;
  wh_runtime *rt;
  wh_backend_tls *b;
} fixture;

static void build(fixture *f, const char *stat_yaml) {
  memset(f, 0, sizeof(*f));
  char *yaml = NULL;
  assert_true(asprintf(&yaml, DYNAMIC, p_ca, p_cli_crt, p_cli_key, p_other_key) > 0);
  f->stat = stat_from(stat_yaml);
  f->dyn = dyn_from(yaml);
  free(yaml);
  wh_fragment frag = {"file", f->dyn};
  f->rt = wh_runtime_build(f->stat, &frag, 1);
  assert_non_null(f->rt);
  f->b = wh_backend_tls_build(f->stat, f->rt);
  assert_non_null(f->b);
}

static void unbuild(fixture *f) {
  wh_backend_tls_free(f->b);
  wh_runtime_free(f->rt);
  wh_dyn_config_free(f->dyn);
  wh_static_free(f->stat);
}

static const wh_rt_elem *elem(const fixture *f, wh_kind kind, const char *name) {
  const wh_rt_elem *el = wh_runtime_find(f->rt, kind, name);
  if (!el)
    fail_msg("%s: not in the runtime", name);
  return el;
}

/* el is disabled and one of its errors contains each of the needles. */
static void assert_disabled(const fixture *f, wh_kind kind, const char *name, const char *n1,
                            const char *n2) {
  const wh_rt_elem *el = elem(f, kind, name);
  if (el->status != WH_STATUS_DISABLED)
    fail_msg("%s: status %s, want disabled", name, wh_status_name(el->status));
  for (size_t i = 0; i < el->errors.n; i++)
    if (strstr(el->errors.items[i], n1) && (!n2 || strstr(el->errors.items[i], n2)))
      return;
  for (size_t i = 0; i < el->errors.n; i++)
    print_message("%s error[%zu]: %s\n", name, i, el->errors.items[i]);
  fail_msg("%s: no error with \"%s\"%s%s", name, n1, n2 ? " and " : "", n2 ? n2 : "");
}

static void assert_enabled(const fixture *f, wh_kind kind, const char *name) {
  const wh_rt_elem *el = elem(f, kind, name);
  if (el->status == WH_STATUS_DISABLED)
    fail_msg("%s: disabled (%s)", name, el->errors.n ? el->errors.items[0] : "no error");
}

/* The id of a client built directly from options (the reference). */
static char *id_for(const char *root_ca, bool http) {
  char *roots[] = {(char *)root_ca};
  wh_strlist rl = {roots, 1};
  wh_tls_client_opts o = {.name = "ref", .root_cas = root_ca ? &rl : NULL, .http = http};
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_tls_client *tc = wh_tls_client_new(&o, &errs);
  assert_non_null(tc);
  assert_int_equal(errs.n, 0);
  char *id = strdup(wh_tls_client_id(tc));
  wh_tls_client_free(tc);
  wh_errlist_free(&errs);
  return id;
}

/* ---- HTTP ---- */

static void test_https_service_gets_its_transport(void **state) {
  (void)state;
  fixture f;
  build(&f, STATIC);
  const wh_tls_client *ok = wh_backend_tls_http(f.b, "s-ok@file");
  assert_non_null(ok);
  assert_string_equal(wh_tls_client_name(ok), "st@file");
  assert_false(wh_tls_client_insecure(ok));
  assert_enabled(&f, WH_KIND_HTTP_TRANSPORT, "st@file");
  assert_enabled(&f, WH_KIND_HTTP_SERVICE, "s-ok@file");
  assert_enabled(&f, WH_KIND_HTTP_ROUTER, "r-ok@file");
  /* one compiled client per transport, shared by its services */
  assert_ptr_equal(wh_backend_tls_http(f.b, "s-mixed@file"), ok);
  /* client certificate and peerCertURI */
  const wh_tls_client *mtls = wh_backend_tls_http(f.b, "s-mtls@file");
  assert_non_null(mtls);
  assert_string_equal(wh_tls_client_name(mtls), "st-mtls@file");
  assert_string_not_equal(wh_tls_client_id(mtls), wh_tls_client_id(ok));
  assert_enabled(&f, WH_KIND_HTTP_ROUTER, "r-mtls@file");
  /* insecureSkipVerify compiles, flagged */
  const wh_tls_client *ins = wh_backend_tls_http(f.b, "s-insecure@file");
  assert_non_null(ins);
  assert_true(wh_tls_client_insecure(ins));
  assert_enabled(&f, WH_KIND_HTTP_ROUTER, "r-insecure@file");
  /* unknown names and the wrong protocol */
  assert_null(wh_backend_tls_http(f.b, "nope@file"));
  assert_null(wh_backend_tls_http(f.b, NULL));
  assert_null(wh_backend_tls_tcp(f.b, "s-ok@file"));
  assert_null(wh_backend_tls_http(NULL, "s-ok@file"));
  unbuild(&f);
}

static void test_plain_http_service_gets_none(void **state) {
  (void)state;
  fixture f;
  build(&f, STATIC);
  assert_null(wh_backend_tls_http(f.b, "s-plain@file"));
  /* a transport on a service with no https server: nothing to use it for */
  assert_null(wh_backend_tls_http(f.b, "s-plain-st@file"));
  assert_enabled(&f, WH_KIND_HTTP_ROUTER, "r-plain@file");
  assert_enabled(&f, WH_KIND_HTTP_ROUTER, "r-plain-st@file");
  unbuild(&f);
}

static void test_missing_root_cas_disables_transport_service_routers(void **state) {
  (void)state;
  fixture f;
  build(&f, STATIC);
  assert_disabled(&f, WH_KIND_HTTP_TRANSPORT, "st-missing@file", "/nonexistent/wharf/ca.pem",
                  "rootCAs[1]");
  assert_disabled(&f, WH_KIND_HTTP_SERVICE, "s-bad@file", "st-missing@file", NULL);
  assert_null(wh_backend_tls_http(f.b, "s-bad@file"));
  /* every router of the service */
  assert_disabled(&f, WH_KIND_HTTP_ROUTER, "r-bad@file", "st-missing@file", "s-bad@file");
  assert_disabled(&f, WH_KIND_HTTP_ROUTER, "r-bad2@file", "st-missing@file", NULL);
  /* a service using it is disabled even with only http servers: it asked
   * for that transport */
  assert_disabled(&f, WH_KIND_HTTP_SERVICE, "s-bad-unrouted@file", "st-missing@file", NULL);
  /* an unused broken transport is reported too, and harms nobody else */
  assert_disabled(&f, WH_KIND_HTTP_TRANSPORT, "st-unused-bad@file", "/nonexistent/wharf/unused.pem",
                  NULL);
  assert_enabled(&f, WH_KIND_HTTP_ROUTER, "r-ok@file");
  unbuild(&f);
}

static void test_client_key_mismatch_disables(void **state) {
  (void)state;
  fixture f;
  build(&f, STATIC);
  assert_disabled(&f, WH_KIND_HTTP_TRANSPORT, "st-badkey@file", "does not match", "other.key");
  assert_disabled(&f, WH_KIND_HTTP_SERVICE, "s-badkey@file", "st-badkey@file", NULL);
  assert_disabled(&f, WH_KIND_HTTP_ROUTER, "r-badkey@file", "st-badkey@file", NULL);
  assert_null(wh_backend_tls_http(f.b, "s-badkey@file"));
  unbuild(&f);
}

static void test_spiffe_refused(void **state) {
  (void)state;
  fixture f;
  build(&f, STATIC);
  assert_disabled(&f, WH_KIND_HTTP_TRANSPORT, "st-spiffe@file", "spiffe", "not supported");
  assert_disabled(&f, WH_KIND_HTTP_SERVICE, "s-spiffe@file", "st-spiffe@file", NULL);
  assert_disabled(&f, WH_KIND_HTTP_ROUTER, "r-spiffe@file", "st-spiffe@file", NULL);
  assert_null(wh_backend_tls_http(f.b, "s-spiffe@file"));
  assert_disabled(&f, WH_KIND_TCP_TRANSPORT, "tst-spiffe@file", "spiffe", "not supported");
  assert_disabled(&f, WH_KIND_TCP_ROUTER, "t-spiffe@file", "tst-spiffe@file", NULL);
  assert_null(wh_backend_tls_tcp(f.b, "ts-spiffe@file"));
  unbuild(&f);
}

/* The static serversTransport is the default of a service without one:
 * its rootCAs decide the client (same id as a client built with them,
 * another than the system roots'). */
static void test_static_default_transport(void **state) {
  (void)state;
  char *sys_id = id_for(NULL, true), *ca_id = id_for(p_ca, true);
  assert_string_not_equal(sys_id, ca_id);

  fixture f;
  build(&f, STATIC);
  const wh_tls_client *d = wh_backend_tls_http(f.b, "s-default@file");
  assert_non_null(d);
  assert_string_equal(wh_tls_client_name(d), "default@internal");
  assert_string_equal(wh_tls_client_id(d), sys_id);
  unbuild(&f);

  char *stat = NULL;
  assert_true(asprintf(&stat, "%sserversTransport:\n  rootCAs: ['%s']\n", STATIC, p_ca) > 0);
  build(&f, stat);
  free(stat);
  d = wh_backend_tls_http(f.b, "s-default@file");
  assert_non_null(d);
  assert_string_equal(wh_tls_client_id(d), ca_id);
  /* a named transport is not affected by the static one */
  assert_string_equal(wh_tls_client_name(wh_backend_tls_http(f.b, "s-ok@file")), "st@file");
  unbuild(&f);

  assert_true(asprintf(&stat, "%sserversTransport: {insecureSkipVerify: true}\n", STATIC) > 0);
  build(&f, stat);
  free(stat);
  d = wh_backend_tls_http(f.b, "s-default@file");
  assert_non_null(d);
  assert_true(wh_tls_client_insecure(d));
  unbuild(&f);

  /* a static default that does not compile disables the services relying
   * on it, and only them */
  assert_true(asprintf(&stat, "%sserversTransport: {rootCAs: ['/nonexistent/wharf/static.pem']}\n",
                       STATIC) > 0);
  build(&f, stat);
  free(stat);
  assert_null(wh_backend_tls_http(f.b, "s-default@file"));
  assert_disabled(&f, WH_KIND_HTTP_SERVICE, "s-default@file", "default@internal", NULL);
  assert_disabled(&f, WH_KIND_HTTP_ROUTER, "r-default@file", "default@internal", NULL);
  assert_enabled(&f, WH_KIND_HTTP_ROUTER, "r-ok@file");
  assert_enabled(&f, WH_KIND_HTTP_ROUTER, "r-plain@file");
  unbuild(&f);
  free(sys_id);
  free(ca_id);
}

/* `serversTransport: default@internal` names the static default
 * explicitly (the runtime accepts it): its https servers need a client. */
static void test_default_internal_named(void **state) {
  (void)state;
  char *stat = NULL;
  assert_true(asprintf(&stat, "%sserversTransport:\n  rootCAs: ['%s']\n", STATIC, p_ca) > 0);
  fixture f;
  build(&f, stat);
  free(stat);
  assert_enabled(&f, WH_KIND_HTTP_SERVICE, "s-default-named@file");
  const wh_tls_client *d = wh_backend_tls_http(f.b, "s-default-named@file");
  if (!d)
    fail_msg("a service with serversTransport default@internal and an https server has no "
             "TLS client");
  assert_ptr_equal(d, wh_backend_tls_http(f.b, "s-default@file"));
  unbuild(&f);
}

/* ---- TCP ---- */

static void test_tcp_tls_servers(void **state) {
  (void)state;
  fixture f;
  build(&f, STATIC);
  /* its transport's tls section */
  const wh_tls_client *ok = wh_backend_tls_tcp(f.b, "ts-ok@file");
  assert_non_null(ok);
  assert_string_equal(wh_tls_client_name(ok), "tst@file");
  assert_enabled(&f, WH_KIND_TCP_ROUTER, "t-ok@file");
  assert_null(wh_backend_tls_http(f.b, "ts-ok@file"));
  /* no transport: full verification against the system roots, no ALPN */
  char *sys_tcp = id_for(NULL, false);
  const wh_tls_client *d = wh_backend_tls_tcp(f.b, "ts-default@file");
  assert_non_null(d);
  assert_string_equal(wh_tls_client_name(d), "default@internal");
  assert_string_equal(wh_tls_client_id(d), sys_tcp);
  assert_false(wh_tls_client_insecure(d));
  assert_enabled(&f, WH_KIND_TCP_ROUTER, "t-default@file");
  /* a transport without a tls section: the default client */
  assert_ptr_equal(wh_backend_tls_tcp(f.b, "ts-notls-transport@file"), d);
  /* servers without tls: none */
  assert_null(wh_backend_tls_tcp(f.b, "ts-plain@file"));
  /* a broken tls section */
  assert_disabled(&f, WH_KIND_TCP_TRANSPORT, "tst-bad@file", "/nonexistent/wharf/tcp-ca.pem", NULL);
  assert_disabled(&f, WH_KIND_TCP_SERVICE, "ts-bad@file", "tst-bad@file", NULL);
  assert_disabled(&f, WH_KIND_TCP_ROUTER, "t-bad@file", "tst-bad@file", NULL);
  assert_null(wh_backend_tls_tcp(f.b, "ts-bad@file"));
  /* the static HTTP default does not apply to TCP */
  unbuild(&f);
  char *stat = NULL;
  assert_true(asprintf(&stat, "%sserversTransport: {insecureSkipVerify: true}\n", STATIC) > 0);
  build(&f, stat);
  free(stat);
  d = wh_backend_tls_tcp(f.b, "ts-default@file");
  assert_non_null(d);
  assert_false(wh_tls_client_insecure(d));
  assert_string_equal(wh_tls_client_id(d), sys_tcp);
  unbuild(&f);
  free(sys_tcp);
}

/* A runtime with no TLS anywhere builds an empty set. */
static void test_no_tls(void **state) {
  (void)state;
  wh_static_config *stat = stat_from(STATIC);
  wh_dyn_config *dyn =
      dyn_from("http:\n"
               "  routers: {r: {rule: 'Host(`a`)', service: s}}\n"
               "  services: {s: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}]}}}\n");
  wh_fragment frag = {"file", dyn};
  wh_runtime *rt = wh_runtime_build(stat, &frag, 1);
  assert_non_null(rt);
  wh_backend_tls *b = wh_backend_tls_build(stat, rt);
  assert_non_null(b);
  assert_null(wh_backend_tls_http(b, "s@file"));
  wh_backend_tls_free(b);
  wh_backend_tls_free(NULL);
  wh_runtime_free(rt);
  wh_dyn_config_free(dyn);
  wh_static_free(stat);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_https_service_gets_its_transport),
      cmocka_unit_test(test_plain_http_service_gets_none),
      cmocka_unit_test(test_missing_root_cas_disables_transport_service_routers),
      cmocka_unit_test(test_client_key_mismatch_disables),
      cmocka_unit_test(test_spiffe_refused),
      cmocka_unit_test(test_static_default_transport),
      cmocka_unit_test(test_default_internal_named),
      cmocka_unit_test(test_tcp_tls_servers),
      cmocka_unit_test(test_no_tls),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
