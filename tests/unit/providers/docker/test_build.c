/* wh_docker_build: filter, auto-creation, addresses, merging (§1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/providers/docker/docker_test_util.h"

typedef struct fx {
  wh_docker_provider cfg;
  wh_docker_opts opts;
  wh_docker_container *cs[8];
  size_t n;
  wh_dyn_config *out;
  wh_docker_reports reps;
} fx;

static fx F;

static int setup(void **state) {
  (void)state;
  memset(&F, 0, sizeof F);
  F.cfg.exposed_by_default = true;
  F.opts.cfg = &F.cfg;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  for (size_t i = 0; i < F.n; i++)
    wh_docker_container_free(F.cs[i]);
  wh_dyn_config_free(F.out);
  wh_docker_reports_free(&F.reps);
  return 0;
}

static void add(const char *id, const char *name, const char *extra, const char *const *kv) {
  F.cs[F.n++] = dt_container(id, name, extra, kv);
}

static void build(void) {
  F.out = wh_docker_build(&F.opts, F.cs, F.n, &F.reps);
  assert_non_null(F.out);
  assert_int_equal(F.reps.n, F.n);
}

static const wh_docker_report *rep(const char *name) {
  for (size_t i = 0; i < F.reps.n; i++)
    if (strcmp(F.reps.v[i].container, name) == 0)
      return &F.reps.v[i];
  fail_msg("no report for %s", name);
  return NULL;
}

static void assert_skipped(const char *name, const char *reason) {
  const wh_docker_report *r = rep(name);
  assert_true(r->skipped);
  assert_non_null(r->reason);
  if (!strstr(r->reason, reason))
    fprintf(stderr, "reason: %s\n", r->reason);
  assert_non_null(strstr(r->reason, reason));
}

static const char *url0(const char *svc) {
  const wh_server *s = dt_http_server(F.out, svc, 0);
  assert_non_null(s);
  return s->url;
}

#define ROUTER(n) ((const wh_http_router *)dt_get(F.out, "http.routers", n))

static void test_defaults(void **state) {
  (void)state;
  add("c1", "web", NULL, NULL);
  build();
  assert_false(rep("web")->skipped);
  assert_string_equal(ROUTER("web")->rule, "Host(`web`)");
  assert_string_equal(ROUTER("web")->service, "web");
  assert_string_equal(url0("web"), "http://172.17.0.2:80");
  assert_string_equal(rep("web")->address, "172.17.0.2:80");
  assert_string_equal(rep("web")->network, "bridge");
  assert_int_equal(F.out->n_elem_errors, 0);
}

static void test_exposed_by_default_false(void **state) {
  (void)state;
  F.cfg.exposed_by_default = false;
  const char *on[] = {"traefik.enable", "true", NULL};
  add("c1", "hidden", NULL, NULL);
  add("c2", "shown", NULL, on);
  build();
  assert_skipped("hidden", "exposedByDefault");
  assert_false(rep("shown")->skipped);
  assert_null(ROUTER("hidden"));
  assert_non_null(ROUTER("shown"));
}

static void test_enable_false_and_bad_bool(void **state) {
  (void)state;
  const char *off[] = {"traefik.enable", "false", NULL};
  const char *maybe[] = {"traefik.enable", "maybe", NULL};
  add("c1", "off", NULL, off);
  add("c2", "maybe", NULL, maybe);
  add("c3", "fine", NULL, NULL);
  build();
  assert_skipped("off", "traefik.enable=false");
  assert_skipped("maybe", "invalid boolean");
  assert_non_null(ROUTER("fine"));
  assert_null(ROUTER("maybe"));
}

static void test_constraints(void **state) {
  (void)state;
  F.cfg.constraints = "(Label(`team`, `a`) || LabelRegex(`env`, `pro`)) && !Label(`x`, `1`)";
  const char *a[] = {"team", "a", NULL};
  const char *prod[] = {"env", "production", NULL};
  const char *ax[] = {"team", "a", "x", "1", NULL};
  add("c1", "a", NULL, a);
  add("c2", "prod", NULL, prod);
  add("c3", "ax", NULL, ax);
  add("c4", "none", NULL, NULL);
  build();
  assert_false(rep("a")->skipped);
  assert_false(rep("prod")->skipped); /* unanchored */
  assert_skipped("ax", "constraints");
  assert_skipped("none", "constraints");
}

static void test_constraints_missing_label_is_empty(void **state) {
  (void)state;
  F.cfg.constraints = "LabelRegex(`env`, `^$`)";
  add("c1", "noenv", NULL, NULL);
  build();
  assert_false(rep("noenv")->skipped);
}

static void test_bad_constraints_skip_all(void **state) {
  (void)state;
  F.cfg.constraints = "Label(`a`, `b`) &&";
  add("c1", "x", NULL, NULL);
  build();
  assert_skipped("x", "invalid constraints");
  F.cfg.constraints = "LabelRegex(`a`, `(`)";
  wh_dyn_config_free(F.out);
  wh_docker_reports_free(&F.reps);
  build();
  assert_skipped("x", "bad regular expression");
  F.cfg.constraints = "Lable(`a`, `b`)";
  wh_dyn_config_free(F.out);
  wh_docker_reports_free(&F.reps);
  build();
  assert_skipped("x", "unknown matcher");
}

static void test_not_running(void **state) {
  (void)state;
  const char *allow[] = {"traefik.docker.allownonrunning", "true", NULL};
  const char *exited = "{\"State\":{\"Status\":\"exited\"},\"NetworkSettings\":{\"Networks\":{}}}";
  add("c1", "stopped", exited, NULL);
  add("c2", "kept", exited, allow);
  build();
  assert_skipped("stopped", "not running");
  assert_false(rep("kept")->skipped);
  const wh_http_service *s = dt_get(F.out, "http.services", "kept");
  assert_non_null(s);
  assert_int_equal(s->load_balancer->servers.n, 0);
  assert_non_null(ROUTER("kept"));
}

static void test_health(void **state) {
  (void)state;
  add("c1", "starting", "{\"State\":{\"Status\":\"running\",\"Health\":{\"Status\":\"starting\"}}}",
      NULL);
  add("c2", "sick", "{\"State\":{\"Status\":\"running\",\"Health\":{\"Status\":\"unhealthy\"}}}",
      NULL);
  add("c3", "ok", "{\"State\":{\"Status\":\"running\",\"Health\":{\"Status\":\"healthy\"}}}", NULL);
  build();
  assert_skipped("starting", "starting");
  assert_skipped("sick", "unhealthy");
  assert_string_equal(url0("ok"), "http://172.17.0.2:80");
}

static void test_health_allow_empty_services(void **state) {
  (void)state;
  F.cfg.allow_empty_services = true;
  add("c1", "sick", "{\"State\":{\"Status\":\"running\",\"Health\":{\"Status\":\"unhealthy\"}}}",
      NULL);
  build();
  assert_false(rep("sick")->skipped);
  const wh_http_service *s = dt_get(F.out, "http.services", "sick");
  assert_int_equal(s->load_balancer->servers.n, 0);
}

static void test_self_exclusion(void **state) {
  (void)state;
  F.opts.self_id = "5e1f";
  const char *kv[] = {"traefik.http.routers.api.rule", "Host(`proxy`)", NULL};
  add("5e1f00aa", "wharf", NULL, kv);
  add("0b0b", "other", NULL, NULL);
  build();
  assert_skipped("wharf", "own container");
  assert_null(ROUTER("api"));
  assert_non_null(ROUTER("other"));
}

static void test_port_lowest(void **state) {
  (void)state;
  add("c1", "multi",
      "{\"NetworkSettings\":{\"Ports\":{\"8080/tcp\":null,\"3000/tcp\":[{\"HostIp\":\"0.0.0.0\","
      "\"HostPort\":\"3000\"}],\"9000/udp\":null}}}",
      NULL);
  build();
  assert_string_equal(url0("multi"), "http://172.17.0.2:3000");
}

static void test_missing_port_skips(void **state) {
  (void)state;
  const char *kv[] = {"traefik.http.services.s.loadbalancer.server.port", "8000", NULL};
  add("c1", "noport", "{\"NetworkSettings\":{\"Ports\":{}}}", NULL);
  add("c2", "labelport", "{\"NetworkSettings\":{\"Ports\":{}}}", kv);
  build();
  assert_skipped("noport", "port is missing");
  assert_string_equal(url0("s"), "http://172.17.0.2:8000");
  assert_string_equal(ROUTER("labelport")->service, "s");
}

static void test_scheme_and_url_label(void **state) {
  (void)state;
  const char *kv[] = {"traefik.http.services.s.loadbalancer.server.scheme", "https",
                      "traefik.http.services.s.loadbalancer.server.port", "8443", NULL};
  const char *kv2[] = {"traefik.http.services.u.loadbalancer.server.url", "http://10.9.9.9:81",
                       NULL};
  add("c1", "tls", NULL, kv);
  add("c2", "ext", NULL, kv2);
  build();
  assert_string_equal(url0("s"), "https://172.17.0.2:8443");
  assert_null(dt_http_server(F.out, "s", 0)->port);
  assert_string_equal(url0("u"), "http://10.9.9.9:81");
}

#define TWO_NETS                                                                                   \
  "{\"NetworkSettings\":{\"Networks\":{\"zeta\":{\"IPAddress\":\"10.1.0.5\"},\"alpha\":"           \
  "{\"IPAddress\":\"10.2.0.5\"}}}}"

static void test_network_ambiguous_lowest_name(void **state) {
  (void)state;
  add("c1", "two", TWO_NETS, NULL);
  build();
  assert_string_equal(url0("two"), "http://10.2.0.5:80");
  assert_string_equal(rep("two")->network, "alpha");
  assert_true(dt_list_has(&rep("two")->warnings, "lowest name"));
}

static void test_network_provider_option(void **state) {
  (void)state;
  F.cfg.network = "zeta";
  add("c1", "two", TWO_NETS, NULL);
  build();
  assert_string_equal(url0("two"), "http://10.1.0.5:80");
  assert_int_equal(rep("two")->warnings.n, 0);
}

static void test_network_label_beats_option(void **state) {
  (void)state;
  F.cfg.network = "zeta";
  const char *kv[] = {"traefik.docker.network", "alpha", NULL};
  add("c1", "two", TWO_NETS, kv);
  build();
  assert_string_equal(url0("two"), "http://10.2.0.5:80");
}

static void test_network_missing_named_falls_back(void **state) {
  (void)state;
  const char *kv[] = {"traefik.docker.network", "nope", NULL};
  add("c1", "one", NULL, kv);
  build();
  assert_string_equal(url0("one"), "http://172.17.0.2:80");
  assert_true(dt_list_has(&rep("one")->warnings, "\"nope\" not found"));
}

static void test_ipv6_bracketed(void **state) {
  (void)state;
  add("c1", "v6",
      "{\"NetworkSettings\":{\"Networks\":{\"v6net\":{\"IPAddress\":\"\",\"GlobalIPv6Address\":"
      "\"fd00::2\"}}}}",
      NULL);
  const char *tcp[] = {"traefik.tcp.routers.t.rule", "HostSNI(`*`)", NULL};
  add("c2", "v6tcp",
      "{\"NetworkSettings\":{\"Networks\":{\"v6net\":{\"IPAddress\":\"\",\"GlobalIPv6Address\":"
      "\"fd00::3\"}}}}",
      tcp);
  build();
  assert_string_equal(url0("v6"), "http://[fd00::2]:80");
  const wh_tcp_service *s = dt_get(F.out, "tcp.services", "v6tcp");
  assert_non_null(s);
  assert_string_equal(((const wh_tcp_server *)s->load_balancer->servers.items)->address,
                      "[fd00::3]:80");
}

static void test_no_ip_skips(void **state) {
  (void)state;
  add("c1", "isolated",
      "{\"HostConfig\":{\"NetworkMode\":\"none\"},\"NetworkSettings\":{"
      "\"Networks\":{\"none\":{\"IPAddress\":\"\"}}}}",
      NULL);
  build();
  assert_skipped("isolated", "no IP address");
}

static void test_host_mode(void **state) {
  (void)state;
  add("c1", "hosted",
      "{\"HostConfig\":{\"NetworkMode\":\"host\"},\"NetworkSettings\":{\"Networks\":{\"host\":{}}}"
      "}",
      NULL);
  build();
  assert_string_equal(url0("hosted"), "http://127.0.0.1:80");
}

static const wh_docker_container *lookup(void *ctx, const char *id) {
  (void)ctx;
  for (size_t i = 0; i < F.n; i++)
    if (strcmp(F.cs[i]->id, id) == 0 || strcmp(F.cs[i]->name, id) == 0)
      return F.cs[i];
  return NULL;
}

static void test_container_mode(void **state) {
  (void)state;
  F.opts.lookup = lookup;
  const char *off[] = {"traefik.enable", "false", NULL};
  add("vpn1", "vpn",
      "{\"NetworkSettings\":{\"Networks\":{\"vpnnet\":{\"IPAddress\":\"10.8.0.2\"}}}}", off);
  add("c2", "sidecar",
      "{\"HostConfig\":{\"NetworkMode\":\"container:vpn1\"},\"NetworkSettings\":{\"Networks\":{}}}",
      NULL);
  add("c3", "orphan",
      "{\"HostConfig\":{\"NetworkMode\":\"container:gone\"},\"NetworkSettings\":{\"Networks\":{}}}",
      NULL);
  build();
  assert_string_equal(url0("sidecar"), "http://10.8.0.2:80");
  assert_skipped("orphan", "container:gone");
}

static void test_use_bind_port_ip(void **state) {
  (void)state;
  F.cfg.use_bind_port_ip = true;
  add("c1", "bound",
      "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"192.168.1.5\",\"HostPort\":"
      "\"8081\"}]}}}",
      NULL);
  add("c2", "anyaddr",
      "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":"
      "\"8082\"}]}}}",
      NULL);
  build();
  assert_string_equal(url0("bound"), "http://192.168.1.5:8081");
  assert_string_equal(url0("anyaddr"), "http://172.17.0.2:80");
}

static const char *const compose_kv[] = {"com.docker.compose.service", "web",
                                         "com.docker.compose.project", "shop", NULL};

static void test_compose_naming(void **state) {
  (void)state;
  add("c1", "shop_web_1", NULL, compose_kv);
  build();
  assert_string_equal(ROUTER("web-shop")->rule, "Host(`web-shop`)");
  assert_non_null(dt_get(F.out, "http.services", "web-shop"));
}

static void test_replicas_merge(void **state) {
  (void)state;
  const char *ips[] = {"10.0.0.3", "10.0.0.1", "10.0.0.2"};
  for (int i = 0; i < 3; i++) {
    char id[8], name[32], extra[160];
    snprintf(id, sizeof id, "r%d", i);
    snprintf(name, sizeof name, "shop_web_%d", i + 1);
    snprintf(extra, sizeof extra,
             "{\"NetworkSettings\":{\"Networks\":{\"shop_default\":{\"IPAddress\":\"%s\"}}}}",
             ips[i]);
    add(id, name, extra, compose_kv);
  }
  build();
  assert_int_equal(F.out->http->routers.n, 1);
  assert_int_equal(F.out->http->services.n, 1);
  const wh_http_service *s = dt_get(F.out, "http.services", "web-shop");
  assert_int_equal(s->load_balancer->servers.n, 3);
  /* merged in <service>-<id> order: r0, r1, r2 */
  assert_string_equal(url0("web-shop"), "http://10.0.0.3:80");
  assert_string_equal(dt_http_server(F.out, "web-shop", 2)->url, "http://10.0.0.2:80");
  assert_int_equal(F.out->n_elem_errors, 0);
}

static void test_replicas_dedup_by_url(void **state) {
  (void)state;
  add("r1", "a", NULL, compose_kv);
  add("r2", "b", NULL, compose_kv); /* same default IP */
  build();
  const wh_http_service *s = dt_get(F.out, "http.services", "web-shop");
  assert_int_equal(s->load_balancer->servers.n, 1);
}

static void test_conflicting_definitions(void **state) {
  (void)state;
  const char *a[] = {"traefik.http.routers.shared.rule", "Host(`a`)", NULL};
  const char *b[] = {"traefik.http.routers.shared.rule", "Host(`b`)", NULL};
  add("c1", "alpha", NULL, a);
  add("c2", "beta", NULL, b);
  build();
  assert_non_null(ROUTER("shared"));
  assert_true(dt_elem_error_has(F.out, "http.routers", "shared",
                                "defined multiple times with different configurations by "
                                "containers alpha, beta"));
  /* each container's service stays fine */
  assert_null(dt_elem_error(F.out, "http.services", "alpha"));
}

static void test_services_conflict_on_options(void **state) {
  (void)state;
  const char *a[] = {"traefik.http.services.s.loadbalancer.passhostheader", "false", NULL};
  const char *b[] = {"traefik.http.services.s.loadbalancer.passhostheader", "true", NULL};
  add("c1", "alpha", NULL, a);
  add("c2", "beta", NULL, b);
  build();
  assert_true(dt_elem_error_has(F.out, "http.services", "s", "defined multiple times"));
}

static void test_two_services_no_router(void **state) {
  (void)state;
  const char *kv[] = {"traefik.http.services.a.loadbalancer.server.port", "80",
                      "traefik.http.services.b.loadbalancer.server.port", "81", NULL};
  add("c1", "dual", NULL, kv);
  build();
  assert_int_equal(F.out->http->routers.n, 0);
  assert_true(dt_list_has(&rep("dual")->warnings, "several services"));
  assert_string_equal(url0("b"), "http://172.17.0.2:81");
}

static void test_router_cannot_link_multiple_services(void **state) {
  (void)state;
  const char *kv[] = {"traefik.http.services.a.loadbalancer.server.port",
                      "80",
                      "traefik.http.services.b.loadbalancer.server.port",
                      "81",
                      "traefik.http.routers.r.rule",
                      "Host(`x`)",
                      NULL};
  add("c1", "dual", NULL, kv);
  build();
  assert_true(dt_elem_error_has(F.out, "http.routers", "r", "multiple services (a, b)"));
}

static void test_cross_provider_refs_as_written(void **state) {
  (void)state;
  const char *kv[] = {"traefik.http.routers.r.rule",
                      "Host(`x`)",
                      "traefik.http.routers.r.service",
                      "api@internal",
                      "traefik.http.routers.r.middlewares",
                      "auth@file,local",
                      NULL};
  add("c1", "refs", NULL, kv);
  build();
  assert_string_equal(ROUTER("r")->service, "api@internal");
  assert_string_equal(ROUTER("r")->middlewares.v[0], "auth@file");
  assert_non_null(dt_get(F.out, "http.services", "refs")); /* still auto-created */
}

static void test_middlewares_in_labels(void **state) {
  (void)state;
  const char *kv[] = {"traefik.http.middlewares.strip.stripprefix.prefixes",
                      "/api",
                      "traefik.http.routers.r.middlewares",
                      "strip",
                      "traefik.http.routers.r.rule",
                      "PathPrefix(`/api`)",
                      NULL};
  add("c1", "mw", NULL, kv);
  build();
  assert_non_null(dt_get(F.out, "http.middlewares", "strip"));
  assert_null(dt_elem_error(F.out, "http.middlewares", "strip"));
  assert_string_equal(ROUTER("r")->service, "mw");
}

static void test_tcp_only_no_http(void **state) {
  (void)state;
  const char *kv[] = {"traefik.tcp.routers.db.rule",
                      "HostSNI(`*`)",
                      "traefik.tcp.routers.db.entrypoints",
                      "pg",
                      "traefik.tcp.services.db.loadbalancer.server.port",
                      "5432",
                      "traefik.tcp.routers.norule.entrypoints",
                      "pg",
                      NULL};
  add("c1", "pg", NULL, kv);
  build();
  assert_true(!F.out->http || F.out->http->routers.n == 0);
  assert_true(!F.out->http || F.out->http->services.n == 0);
  const wh_tcp_router *r = dt_get(F.out, "tcp.routers", "db");
  assert_string_equal(r->service, "db");
  const wh_tcp_service *s = dt_get(F.out, "tcp.services", "db");
  const wh_tcp_server *sv = s->load_balancer->servers.items;
  assert_string_equal(sv->address, "172.17.0.2:5432");
  assert_null(sv->port);
  assert_true(dt_elem_error_has(F.out, "tcp.routers", "norule", "empty rule"));
}

static void test_tcp_router_gets_auto_service(void **state) {
  (void)state;
  const char *kv[] = {"traefik.tcp.routers.t.rule", "HostSNI(`*`)", NULL};
  add("c1", "tcponly", NULL, kv);
  build();
  assert_string_equal(((const wh_tcp_router *)dt_get(F.out, "tcp.routers", "t"))->service,
                      "tcponly");
}

static void test_udp(void **state) {
  (void)state;
  const char *kv[] = {"traefik.udp.routers.dns.entrypoints", "dns",
                      "traefik.udp.services.dns.loadbalancer.server.port", "53", NULL};
  add("c1", "dns", "{\"NetworkSettings\":{\"Ports\":{\"53/udp\":null}}}", kv);
  build();
  const wh_udp_service *s = dt_get(F.out, "udp.services", "dns");
  assert_string_equal(((const wh_udp_server *)s->load_balancer->servers.items)->address,
                      "172.17.0.2:53");
  assert_string_equal(((const wh_udp_router *)dt_get(F.out, "udp.routers", "dns"))->service, "dns");
  assert_true(!F.out->http || F.out->http->routers.n == 0);
}

static void test_tcp_and_http_labels(void **state) {
  (void)state;
  const char *kv[] = {"traefik.tcp.routers.t.rule", "HostSNI(`*`)", "traefik.http.routers.h.rule",
                      "Host(`h`)", NULL};
  add("c1", "both", NULL, kv);
  build();
  assert_non_null(ROUTER("h"));
  assert_non_null(dt_get(F.out, "tcp.routers", "t"));
}

static void test_default_rule_injection_refused(void **state) {
  (void)state;
  F.cfg.default_rule = "Host(`{{ index .Labels \"host\" }}`)";
  const char *evil[] = {"host", "a`) || Host(`victim.example", NULL};
  const char *good[] = {"host", "good.example", NULL};
  add("c1", "evil", NULL, evil);
  add("c2", "good", NULL, good);
  build();
  assert_true(dt_elem_error_has(F.out, "http.routers", "evil", "refused"));
  assert_string_equal(ROUTER("good")->rule, "Host(`good.example`)");
}

static void test_default_rule_empty_drops_router(void **state) {
  (void)state;
  F.cfg.default_rule = "{{ index .Labels \"rule\" }}";
  add("c1", "norule", NULL, NULL);
  build();
  assert_null(ROUTER("norule"));
  assert_true(dt_list_has(&rep("norule")->warnings, "renders empty"));
  assert_non_null(dt_get(F.out, "http.services", "norule"));
}

static void test_rule_label_with_or_stays_in_its_router(void **state) {
  (void)state;
  const char *a[] = {"traefik.http.routers.a.rule", "Host(`a`) || Host(`b`)", NULL};
  add("c1", "ca", NULL, a);
  add("c2", "cb", NULL, NULL);
  build();
  assert_string_equal(ROUTER("a")->rule, "Host(`a`) || Host(`b`)");
  assert_string_equal(ROUTER("cb")->rule, "Host(`cb`)");
}

static void test_bad_label_disables_only_element(void **state) {
  (void)state;
  const char *kv[] = {"traefik.http.routers.bad.rul",
                      "Host(`x`)",
                      "traefik.http.routers.good.rule",
                      "Host(`y`)",
                      "traefik.htp.routers.z.rule",
                      "Host(`z`)",
                      NULL};
  add("c1", "mixed", NULL, kv);
  build();
  const wh_docker_report *r = rep("mixed");
  assert_false(r->skipped);
  assert_true(dt_elem_error_has(F.out, "http.routers", "bad", "did you mean \"rule\""));
  assert_null(dt_elem_error(F.out, "http.routers", "good"));
  assert_true(dt_list_has(&r->errors, "http.routers.bad: "));
  assert_true(dt_list_has(&r->errors, "traefik.htp"));
  assert_string_equal(ROUTER("good")->service, "mixed");
}

static void test_tls_store_default(void **state) {
  (void)state;
  const char *kv[] = {"traefik.tls.stores.default.defaultgeneratedcert.resolver", "le",
                      "traefik.tls.stores.default.defaultgeneratedcert.domain.main", "ex.com",
                      NULL};
  add("c1", "store", NULL, kv);
  build();
  const wh_tls_store *s = dt_get(F.out, "tls.stores", "default");
  assert_non_null(s);
  assert_string_equal(s->default_generated_cert->domain->main, "ex.com");
  assert_non_null(ROUTER("store"));
}

static void test_reports_for_every_container_and_deterministic(void **state) {
  (void)state;
  add("c2", "b", NULL, NULL);
  add("c1", "a", NULL, NULL);
  build();
  assert_string_equal(F.reps.v[0].container, "a");
  assert_string_equal(F.reps.v[1].container, "b");
  wh_docker_container *t = F.cs[0];
  F.cs[0] = F.cs[1];
  F.cs[1] = t;
  wh_dyn_config *again = wh_docker_build(&F.opts, F.cs, F.n, NULL);
  assert_true(wh_schema_equal(&wh_schema_dyn_config, F.out, again));
  wh_dyn_config_free(again);
}

static void test_no_containers(void **state) {
  (void)state;
  build();
  assert_int_equal(F.reps.n, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  dt_register();
  const struct CMUnitTest tests[] = {
      T(test_defaults),
      T(test_exposed_by_default_false),
      T(test_enable_false_and_bad_bool),
      T(test_constraints),
      T(test_constraints_missing_label_is_empty),
      T(test_bad_constraints_skip_all),
      T(test_not_running),
      T(test_health),
      T(test_health_allow_empty_services),
      T(test_self_exclusion),
      T(test_port_lowest),
      T(test_missing_port_skips),
      T(test_scheme_and_url_label),
      T(test_network_ambiguous_lowest_name),
      T(test_network_provider_option),
      T(test_network_label_beats_option),
      T(test_network_missing_named_falls_back),
      T(test_ipv6_bracketed),
      T(test_no_ip_skips),
      T(test_host_mode),
      T(test_container_mode),
      T(test_use_bind_port_ip),
      T(test_compose_naming),
      T(test_replicas_merge),
      T(test_replicas_dedup_by_url),
      T(test_conflicting_definitions),
      T(test_services_conflict_on_options),
      T(test_two_services_no_router),
      T(test_router_cannot_link_multiple_services),
      T(test_cross_provider_refs_as_written),
      T(test_middlewares_in_labels),
      T(test_tcp_only_no_http),
      T(test_tcp_router_gets_auto_service),
      T(test_udp),
      T(test_tcp_and_http_labels),
      T(test_default_rule_injection_refused),
      T(test_default_rule_empty_drops_router),
      T(test_rule_label_with_or_stays_in_its_router),
      T(test_bad_label_disables_only_element),
      T(test_tls_store_default),
      T(test_reports_for_every_container_and_deterministic),
      T(test_no_containers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
