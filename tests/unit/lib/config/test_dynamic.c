/* Unit tests for lib/config/dynamic.c: schema tables, validate hooks,
 * element-level errors and encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "lib/config/dynamic.h"
#include "lib/config/load.h"
#include "lib/core/str.h"

/* ---- test middleware types (the real registry lives in middleware/) ---- */

typedef struct t_prefix {
  char *prefix;
} t_prefix;
static const wh_field t_prefix_fields[] = {
    {"prefix", WH_F_STRING, offsetof(t_prefix, prefix), NULL, NULL, 0, 0},
};
static const wh_schema t_prefix_schema = {"addPrefix", sizeof(t_prefix), t_prefix_fields, 1, NULL};

typedef struct t_allow {
  wh_strlist source_range;
} t_allow;
static const wh_field t_allow_fields[] = {
    {"sourceRange", WH_F_STRLIST, offsetof(t_allow, source_range), NULL, NULL, 0, 0},
};
static const wh_schema t_allow_schema = {"ipAllowList", sizeof(t_allow), t_allow_fields, 1, NULL};

typedef struct t_compress {
  wh_strlist excluded;
} t_compress;
static const wh_field t_compress_fields[] = {
    {"excludedContentTypes", WH_F_STRLIST, offsetof(t_compress, excluded), NULL, NULL, 0, 0},
};
static const wh_schema t_compress_schema = {"compress", sizeof(t_compress), t_compress_fields, 1,
                                            NULL};

typedef struct t_inflight {
  int64_t amount;
} t_inflight;
static const wh_field t_inflight_fields[] = {
    {"amount", WH_F_INT, offsetof(t_inflight, amount), NULL, NULL, 0, 0},
};
static const wh_schema t_inflight_schema = {"inFlightConn", sizeof(t_inflight), t_inflight_fields,
                                            1, NULL};

static const wh_mw_type t_addprefix = {
    .name = "addPrefix", .proto = WH_MW_HTTP, .schema = &t_prefix_schema};
static const wh_mw_type t_ipallow = {
    .name = "ipAllowList", .proto = WH_MW_HTTP, .schema = &t_allow_schema};
static const wh_mw_type t_ipwhite = {.name = "ipWhiteList",
                                     .proto = WH_MW_HTTP,
                                     .schema = &t_allow_schema,
                                     .alias_of = "ipAllowList",
                                     .field_flags = WH_FF_DEPRECATED};
static const wh_mw_type t_gzip = {.name = "compress",
                                  .proto = WH_MW_HTTP,
                                  .schema = &t_compress_schema,
                                  .field_flags = WH_FF_ALLOW_EMPTY};
static const wh_mw_type t_tcp_inflight = {
    .name = "inFlightConn", .proto = WH_MW_TCP, .schema = &t_inflight_schema};
static const wh_mw_type t_tcp_ipallow = {
    .name = "ipAllowList", .proto = WH_MW_TCP, .schema = &t_allow_schema};

static const wh_mw_type *const t_types[] = {&t_addprefix, &t_ipallow,      &t_ipwhite,
                                            &t_gzip,      &t_tcp_inflight, &t_tcp_ipallow};

static int setup(void **state) {
  (void)state;
  return wh_dynamic_register_middleware_types(t_types, sizeof t_types / sizeof t_types[0]);
}

/* ---- helpers ---- */

static wh_dyn_config *decode_text(const char *yaml, wh_errlist *errs) {
  wh_errlist perr;
  wh_errlist_init(&perr);
  wh_node *root = wh_yaml_parse(yaml, strlen(yaml), "dyn.yml", &perr);
  if (!root) {
    for (size_t i = 0; i < perr.n; i++)
      print_error("yaml: %s\n", perr.items[i]);
    wh_errlist_free(&perr);
    fail_msg("YAML did not parse");
  }
  wh_errlist_free(&perr);
  wh_dyn_config *c = wh_dyn_config_decode(root, NULL, errs);
  wh_node_free(root);
  assert_non_null(c);
  return c;
}

static const wh_elem_error *find_elem_error(const wh_dyn_config *c, const char *section,
                                            const char *name) {
  for (size_t i = 0; i < c->n_elem_errors; i++)
    if (strcmp(c->elem_errors[i].section, section) == 0 &&
        strcmp(c->elem_errors[i].name, name) == 0)
      return &c->elem_errors[i];
  return NULL;
}

static bool errlist_has(const wh_errlist *l, const char *needle) {
  for (size_t i = 0; l && i < l->n; i++)
    if (strstr(l->items[i], needle))
      return true;
  return false;
}

static void dump_elem_errors(const wh_dyn_config *c) {
  for (size_t i = 0; i < c->n_elem_errors; i++)
    for (size_t j = 0; j < c->elem_errors[i].errs.n; j++)
      print_error("%s/%s: %s\n", c->elem_errors[i].section, c->elem_errors[i].name,
                  c->elem_errors[i].errs.items[j]);
}

/* Asserts exactly one element error, at section/name, containing needle. */
static void expect_one_elem_error(const char *yaml, const char *section, const char *name,
                                  const char *needle) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text(yaml, &errs);
  assert_int_equal(errs.n, 0);
  if (c->n_elem_errors != 1)
    dump_elem_errors(c);
  assert_int_equal(c->n_elem_errors, 1);
  const wh_elem_error *e = find_elem_error(c, section, name);
  assert_non_null(e);
  if (!errlist_has(&e->errs, needle)) {
    dump_elem_errors(c);
    fail_msg("no error containing \"%s\"", needle);
  }
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

static void expect_no_error(const char *yaml) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text(yaml, &errs);
  for (size_t i = 0; i < errs.n; i++)
    print_error("%s\n", errs.items[i]);
  dump_elem_errors(c);
  assert_int_equal(errs.n, 0);
  assert_int_equal(c->n_elem_errors, 0);
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

static const char full_yaml[] = "http:\n"
                                "  routers:\n"
                                "    r1:\n"
                                "      rule: \"Host(`a.com`)\"\n"
                                "      ruleSyntax: v3\n"
                                "      entryPoints: [websecure]\n"
                                "      middlewares: [m1, m2@file]\n"
                                "      service: s1\n"
                                "      priority: 10\n"
                                "      tls:\n"
                                "        certResolver: le\n"
                                "        options: opt1\n"
                                "        domains:\n"
                                "          - main: a.com\n"
                                "            sans: [b.a.com, c.a.com]\n"
                                "      observability:\n"
                                "        accessLogs: false\n"
                                "    r2:\n"
                                "      rule: \"PathPrefix(`/`)\"\n"
                                "      service: w1\n"
                                "      tls: {}\n"
                                "  services:\n"
                                "    s1:\n"
                                "      loadBalancer:\n"
                                "        servers:\n"
                                "          - url: \"http://10.0.0.1:80\"\n"
                                "            weight: 3\n"
                                "          - url: \"https://[fd00::1]:8443/base\"\n"
                                "            preservePath: true\n"
                                "        passHostHeader: false\n"
                                "        strategy: p2c\n"
                                "        sticky:\n"
                                "          cookie:\n"
                                "            name: sid\n"
                                "            secure: true\n"
                                "            httpOnly: true\n"
                                "            sameSite: Lax\n"
                                "            maxAge: 3600\n"
                                "        healthCheck:\n"
                                "          path: /health\n"
                                "          interval: 10s\n"
                                "          headers:\n"
                                "            X-Check: yes\n"
                                "        passiveHealthCheck:\n"
                                "          maxFailedAttempts: 3\n"
                                "        responseForwarding:\n"
                                "          flushInterval: 1s\n"
                                "        serversTransport: st1\n"
                                "    w1:\n"
                                "      weighted:\n"
                                "        services:\n"
                                "          - name: s1\n"
                                "            weight: 2\n"
                                "          - name: s2\n"
                                "        healthCheck: {}\n"
                                "    mi:\n"
                                "      mirroring:\n"
                                "        service: s1\n"
                                "        mirrors:\n"
                                "          - name: s2\n"
                                "            percent: 10\n"
                                "    fo:\n"
                                "      failover:\n"
                                "        service: s1\n"
                                "        fallback: s2\n"
                                "  middlewares:\n"
                                "    m1:\n"
                                "      addPrefix:\n"
                                "        prefix: /api\n"
                                "    old:\n"
                                "      ipWhiteList:\n"
                                "        sourceRange: [10.0.0.0/8]\n"
                                "    gz:\n"
                                "      compress: {}\n"
                                "  serversTransports:\n"
                                "    st1:\n"
                                "      serverName: backend.local\n"
                                "      insecureSkipVerify: true\n"
                                "      rootCAs: [/ca.pem]\n"
                                "      certificates:\n"
                                "        - certFile: /c.pem\n"
                                "          keyFile: /k.pem\n"
                                "      maxIdleConnsPerHost: 7\n"
                                "      forwardingTimeouts:\n"
                                "        responseHeaderTimeout: 5s\n"
                                "      disableHTTP2: true\n"
                                "      peerCertURI: spiffe://x\n"
                                "      spiffe:\n"
                                "        ids: [spiffe://a]\n"
                                "        trustDomain: example.org\n"
                                "tcp:\n"
                                "  routers:\n"
                                "    t1:\n"
                                "      rule: \"HostSNI(`*`)\"\n"
                                "      entryPoints: [pg]\n"
                                "      service: ts1\n"
                                "      middlewares: [lim]\n"
                                "      tls:\n"
                                "        passthrough: true\n"
                                "  services:\n"
                                "    ts1:\n"
                                "      loadBalancer:\n"
                                "        servers:\n"
                                "          - address: \"10.0.0.2:5432\"\n"
                                "            tls: true\n"
                                "          - address: \"[::1]:5433\"\n"
                                "        proxyProtocol:\n"
                                "          version: 1\n"
                                "    tw:\n"
                                "      weighted:\n"
                                "        services:\n"
                                "          - name: ts1\n"
                                "  middlewares:\n"
                                "    lim:\n"
                                "      inFlightConn:\n"
                                "        amount: 10\n"
                                "  serversTransports:\n"
                                "    tst:\n"
                                "      dialTimeout: 5s\n"
                                "      tls:\n"
                                "        serverName: db\n"
                                "udp:\n"
                                "  routers:\n"
                                "    u1:\n"
                                "      entryPoints: [dns]\n"
                                "      service: us1\n"
                                "  services:\n"
                                "    us1:\n"
                                "      loadBalancer:\n"
                                "        servers:\n"
                                "          - address: \"10.0.0.3:53\"\n"
                                "tls:\n"
                                "  certificates:\n"
                                "    - certFile: /c.pem\n"
                                "      keyFile: /k.pem\n"
                                "      stores: [default]\n"
                                "  options:\n"
                                "    default:\n"
                                "      minVersion: VersionTLS12\n"
                                "      sniStrict: true\n"
                                "      cipherSuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n"
                                "      clientAuth:\n"
                                "        caFiles: [/ca.pem]\n"
                                "        clientAuthType: RequireAndVerifyClientCert\n"
                                "    opt1:\n"
                                "      maxVersion: VersionTLS13\n"
                                "  stores:\n"
                                "    default:\n"
                                "      defaultCertificate:\n"
                                "        certFile: /c.pem\n"
                                "        keyFile: /k.pem\n"
                                "      defaultGeneratedCert:\n"
                                "        resolver: le\n"
                                "        domain:\n"
                                "          main: example.org\n"
                                "          sans: [www.example.org]\n";

/* ---- tests ---- */

static void test_full_http(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text(full_yaml, &errs);
  for (size_t i = 0; i < errs.n; i++)
    print_error("%s\n", errs.items[i]);
  dump_elem_errors(c);
  assert_int_equal(errs.n, 0);
  assert_int_equal(c->n_elem_errors, 0);
  assert_non_null(c->http);

  wh_http_router *r1 = wh_map_get(&c->http->routers, "r1");
  assert_non_null(r1);
  assert_string_equal(r1->rule, "Host(`a.com`)");
  assert_string_equal(r1->rule_syntax, "v3");
  assert_int_equal(r1->entry_points.n, 1);
  assert_int_equal(r1->middlewares.n, 2);
  assert_string_equal(r1->middlewares.v[1], "m2@file");
  assert_int_equal(r1->priority, 10);
  assert_non_null(r1->tls);
  assert_string_equal(r1->tls->cert_resolver, "le");
  assert_int_equal(r1->tls->domains.n, 1);
  wh_domain *d = r1->tls->domains.items;
  assert_string_equal(d->main, "a.com");
  assert_int_equal(d->sans.n, 2);
  assert_non_null(r1->observability);
  assert_false(r1->observability->access_logs);
  assert_true(r1->observability->access_logs_set);
  assert_true(r1->observability->metrics);
  assert_false(r1->observability->metrics_set);
  wh_http_router *r2 = wh_map_get(&c->http->routers, "r2");
  assert_non_null(r2);
  assert_non_null(r2->tls); /* tls: {} enables TLS */

  wh_http_service *s1 = wh_map_get(&c->http->services, "s1");
  assert_non_null(s1);
  assert_non_null(s1->load_balancer);
  wh_lb_service *lb = s1->load_balancer;
  assert_int_equal(lb->servers.n, 2);
  wh_server *sv = lb->servers.items;
  assert_string_equal(sv[0].url, "http://10.0.0.1:80");
  assert_int_equal(sv[0].weight, 3);
  assert_true(sv[0].weight_set);
  assert_false(sv[1].weight_set);
  assert_true(sv[1].preserve_path);
  assert_false(lb->pass_host_header);
  assert_string_equal(lb->strategy, "p2c");
  assert_non_null(lb->sticky);
  assert_non_null(lb->sticky->cookie);
  assert_string_equal(lb->sticky->cookie->name, "sid");
  assert_string_equal(lb->sticky->cookie->path, "/"); /* default */
  assert_int_equal(lb->sticky->cookie->max_age, 3600);
  assert_non_null(lb->health_check);
  assert_int_equal(lb->health_check->interval, 10 * WH_SEC);
  assert_int_equal(lb->health_check->timeout, 5 * WH_SEC); /* default */
  assert_true(lb->health_check->follow_redirects);
  assert_string_equal(lb->health_check->mode, "http");
  assert_string_equal(wh_strmap_get(&lb->health_check->headers, "x-check", true), "yes");
  assert_int_equal(lb->passive_health_check->max_failed_attempts, 3);
  assert_int_equal(lb->passive_health_check->failure_window, 10 * WH_SEC);
  assert_int_equal(lb->response_forwarding->flush_interval, WH_SEC);
  assert_string_equal(lb->servers_transport, "st1");

  wh_http_service *w1 = wh_map_get(&c->http->services, "w1");
  assert_non_null(w1->weighted);
  assert_int_equal(w1->weighted->services.n, 2);
  wh_weighted_ref *wr = w1->weighted->services.items;
  assert_int_equal(wr[0].weight, 2);
  assert_int_equal(wr[1].weight, 1); /* default */
  assert_false(wr[1].weight_set);
  assert_non_null(w1->weighted->health_check);

  wh_http_service *mi = wh_map_get(&c->http->services, "mi");
  assert_true(mi->mirroring->mirror_body);
  assert_int_equal(mi->mirroring->max_body_size, -1);
  assert_int_equal(((wh_mirror_ref *)mi->mirroring->mirrors.items)[0].percent, 10);
  wh_http_service *fo = wh_map_get(&c->http->services, "fo");
  assert_string_equal(fo->failover->fallback, "s2");

  wh_servers_transport *st = wh_map_get(&c->http->servers_transports, "st1");
  assert_non_null(st);
  assert_string_equal(st->server_name, "backend.local");
  assert_true(st->insecure_skip_verify);
  assert_int_equal(st->certificates.n, 1);
  assert_int_equal(st->max_idle_conns_per_host, 7);
  assert_int_equal(st->forwarding_timeouts->response_header_timeout, 5 * WH_SEC);
  assert_int_equal(st->forwarding_timeouts->dial_timeout, 30 * WH_SEC);
  assert_int_equal(st->forwarding_timeouts->idle_conn_timeout, 90 * WH_SEC);
  assert_true(st->disable_http2);
  assert_string_equal(st->spiffe->trust_domain, "example.org");

  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

static void test_full_tcp_udp_tls(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text(full_yaml, &errs);
  assert_int_equal(errs.n, 0);
  assert_int_equal(c->n_elem_errors, 0);

  wh_tcp_router *t1 = wh_map_get(&c->tcp->routers, "t1");
  assert_non_null(t1);
  assert_true(t1->tls->passthrough);
  wh_tcp_service *ts1 = wh_map_get(&c->tcp->services, "ts1");
  assert_int_equal(ts1->load_balancer->servers.n, 2);
  wh_tcp_server *tsv = ts1->load_balancer->servers.items;
  assert_string_equal(tsv[0].address, "10.0.0.2:5432");
  assert_true(tsv[0].tls);
  assert_int_equal(ts1->load_balancer->proxy_protocol->version, 1);
  wh_tcp_service *tw = wh_map_get(&c->tcp->services, "tw");
  assert_non_null(tw->weighted);
  wh_tcp_servers_transport *tst = wh_map_get(&c->tcp->servers_transports, "tst");
  assert_int_equal(tst->dial_timeout, 5 * WH_SEC);
  assert_int_equal(tst->dial_keep_alive, 15 * WH_SEC);
  assert_int_equal(tst->termination_delay, 100 * WH_MS);
  assert_string_equal(tst->tls->server_name, "db");

  wh_middleware *lim = wh_map_get(&c->tcp->middlewares, "lim");
  void *cfg = NULL;
  size_t count = 0;
  const wh_mw_type *ty = wh_middleware_type(lim, WH_MW_TCP, &cfg, &count);
  assert_ptr_equal(ty, &t_tcp_inflight);
  assert_int_equal(count, 1);
  assert_int_equal(((t_inflight *)cfg)->amount, 10);

  wh_udp_router *u1 = wh_map_get(&c->udp->routers, "u1");
  assert_string_equal(u1->service, "us1");
  wh_udp_service *us1 = wh_map_get(&c->udp->services, "us1");
  assert_string_equal(((wh_udp_server *)us1->load_balancer->servers.items)[0].address,
                      "10.0.0.3:53");

  assert_int_equal(c->tls->certificates.n, 1);
  wh_tls_certificate *cert = c->tls->certificates.items;
  assert_string_equal(cert->key_file, "/k.pem");
  assert_string_equal(cert->stores.v[0], "default");
  wh_tls_options *def = wh_map_get(&c->tls->options, "default");
  assert_string_equal(def->min_version, "VersionTLS12");
  assert_true(def->sni_strict);
  assert_string_equal(def->client_auth.client_auth_type, "RequireAndVerifyClientCert");
  assert_int_equal(def->alpn_protocols.n, 3); /* default h2, http/1.1, acme-tls/1 */
  wh_tls_options *opt1 = wh_map_get(&c->tls->options, "opt1");
  assert_null(opt1->min_version); /* the TLS layer applies VersionTLS12 */
  wh_tls_store *store = wh_map_get(&c->tls->stores, "default");
  assert_string_equal(store->default_certificate->cert_file, "/c.pem");
  assert_string_equal(store->default_generated_cert->domain->main, "example.org");

  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

static void test_middleware_types(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text(full_yaml, &errs);
  assert_int_equal(c->n_elem_errors, 0);
  void *cfg = NULL;
  size_t count = 9;
  const wh_mw_type *t =
      wh_middleware_type(wh_map_get(&c->http->middlewares, "m1"), WH_MW_HTTP, &cfg, &count);
  assert_ptr_equal(t, &t_addprefix);
  assert_string_equal(((t_prefix *)cfg)->prefix, "/api");
  /* the v2 alias is decoded under its own name and resolved to its replacement */
  t = wh_middleware_type(wh_map_get(&c->http->middlewares, "old"), WH_MW_HTTP, &cfg, &count);
  assert_ptr_equal(t, &t_ipallow);
  assert_int_equal(((t_allow *)cfg)->source_range.n, 1);
  /* compress: {} is allowed empty */
  t = wh_middleware_type(wh_map_get(&c->http->middlewares, "gz"), WH_MW_HTTP, &cfg, &count);
  assert_ptr_equal(t, &t_gzip);
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

static void test_middleware_two_types(void **state) {
  (void)state;
  expect_one_elem_error("http:\n  middlewares:\n    m:\n      addPrefix: {prefix: /a}\n"
                        "      compress: {}\n",
                        "http.middlewares", "m", "middleware must define exactly one type");
}

static void test_middleware_no_type(void **state) {
  (void)state;
  expect_one_elem_error("http:\n  middlewares:\n    m: {}\n", "http.middlewares", "m",
                        "no middleware type given");
}

static void test_middleware_unknown_type(void **state) {
  (void)state;
  expect_one_elem_error("http:\n  middlewares:\n    m:\n      addPrefx: {prefix: /a}\n",
                        "http.middlewares", "m",
                        "addPrefx: unknown key (did you mean \"addPrefix\"?)");
}

static void test_middleware_type_count(void **state) {
  (void)state;
  wh_middleware m;
  memset(&m, 0, sizeof m);
  void *cfg = (void *)&m;
  size_t count = 7;
  assert_null(wh_middleware_type(&m, WH_MW_HTTP, &cfg, &count));
  assert_int_equal(count, 0);
  assert_null(cfg);
  t_prefix a = {0};
  t_compress b = {0};
  m.cfg[0] = &a;
  m.cfg[3] = &b;
  assert_null(wh_middleware_type(&m, WH_MW_HTTP, &cfg, &count));
  assert_int_equal(count, 2);
}

static void test_register_rejects_bad_tables(void **state) {
  (void)state;
  const wh_mw_type dup = {.name = "addprefix", .proto = WH_MW_HTTP, .schema = &t_prefix_schema};
  const wh_mw_type *const two[] = {&t_addprefix, &dup};
  assert_int_equal(wh_dynamic_register_middleware_types(two, 2), WH_EINVAL);
  const wh_mw_type noschema = {.name = "x", .proto = WH_MW_HTTP};
  const wh_mw_type *const bad[] = {&noschema};
  assert_int_equal(wh_dynamic_register_middleware_types(bad, 1), WH_EINVAL);
  /* restore for the following tests */
  assert_int_equal(setup(NULL), 0);
  assert_int_equal(wh_schema_http_middleware.nfields, 4);
  assert_int_equal(wh_schema_tcp_middleware.nfields, 2);
}

static void test_elem_error_attached_to_element(void **state) {
  (void)state;
  const char *y = "http:\n"
                  "  routers:\n"
                  "    good:\n"
                  "      rule: \"Host(`a`)\"\n"
                  "      service: s\n"
                  "    bad:\n"
                  "      rulee: \"Host(`b`)\"\n"
                  "      service: s\n"
                  "  services:\n"
                  "    s:\n"
                  "      loadBalancer:\n"
                  "        servers: [{url: \"http://x:1\"}]\n";
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text(y, &errs);
  assert_int_equal(errs.n, 0);
  assert_int_equal(c->n_elem_errors, 1);
  const wh_elem_error *e = find_elem_error(c, "http.routers", "bad");
  assert_non_null(e);
  assert_int_equal(e->errs.n, 1);
  assert_non_null(strstr(e->errs.items[0], "rulee: unknown key (did you mean \"rule\"?)"));
  assert_non_null(strstr(e->errs.items[0], "line 7"));
  /* the bad element is still there, with what could be decoded */
  wh_http_router *bad = wh_map_get(&c->http->routers, "bad");
  assert_non_null(bad);
  assert_string_equal(bad->service, "s");
  assert_null(find_elem_error(c, "http.routers", "good"));
  assert_null(find_elem_error(c, "http.services", "s"));
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

static void test_unknown_top_level_key(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text("htp:\n  routers: {}\n", &errs);
  assert_int_equal(errs.n, 1);
  assert_string_equal(errs.items[0], "htp: unknown key (did you mean \"http\"?) (line 1)");
  assert_null(c->http);
  assert_int_equal(c->n_elem_errors, 0);
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

static void test_unknown_section_key_and_source(void **state) {
  (void)state;
  wh_errlist errs, perr;
  wh_errlist_init(&errs);
  wh_errlist_init(&perr);
  const char *y = "http:\n  routerz:\n    r: {}\n  services:\n    s: {weighted: {}}\n";
  wh_node *root = wh_yaml_parse(y, strlen(y), "x.yml", &perr);
  assert_non_null(root);
  wh_dyn_config *c = wh_dyn_config_decode(root, "x.yml", &errs);
  assert_int_equal(errs.n, 1);
  assert_string_equal(errs.items[0], "x.yml: http.routerz: unknown key (did you mean \"routers\"?) "
                                     "(line 2)");
  /* the rest of the section is decoded */
  assert_non_null(wh_map_get(&c->http->services, "s"));
  wh_dyn_config_free(c);
  wh_node_free(root);
  wh_errlist_free(&errs);
  wh_errlist_free(&perr);
}

static void test_section_not_a_map(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text("http: [1, 2]\ntcp:\n  routers: 5\n", &errs);
  assert_int_equal(errs.n, 2);
  assert_true(errlist_has(&errs, "http: expected a mapping"));
  assert_true(errlist_has(&errs, "tcp.routers: expected a mapping"));
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

static void test_service_two_kinds(void **state) {
  (void)state;
  expect_one_elem_error("http:\n  services:\n    s:\n      loadBalancer: {servers: []}\n"
                        "      weighted: {services: []}\n",
                        "http.services", "s",
                        "service must define exactly one of loadBalancer, weighted, mirroring, "
                        "failover");
}

static void test_service_no_kind(void **state) {
  (void)state;
  expect_one_elem_error("http:\n  services:\n    s: {}\n", "http.services", "s",
                        "service must define exactly one of loadBalancer, weighted, mirroring, "
                        "failover");
}

static void test_bad_server_url(void **state) {
  (void)state;
  expect_one_elem_error("http:\n  services:\n    s:\n      loadBalancer:\n        servers:\n"
                        "          - url: \"http://ok:80\"\n"
                        "          - url: \"ftp://10.0.0.1\"\n",
                        "http.services", "s", "loadBalancer.servers[1]: url: invalid server URL");
  expect_one_elem_error("http:\n  services:\n    s:\n      loadBalancer:\n        servers:\n"
                        "          - url: \"http://host:99999/\"\n",
                        "http.services", "s", "invalid server URL");
  expect_one_elem_error("http:\n  services:\n    s:\n      loadBalancer:\n        servers:\n"
                        "          - url: \"http://fd00::1:80\"\n",
                        "http.services", "s", "invalid server URL");
}

static void test_good_server_urls(void **state) {
  (void)state;
  expect_no_error("http:\n  services:\n    s:\n      loadBalancer:\n        servers:\n"
                  "          - url: \"h2c://grpc:50051\"\n"
                  "          - url: \"HTTPS://[::1]/p?q=1\"\n"
                  "          - url: \"http://backend\"\n"
                  "          - port: \"8080\"\n"
                  "            scheme: https\n");
}

static void test_server_label_fields(void **state) {
  (void)state;
  expect_one_elem_error("http:\n  services:\n    s:\n      loadBalancer:\n        servers:\n"
                        "          - port: \"99999\"\n",
                        "http.services", "s", "port: invalid port \"99999\"");
  expect_one_elem_error("http:\n  services:\n    s:\n      loadBalancer:\n        servers:\n"
                        "          - url: \"http://a:1\"\n            port: \"80\"\n",
                        "http.services", "s", "url cannot be combined with port or scheme");
}

static void test_negative_weight(void **state) {
  (void)state;
  expect_one_elem_error("http:\n  services:\n    s:\n      loadBalancer:\n        servers:\n"
                        "          - url: \"http://a:1\"\n            weight: -1\n",
                        "http.services", "s", "weight: must not be negative");
}

static void test_zero_weight_is_explicit(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text("http:\n  services:\n    s:\n      loadBalancer:\n"
                                 "        servers: [{url: \"http://a:1\", weight: 0}]\n",
                                 &errs);
  assert_int_equal(c->n_elem_errors, 0);
  wh_http_service *s = wh_map_get(&c->http->services, "s");
  wh_server *sv = s->load_balancer->servers.items;
  assert_int_equal(sv->weight, 0);
  assert_true(sv->weight_set);
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

static void test_bad_same_site(void **state) {
  (void)state;
  expect_one_elem_error("http:\n  services:\n    s:\n      loadBalancer:\n        sticky:\n"
                        "          cookie: {sameSite: sometimes}\n",
                        "http.services", "s", "sameSite: invalid value \"sometimes\"");
  expect_no_error("http:\n  services:\n    s:\n      loadBalancer:\n        sticky:\n"
                  "          cookie: {sameSite: STRICT}\n");
}

static void test_bad_health_check(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text("http:\n  services:\n    s:\n      loadBalancer:\n"
                                 "        healthCheck: {mode: tcp, status: 700}\n",
                                 &errs);
  const wh_elem_error *e = find_elem_error(c, "http.services", "s");
  assert_non_null(e);
  assert_true(errlist_has(&e->errs, "mode: invalid value \"tcp\""));
  assert_true(errlist_has(&e->errs, "status: invalid HTTP status 700"));
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
  expect_no_error("http:\n  services:\n    s:\n      loadBalancer:\n"
                  "        healthCheck: {mode: GRPC, status: 204}\n");
}

static void test_bad_rule_syntax(void **state) {
  (void)state;
  expect_one_elem_error("http:\n  routers:\n    r: {rule: \"Path(`/`)\", ruleSyntax: v4}\n",
                        "http.routers", "r", "ruleSyntax: invalid value \"v4\"");
  expect_one_elem_error("tcp:\n  routers:\n    r: {rule: \"HostSNI(`*`)\", ruleSyntax: V3}\n",
                        "tcp.routers", "r", "ruleSyntax: invalid value \"V3\"");
}

static void test_bad_tcp_address(void **state) {
  (void)state;
  expect_one_elem_error("tcp:\n  services:\n    s:\n      loadBalancer:\n        servers:\n"
                        "          - address: \"10.0.0.1\"\n",
                        "tcp.services", "s", "address: invalid address \"10.0.0.1\"");
  expect_one_elem_error("tcp:\n  services:\n    s:\n      loadBalancer:\n        servers:\n"
                        "          - address: \"::1:80\"\n",
                        "tcp.services", "s", "invalid address");
  expect_one_elem_error("udp:\n  services:\n    s:\n      loadBalancer:\n        servers:\n"
                        "          - address: \"dns:0\"\n",
                        "udp.services", "s", "invalid address");
  expect_no_error("tcp:\n  services:\n    s:\n      loadBalancer:\n        servers:\n"
                  "          - address: \"[fe80::1%eth0]:80\"\n"
                  "          - address: \"db.internal:5432\"\n"
                  "          - port: \"5432\"\n");
}

static void test_bad_tls_options(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text("tls:\n  options:\n    o:\n      minVersion: VersionTLS14\n"
                                 "      clientAuth: {clientAuthType: Sometimes}\n",
                                 &errs);
  const wh_elem_error *e = find_elem_error(c, "tls.options", "o");
  assert_non_null(e);
  assert_true(errlist_has(&e->errs, "minVersion: invalid value \"VersionTLS14\""));
  assert_true(errlist_has(&e->errs, "clientAuth.clientAuthType: invalid value \"Sometimes\""));
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
  expect_one_elem_error("tls:\n  options:\n    o: {minVersion: VersionTLS13, maxVersion: "
                        "VersionTLS12}\n",
                        "tls.options", "o", "minVersion VersionTLS13 is above maxVersion");
}

static void test_tls_certificate_elem_error(void **state) {
  (void)state;
  expect_one_elem_error("tls:\n  certificates:\n    - {certFile: /a.pem, keyFile: /a.key}\n"
                        "    - {certFile: /b.pem}\n",
                        "tls.certificates", "1", "certFile and keyFile are both required");
}

static void test_case_insensitive_names(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text("HTTP:\n  Services:\n    Web:\n      LOADBALANCER:\n"
                                 "        Servers: [{URL: \"http://a:1\"}]\n"
                                 "        passhostheader: false\n",
                                 &errs);
  assert_int_equal(errs.n, 0);
  assert_int_equal(c->n_elem_errors, 0);
  wh_http_service *s = wh_map_get(&c->http->services, "Web"); /* map key keeps its spelling */
  assert_non_null(s);
  assert_false(s->load_balancer->pass_host_header);
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

static void test_names_differing_in_case_merge(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text("http:\n  routers:\n    web:\n      rule: \"Path(`/`)\"\n"
                                 "    Web:\n      service: s\n",
                                 &errs);
  assert_int_equal(c->http->routers.n, 1);
  wh_http_router *r = wh_map_get(&c->http->routers, "Web"); /* first in sorted order */
  assert_non_null(r);
  assert_string_equal(r->rule, "Path(`/`)");
  assert_string_equal(r->service, "s");
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

static void test_at_in_name_rejected(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c =
      decode_text("http:\n  routers:\n    \"a@file\": {rule: \"Path(`/`)\"}\n", &errs);
  assert_int_equal(errs.n, 1);
  assert_non_null(strstr(errs.items[0], "http.routers.a@file: \"@\" is not allowed in names"));
  assert_int_equal(c->http->routers.n, 0);
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

static char *encode_str(const wh_schema *s, const void *obj) {
  cJSON *j = wh_schema_encode(s, obj);
  assert_non_null(j);
  char *out = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  assert_non_null(out);
  return out;
}

static void test_encode_round_trip(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text(full_yaml, &errs);
  const wh_http_router *r1 = wh_map_get(&c->http->routers, "r1");
  const wh_http_service *s1 = wh_map_get(&c->http->services, "s1");
  char *rj = encode_str(&wh_schema_http_router, r1);
  char *sj = encode_str(&wh_schema_http_service, s1);
  assert_non_null(strstr(rj, "\"entryPoints\":[\"websecure\"]"));
  assert_non_null(strstr(rj, "\"ruleSyntax\":\"v3\""));
  assert_non_null(strstr(rj, "\"certResolver\":\"le\""));
  assert_non_null(
      strstr(rj, "\"domains\":[{\"main\":\"a.com\",\"sans\":[\"b.a.com\",\"c.a.com\"]}]"));
  assert_non_null(strstr(sj, "\"loadBalancer\":{"));
  assert_non_null(strstr(sj, "\"passHostHeader\":false"));
  assert_non_null(strstr(sj, "\"httpOnly\":true"));
  assert_non_null(strstr(sj, "\"interval\":\"10s\""));
  assert_non_null(strstr(sj, "\"followRedirects\":true"));
  assert_non_null(strstr(sj, "\"preservePath\":true"));

  /* JSON is YAML: decode the encoding again and compare. */
  wh_errlist perr;
  wh_errlist_init(&perr);
  wh_node *rn = wh_yaml_parse(rj, strlen(rj), "r.json", &perr);
  wh_node *sn = wh_yaml_parse(sj, strlen(sj), "s.json", &perr);
  assert_non_null(rn);
  assert_non_null(sn);
  wh_http_router *r1b = wh_schema_new(&wh_schema_http_router);
  wh_http_service *s1b = wh_schema_new(&wh_schema_http_service);
  assert_int_equal(wh_schema_decode(&wh_schema_http_router, rn, r1b, "", &perr), 0);
  assert_int_equal(wh_schema_decode(&wh_schema_http_service, sn, s1b, "", &perr), 0);
  char *rj2 = encode_str(&wh_schema_http_router, r1b);
  char *sj2 = encode_str(&wh_schema_http_service, s1b);
  assert_string_equal(rj, rj2);
  assert_string_equal(sj, sj2);
  assert_true(wh_schema_equal(&wh_schema_http_router, r1, r1b));

  free(rj);
  free(sj);
  free(rj2);
  free(sj2);
  wh_schema_destroy(&wh_schema_http_router, r1b);
  wh_schema_destroy(&wh_schema_http_service, s1b);
  wh_node_free(rn);
  wh_node_free(sn);
  wh_errlist_free(&perr);
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

static void test_pass_host_header_always_encoded(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text("http:\n  services:\n    s:\n      loadBalancer:\n"
                                 "        servers: [{port: \"80\", scheme: http}]\n",
                                 &errs);
  wh_http_service *s = wh_map_get(&c->http->services, "s");
  assert_true(s->load_balancer->pass_host_header);
  char *j = encode_str(&wh_schema_http_service, s);
  assert_non_null(strstr(j, "\"passHostHeader\":true"));
  /* label-only fields never appear */
  assert_null(strstr(j, "\"port\""));
  assert_null(strstr(j, "\"scheme\""));
  free(j);
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

static void test_key_file_never_encoded(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text(full_yaml, &errs);
  char *j = encode_str(&wh_schema_dyn_config, c);
  assert_null(strstr(j, "keyFile"));
  assert_null(strstr(j, "/k.pem"));
  assert_non_null(strstr(j, "\"certFile\":\"/c.pem\""));
  assert_non_null(strstr(j, "\"serversTransports\":{\"st1\":"));
  free(j);
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

static void test_allow_empty_false_disables(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text("http:\n  routers:\n    r: {rule: \"Path(`/`)\", tls: \"false\"}\n"
                                 "    t: {rule: \"Path(`/`)\", tls: \"true\"}\n",
                                 &errs);
  assert_int_equal(c->n_elem_errors, 0);
  assert_null(((wh_http_router *)wh_map_get(&c->http->routers, "r"))->tls);
  assert_non_null(((wh_http_router *)wh_map_get(&c->http->routers, "t"))->tls);
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

static void test_element_not_a_mapping(void **state) {
  (void)state;
  expect_one_elem_error("http:\n  routers:\n    r: hello\n", "http.routers", "r",
                        "expected a mapping");
}

static void test_empty_config(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = decode_text("", &errs);
  assert_int_equal(errs.n, 0);
  assert_null(c->http);
  assert_null(c->tcp);
  wh_dyn_config_free(c);
  c = wh_dyn_config_decode(NULL, NULL, &errs);
  assert_non_null(c);
  assert_int_equal(errs.n, 0);
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_full_http),
      cmocka_unit_test(test_full_tcp_udp_tls),
      cmocka_unit_test(test_middleware_types),
      cmocka_unit_test(test_middleware_two_types),
      cmocka_unit_test(test_middleware_no_type),
      cmocka_unit_test(test_middleware_unknown_type),
      cmocka_unit_test(test_middleware_type_count),
      cmocka_unit_test(test_register_rejects_bad_tables),
      cmocka_unit_test(test_elem_error_attached_to_element),
      cmocka_unit_test(test_unknown_top_level_key),
      cmocka_unit_test(test_unknown_section_key_and_source),
      cmocka_unit_test(test_section_not_a_map),
      cmocka_unit_test(test_service_two_kinds),
      cmocka_unit_test(test_service_no_kind),
      cmocka_unit_test(test_bad_server_url),
      cmocka_unit_test(test_good_server_urls),
      cmocka_unit_test(test_server_label_fields),
      cmocka_unit_test(test_negative_weight),
      cmocka_unit_test(test_zero_weight_is_explicit),
      cmocka_unit_test(test_bad_same_site),
      cmocka_unit_test(test_bad_health_check),
      cmocka_unit_test(test_bad_rule_syntax),
      cmocka_unit_test(test_bad_tcp_address),
      cmocka_unit_test(test_bad_tls_options),
      cmocka_unit_test(test_tls_certificate_elem_error),
      cmocka_unit_test(test_case_insensitive_names),
      cmocka_unit_test(test_names_differing_in_case_merge),
      cmocka_unit_test(test_at_in_name_rejected),
      cmocka_unit_test(test_encode_round_trip),
      cmocka_unit_test(test_pass_host_header_always_encoded),
      cmocka_unit_test(test_key_file_never_encoded),
      cmocka_unit_test(test_allow_empty_false_disables),
      cmocka_unit_test(test_element_not_a_mapping),
      cmocka_unit_test(test_empty_config),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
