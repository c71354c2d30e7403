/* Label grammar (TRAEFIK-COMPAT.md §2) and provider labels: one table row
 * per rule; each row decodes the labels of one container. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "providers/docker/labels.h"
#include "tests/unit/providers/docker/docker_test_util.h"

typedef struct lrow {
  const char *desc;
  const char *kv[12];
  const char *top_err; /* substring of a decode error outside elements, NULL = none */
  const char *sec;     /* element expected present, NULL = no element check */
  const char *elem;
  const char *elem_err; /* substring of that element's error, NULL = no error */
  void (*check)(const wh_dyn_config *c);
} lrow;

#define R(n) ((const wh_http_router *)dt_get(c, "http.routers", n))
#define S(n) ((const wh_http_service *)dt_get(c, "http.services", n))

static void ck_rule(const wh_dyn_config *c) {
  assert_string_equal(R("r")->rule, "Host(`a.example`)");
}
static void ck_eps(const wh_dyn_config *c) {
  assert_int_equal(R("r")->entry_points.n, 2);
  assert_string_equal(R("r")->entry_points.v[1], "websecure");
}
static void ck_mw_order(const wh_dyn_config *c) {
  assert_int_equal(R("r")->middlewares.n, 2);
  assert_string_equal(R("r")->middlewares.v[0], "b@file");
  assert_string_equal(R("r")->middlewares.v[1], "a");
}
static void ck_prio(const wh_dyn_config *c) {
  assert_int_equal(R("r")->priority, 42);
}
static void ck_tls_on(const wh_dyn_config *c) {
  assert_non_null(R("r")->tls);
}
static void ck_tls_off(const wh_dyn_config *c) {
  assert_null(R("r")->tls);
}
static void ck_tls_resolver(const wh_dyn_config *c) {
  assert_non_null(R("r")->tls);
  assert_string_equal(R("r")->tls->cert_resolver, "le");
}
static void ck_domains(const wh_dyn_config *c) {
  const wh_router_tls *t = R("r")->tls;
  assert_non_null(t);
  assert_int_equal(t->domains.n, 2);
  const wh_domain *d = t->domains.items;
  assert_string_equal(d[0].main, "a.example");
  assert_int_equal(d[0].sans.n, 2);
  assert_string_equal(d[0].sans.v[1], "c.example");
  assert_string_equal(d[1].main, "z.example");
}
static void ck_port(const wh_dyn_config *c) {
  const wh_server *s = dt_http_server(c, "s", 0);
  assert_non_null(s);
  assert_string_equal(s->port, "8080");
  assert_int_equal(S("s")->load_balancer->servers.n, 1);
}
static void ck_scheme(const wh_dyn_config *c) {
  assert_string_equal(dt_http_server(c, "s", 0)->scheme, "https");
}
static void ck_url(const wh_dyn_config *c) {
  assert_string_equal(dt_http_server(c, "s", 0)->url, "http://10.0.0.9:81");
}
static void ck_cookie_on(const wh_dyn_config *c) {
  assert_non_null(S("s")->load_balancer->sticky);
  assert_non_null(S("s")->load_balancer->sticky->cookie);
}
static void ck_cookie_name(const wh_dyn_config *c) {
  assert_string_equal(S("s")->load_balancer->sticky->cookie->name, "sid");
}
static void ck_cookie_off(const wh_dyn_config *c) {
  const wh_sticky *st = S("s")->load_balancer->sticky;
  assert_true(!st || !st->cookie);
}
static void ck_passhost(const wh_dyn_config *c) {
  assert_false(S("s")->load_balancer->pass_host_header);
}
static void ck_hc(const wh_dyn_config *c) {
  const wh_health_check *h = S("s")->load_balancer->health_check;
  assert_non_null(h);
  assert_string_equal(h->path, "/health");
  assert_int_equal(h->interval, 10LL * 1000000000LL);
  assert_string_equal(h->headers.keys[0], "X-Probe");
}
static void ck_tcp(const wh_dyn_config *c) {
  const wh_tcp_router *r = dt_get(c, "tcp.routers", "t");
  assert_string_equal(r->rule, "HostSNI(`db.example`)");
  assert_non_null(r->tls);
  assert_true(r->tls->passthrough);
  const wh_tcp_service *s = dt_get(c, "tcp.services", "t");
  assert_int_equal(s->load_balancer->servers.n, 1);
  const wh_tcp_server *sv = s->load_balancer->servers.items;
  assert_string_equal(sv->port, "5432");
  assert_true(sv->tls);
}
static void ck_udp(const wh_dyn_config *c) {
  const wh_udp_router *r = dt_get(c, "udp.routers", "u");
  assert_string_equal(r->entry_points.v[0], "dns");
  const wh_udp_service *s = dt_get(c, "udp.services", "u");
  assert_string_equal(((const wh_udp_server *)s->load_balancer->servers.items)->port, "53");
}
static void ck_case_merge(const wh_dyn_config *c) {
  assert_int_equal(c->http->routers.n, 1);
  const wh_http_router *r = R("R");
  assert_non_null(r);
  assert_string_equal(r->rule, "Path(`/x`)");
  assert_string_equal(r->service, "s");
}
static void ck_other_router_fine(const wh_dyn_config *c) {
  assert_non_null(R("good"));
  assert_null(dt_elem_error(c, "http.routers", "good"));
}
static void ck_verbatim_rule(const wh_dyn_config *c) {
  /* The whole value is this router's rule; nothing leaks into r2. */
  assert_string_equal(R("r")->rule, "Host(`a`) || Host(`evil`)");
  assert_string_equal(R("r2")->rule, "Host(`b`)");
}
static void ck_backtick_service(const wh_dyn_config *c) {
  assert_string_equal(R("r")->service, "x`) || Host(`y");
}
static void ck_nothing(const wh_dyn_config *c) {
  assert_true(!c->http || c->http->routers.n == 0);
  assert_int_equal(c->n_elem_errors, 0);
}
static void ck_store(const wh_dyn_config *c) {
  const wh_tls_store *s = dt_get(c, "tls.stores", "default");
  assert_non_null(s);
  assert_non_null(s->default_generated_cert);
  assert_string_equal(s->default_generated_cert->resolver, "le");
}

#define RT "traefik.http.routers.r."
#define SV "traefik.http.services.s.loadbalancer."

static const lrow rows[] = {
    {"rule", {RT "rule", "Host(`a.example`)"}, NULL, "http.routers", "r", NULL, ck_rule},
    {"field names are case-insensitive",
     {"traefik.http.routers.r.EntryPoints", "web, websecure"},
     NULL,
     "http.routers",
     "r",
     NULL,
     ck_eps},
    {"middlewares keep their order and cross-provider names",
     {RT "middlewares", "b@file,a"},
     NULL,
     "http.routers",
     "r",
     NULL,
     ck_mw_order},
    {"priority", {RT "priority", "42"}, NULL, "http.routers", "r", NULL, ck_prio},
    {"bad priority disables the router",
     {RT "priority", "high"},
     NULL,
     "http.routers",
     "r",
     "priority",
     NULL},
    {"tls=true", {RT "tls", "true"}, NULL, "http.routers", "r", NULL, ck_tls_on},
    {"tls=TRUE any case", {RT "tls", "TRUE"}, NULL, "http.routers", "r", NULL, ck_tls_on},
    {"tls=false",
     {RT "rule", "Host(`a`)", RT "tls", "false"},
     NULL,
     "http.routers",
     "r",
     NULL,
     ck_tls_off},
    {"tls=false disables its sub-keys",
     {RT "tls", "false", RT "tls.certresolver", "le"},
     NULL,
     "http.routers",
     "r",
     NULL,
     ck_tls_off},
    {"tls=true with sub-keys",
     {RT "tls", "true", RT "tls.certresolver", "le"},
     NULL,
     "http.routers",
     "r",
     NULL,
     ck_tls_resolver},
    {"a sub-key creates tls",
     {RT "tls.certresolver", "le"},
     NULL,
     "http.routers",
     "r",
     NULL,
     ck_tls_resolver},
    {"struct list indices",
     {RT "tls.domains[1].main", "z.example", RT "tls.domains[0].main", "a.example",
      RT "tls.domains[0].sans", "b.example,c.example"},
     NULL,
     "http.routers",
     "r",
     NULL,
     ck_domains},
    {"bad index", {RT "tls.domains[x].main", "a"}, NULL, "http.routers", "r", "bad index", NULL},
    {"segment starting with [",
     {RT "tls.[0].main", "a"},
     NULL,
     "http.routers",
     "r",
     "may not start",
     NULL},
    {"typo rul= disables the router with a suggestion",
     {RT "rul", "Host(`a`)"},
     NULL,
     "http.routers",
     "r",
     "did you mean \"rule\"",
     NULL},
    {"unknown field disables only its element",
     {RT "rul", "Host(`a`)", "traefik.http.routers.good.rule", "Host(`b`)"},
     NULL,
     "http.routers",
     "r",
     "unknown key",
     ck_other_router_fine},
    {"traefik.http. (empty segment)",
     {"traefik.http.", "x"},
     "empty segment",
     NULL,
     NULL,
     NULL,
     ck_nothing},
    {"empty segment in the middle",
     {"traefik.http..routers.r.rule", "x"},
     "empty segment",
     NULL,
     NULL,
     NULL,
     ck_nothing},
    {"prefix must be lowercase",
     {"Traefik.http.routers.r.rule", "Host(`a`)"},
     "lowercase \"traefik\"",
     NULL,
     NULL,
     NULL,
     ck_nothing},
    {"unknown section with suggestion",
     {"traefik.htp.routers.r.rule", "x"},
     "did you mean \"traefik.http\"",
     NULL,
     NULL,
     NULL,
     ck_nothing},
    {"unknown kind with suggestion",
     {"traefik.http.routerz.r.rule", "x"},
     "did you mean \"routers\"",
     NULL,
     NULL,
     NULL,
     ck_nothing},
    {"tls options cannot come from labels",
     {"traefik.tls.options.x.minVersion", "VersionTLS13"},
     "stores.default",
     NULL,
     NULL,
     NULL,
     ck_nothing},
    {"servers transports cannot come from labels",
     {"traefik.http.serversTransports.t.insecureSkipVerify", "true"},
     "cannot be defined",
     NULL,
     NULL,
     NULL,
     ck_nothing},
    {"@ in a name", {"traefik.http.routers.a@b.rule", "x"}, "\"@\"", NULL, NULL, NULL, ck_nothing},
    {"element given a scalar",
     {"traefik.http.routers.r", "x"},
     NULL,
     "http.routers",
     "r",
     "expected a mapping",
     NULL},
    {"tls store default",
     {"traefik.tls.stores.default.defaultGeneratedCert.resolver", "le"},
     NULL,
     "tls.stores",
     "default",
     NULL,
     ck_store},
    {"server.port", {SV "server.port", "8080"}, NULL, "http.services", "s", NULL, ck_port},
    {"server.scheme", {SV "server.scheme", "https"}, NULL, "http.services", "s", NULL, ck_scheme},
    {"bad scheme", {SV "server.scheme", "ftp"}, NULL, "http.services", "s", "scheme", NULL},
    {"bad port", {SV "server.port", "99999"}, NULL, "http.services", "s", "port", NULL},
    {"server.url verbatim",
     {SV "server.url", "http://10.0.0.9:81"},
     NULL,
     "http.services",
     "s",
     NULL,
     ck_url},
    {"server.url with port is an error",
     {SV "server.url", "http://10.0.0.9:81", SV "server.port", "80"},
     NULL,
     "http.services",
     "s",
     "cannot be combined",
     NULL},
    {"server typo named as the user wrote it",
     {SV "server.prot", "80"},
     NULL,
     "http.services",
     "s",
     "server.prot",
     NULL},
    {"servers list is not a label",
     {SV "servers[0].url", "http://x"},
     NULL,
     "http.services",
     "s",
     "use loadbalancer.server",
     NULL},
    {"sticky.cookie=true",
     {SV "sticky.cookie", "true"},
     NULL,
     "http.services",
     "s",
     NULL,
     ck_cookie_on},
    {"sticky.cookie.name",
     {SV "sticky.cookie.name", "sid"},
     NULL,
     "http.services",
     "s",
     NULL,
     ck_cookie_name},
    {"sticky.cookie=false",
     {SV "sticky.cookie", "false", SV "server.port", "80"},
     NULL,
     "http.services",
     "s",
     NULL,
     ck_cookie_off},
    {"passhostheader=false",
     {SV "passhostheader", "false"},
     NULL,
     "http.services",
     "s",
     NULL,
     ck_passhost},
    {"healthcheck",
     {SV "healthcheck.path", "/health", SV "healthcheck.interval", "10s",
      SV "healthcheck.headers.X-Probe", "1"},
     NULL,
     "http.services",
     "s",
     NULL,
     ck_hc},
    {"bad duration",
     {SV "healthcheck.interval", "soon"},
     NULL,
     "http.services",
     "s",
     "interval",
     NULL},
    {"value on a plain struct key",
     {"traefik.http.services.s.loadbalancer", "yes"},
     NULL,
     "http.services",
     "s",
     "mapping",
     NULL},
    {"middleware headers map keeps spelling",
     {"traefik.http.middlewares.m.headers.customrequestheaders.X-Foo", "bar"},
     NULL,
     "http.middlewares",
     "m",
     NULL,
     NULL},
    {"middleware compress=true",
     {"traefik.http.middlewares.m.compress", "true"},
     NULL,
     "http.middlewares",
     "m",
     NULL,
     NULL},
    {"middleware type typo",
     {"traefik.http.middlewares.m.headerz.frameDeny", "true"},
     NULL,
     "http.middlewares",
     "m",
     "did you mean \"headers\"",
     NULL},
    {"middleware bad value",
     {"traefik.http.middlewares.m.ratelimit.average", "lots"},
     NULL,
     "http.middlewares",
     "m",
     "average",
     NULL},
    {"tcp router and service",
     {"traefik.tcp.routers.t.rule", "HostSNI(`db.example`)",
      "traefik.tcp.routers.t.tls.passthrough", "true",
      "traefik.tcp.services.t.loadbalancer.server.port", "5432",
      "traefik.tcp.services.t.loadbalancer.server.tls", "true"},
     NULL,
     "tcp.routers",
     "t",
     NULL,
     ck_tcp},
    {"udp router and service",
     {"traefik.udp.routers.u.entrypoints", "dns", "traefik.udp.services.u.loadbalancer.server.port",
      "53"},
     NULL,
     "udp.routers",
     "u",
     NULL,
     ck_udp},
    {"udp routers have no rule",
     {"traefik.udp.routers.u.rule", "x"},
     NULL,
     "udp.routers",
     "u",
     "unknown key",
     NULL},
    {"names differing in case are one element",
     {"traefik.http.routers.R.rule", "Path(`/x`)", "traefik.http.routers.r.service", "s"},
     NULL,
     "http.routers",
     "R",
     NULL,
     ck_case_merge},
    {"a rule label is the whole rule of its own router",
     {RT "rule", "Host(`a`) || Host(`evil`)", "traefik.http.routers.r2.rule", "Host(`b`)"},
     NULL,
     "http.routers",
     "r",
     NULL,
     ck_verbatim_rule},
    {"a backtick in a reference is data",
     {RT "service", "x`) || Host(`y"},
     NULL,
     "http.routers",
     "r",
     NULL,
     ck_backtick_service},
    {"provider and foreign labels are not dynamic configuration",
     {"traefik.enable", "true", "traefik.docker.network", "n", "com.example.x", "1"},
     NULL,
     NULL,
     NULL,
     NULL,
     ck_nothing},
};

static void run_row(void **state) {
  const lrow *r = *state;
  wh_docker_container *c = dt_container("abc", "app", NULL, r->kv);
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *cfg = wh_docker_labels_decode(c, &errs);
  assert_non_null(cfg);
  if (r->top_err) {
    if (!dt_list_has(&errs, r->top_err))
      dt_dump_list("error", &errs);
    assert_true(dt_list_has(&errs, r->top_err));
  } else {
    if (errs.n)
      dt_dump_list("unexpected error", &errs);
    assert_int_equal(errs.n, 0);
  }
  if (r->sec) {
    assert_non_null(dt_get(cfg, r->sec, r->elem));
    const wh_elem_error *e = dt_elem_error(cfg, r->sec, r->elem);
    if (r->elem_err) {
      assert_non_null(e);
      if (!dt_list_has(&e->errs, r->elem_err))
        dt_dump_list("elem error", &e->errs);
      assert_true(dt_list_has(&e->errs, r->elem_err));
    } else {
      if (e)
        dt_dump_list("unexpected elem error", &e->errs);
      assert_null(e);
    }
  }
  if (r->check)
    r->check(cfg);
  wh_dyn_config_free(cfg);
  wh_errlist_free(&errs);
  wh_docker_container_free(c);
}

/* ---- provider labels ---- */

static void plabels(const char *const *kv, wh_docker_plabels *p, wh_errlist *e, int want_rc) {
  wh_docker_container *c = dt_container("abc", "app", NULL, kv);
  wh_errlist_init(e);
  assert_int_equal(wh_docker_plabels_parse(c, p, e), want_rc);
  wh_docker_container_free(c);
}

static void test_plabels_enable_bad_bool(void **state) {
  (void)state;
  const char *kv[] = {"traefik.enable", "maybe", NULL};
  wh_docker_plabels p;
  wh_errlist e;
  plabels(kv, &p, &e, WH_EINVAL);
  assert_true(dt_list_has(&e, "invalid boolean \"maybe\""));
  wh_docker_plabels_free(&p);
  wh_errlist_free(&e);
}

static void test_plabels_values(void **state) {
  (void)state;
  const char *kv[] = {"traefik.enable",
                      "TRUE",
                      "traefik.docker.network",
                      "shop_front",
                      "traefik.docker.allownonrunning",
                      "1",
                      NULL};
  wh_docker_plabels p;
  wh_errlist e;
  plabels(kv, &p, &e, 0);
  assert_int_equal(p.enable, 1);
  assert_string_equal(p.network, "shop_front");
  assert_true(p.allow_nonrunning);
  wh_docker_plabels_free(&p);
  wh_errlist_free(&e);
}

static void test_plabels_absent(void **state) {
  (void)state;
  wh_docker_plabels p;
  wh_errlist e;
  plabels(NULL, &p, &e, 0);
  assert_int_equal(p.enable, -1);
  assert_null(p.network);
  wh_docker_plabels_free(&p);
  wh_errlist_free(&e);
}

static void test_plabels_unknown_docker_key(void **state) {
  (void)state;
  const char *kv[] = {"traefik.docker.netwrok", "x", NULL};
  wh_docker_plabels p;
  wh_errlist e;
  plabels(kv, &p, &e, WH_EINVAL);
  assert_true(dt_list_has(&e, "did you mean \"traefik.docker.network\""));
  wh_docker_plabels_free(&p);
  wh_errlist_free(&e);
}

/* ---- inspect payload ---- */

static void test_parse_fields(void **state) {
  (void)state;
  const char *kv[] = {"b", "2", "a", "1", NULL};
  wh_docker_container *c = dt_container(
      "0123456789ab", "my_app.1",
      "{\"State\":{\"Status\":\"running\",\"Health\":{\"Status\":\"starting\"}},"
      "\"NetworkSettings\":{\"Ports\":{\"8080/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":"
      "\"18080\"}],\"53/udp\":null,\"443\":null},\"Networks\":{\"z\":{\"IPAddress\":\"10.0.0.3\"},"
      "\"a\":{\"IPAddress\":\"\",\"GlobalIPv6Address\":\"fd00::3\"}}}}",
      kv);
  assert_string_equal(c->name, "my_app.1");
  assert_string_equal(c->health, "starting");
  assert_string_equal(c->label_keys[0], "a");
  assert_int_equal(c->nports, 3);
  assert_int_equal(c->ports[0].port, 53);
  assert_string_equal(c->ports[0].proto, "udp");
  assert_int_equal(c->ports[1].port, 443);
  assert_string_equal(c->ports[1].proto, "tcp");
  assert_string_equal(c->ports[2].host_port, "18080");
  assert_null(c->ports[0].host_ip);
  assert_string_equal(c->networks[0].name, "a");
  assert_string_equal(c->networks[0].ip6, "fd00::3");
  wh_docker_container_free(c);
}

static void test_parse_refuses_huge_label(void **state) {
  (void)state;
  size_t n = 1024 * 1024 + 1;
  char *big = malloc(n + 1);
  memset(big, 'a', n);
  big[n] = '\0';
  const char *kv[] = {"traefik.http.routers.r.rule", big, NULL};
  cJSON *j = dt_inspect("abc", "big", NULL, kv);
  wh_errlist e;
  wh_errlist_init(&e);
  assert_null(wh_docker_container_parse(j, &e));
  assert_true(dt_list_has(&e, "larger than 1 MiB"));
  wh_errlist_free(&e);
  cJSON_Delete(j);
  free(big);
}

static void test_parse_not_a_container(void **state) {
  (void)state;
  cJSON *j = cJSON_Parse("{\"message\":\"No such container\"}");
  wh_errlist e;
  wh_errlist_init(&e);
  assert_null(wh_docker_container_parse(j, &e));
  assert_int_equal(e.n, 1);
  wh_errlist_free(&e);
  cJSON_Delete(j);
}

int main(void) {
  dt_register();
  enum { NROWS = sizeof rows / sizeof rows[0] };
  struct CMUnitTest tests[NROWS + 7];
  for (size_t i = 0; i < NROWS; i++)
    tests[i] = (struct CMUnitTest){rows[i].desc, run_row, NULL, NULL, (void *)&rows[i]};
  const struct CMUnitTest more[] = {
      cmocka_unit_test(test_plabels_enable_bad_bool),
      cmocka_unit_test(test_plabels_values),
      cmocka_unit_test(test_plabels_absent),
      cmocka_unit_test(test_plabels_unknown_docker_key),
      cmocka_unit_test(test_parse_fields),
      cmocka_unit_test(test_parse_refuses_huge_label),
      cmocka_unit_test(test_parse_not_a_container),
  };
  memcpy(tests + NROWS, more, sizeof more);
  return _cmocka_run_group_tests("docker_labels", tests, NROWS + 7, NULL, NULL);
}
