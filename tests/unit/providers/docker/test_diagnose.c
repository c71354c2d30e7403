/* The diagnosis recorded by wh_docker_build_diagnosed (providers/docker/
 * diagnose.h): every decision with its reason, labels filtered to traefik.*,
 * and the API view of it (lib/admin/containers.h) joined with a runtime
 * built from the same configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/admin/containers.h"
#include "lib/config/runtime.h"
#include "providers/docker/diagnose.h"
#include "tests/unit/providers/docker/docker_test_util.h"

typedef struct fx {
  wh_docker_provider cfg;
  wh_docker_opts opts;
  wh_docker_container *cs[8];
  size_t n;
  wh_dyn_config *out;
  wh_docker_reports reps;
  wh_container_diagnosis *d;
} fx;

static fx F;

static int setup(void **state) {
  (void)state;
  dt_register();
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
  wh_container_diagnosis_unref(F.d);
  return 0;
}

static void add(const char *id, const char *name, const char *extra, const char *const *kv) {
  F.cs[F.n++] = dt_container(id, name, extra, kv);
}

static void build(void) {
  F.out = wh_docker_build_diagnosed(&F.opts, F.cs, F.n, &F.reps, &F.d);
  assert_non_null(F.out);
  assert_non_null(F.d);
  assert_int_equal(F.d->n, F.n);
}

static const wh_container_diag *diag(const char *name) {
  for (size_t i = 0; i < F.d->n; i++)
    if (strcmp(F.d->v[i].name, name) == 0)
      return &F.d->v[i];
  fail_msg("no diagnosis for %s", name);
  return NULL;
}

static const wh_container_server *server(const wh_container_diag *c, const char *service) {
  for (size_t i = 0; i < c->nservers; i++)
    if (strcmp(c->servers[i].service, service) == 0)
      return &c->servers[i];
  fail_msg("no server for service %s of %s", service, c->name);
  return NULL;
}

static bool has_elem(const wh_container_diag *c, const char *section, const char *name) {
  for (size_t i = 0; i < c->nelems; i++)
    if (strcmp(c->elems[i].section, section) == 0 && strcmp(c->elems[i].name, name) == 0)
      return true;
  return false;
}

#define assert_contains(hay, needle)                                                               \
  do {                                                                                             \
    const char *h_ = (hay);                                                                        \
    if (!h_ || !strstr(h_, (needle)))                                                              \
      fail_msg("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", (needle));                    \
  } while (0)

/* ---- identity, labels, elements ---- */

static void test_routed_with_port_label(void **state) {
  (void)state;
  add("0123456789abcdef0123", "app",
      "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":null,\"8080/tcp\":null}}}",
      (const char *const[]){"traefik.http.routers.app.rule", "Host(`app.example`)",
                            "traefik.http.services.web.loadbalancer.server.port", "8080",
                            "traefik.http.middlewares.strip.stripprefix.prefixes", "/x",
                            "com.example.owner", "team-a", NULL});
  build();
  const wh_container_diag *c = diag("app");
  assert_string_equal(c->id, "0123456789ab");
  assert_string_equal(c->state, "running");
  assert_string_equal(c->health, "none");
  assert_string_equal(c->service_name, "app");
  assert_true(c->exposed);
  assert_null(c->reason);
  assert_null(c->empty_lb);
  assert_true(has_elem(c, "http.routers", "app"));
  assert_true(has_elem(c, "http.services", "web"));
  assert_true(has_elem(c, "http.middlewares", "strip"));
  assert_int_equal(c->nelems, 3);
  const wh_container_server *s = server(c, "web");
  assert_string_equal(s->section, "http.services");
  assert_string_equal(s->address, "http://172.17.0.2:8080");
  assert_string_equal(s->port, "8080");
  assert_string_equal(s->port_why, "label traefik.http.services.web.loadbalancer.server.port");
  assert_string_equal(s->network, "bridge");
  assert_string_equal(s->network_why, "the container's only network with an address");
  /* only traefik.* labels, sorted */
  assert_int_equal(c->nlabels, 3);
  for (size_t i = 0; i < c->nlabels; i++)
    assert_true(wh_str_has_prefix(c->label_keys[i], "traefik."));
  assert_string_equal(c->label_keys[0], "traefik.http.middlewares.strip.stripprefix.prefixes");
  assert_int_equal(c->errors.n, 0);
  assert_int_equal(c->warnings.n, 0);
}

static void test_port_single_lowest_none(void **state) {
  (void)state;
  add("c1", "one", NULL, NULL);
  add("c2", "two", "{\"NetworkSettings\":{\"Ports\":{\"9090/tcp\":null,\"8080/tcp\":null}}}", NULL);
  add("c3", "none", "{\"NetworkSettings\":{\"Ports\":{}}}", NULL);
  build();
  const wh_container_server *s = server(diag("one"), "one");
  assert_string_equal(s->port, "80");
  assert_string_equal(s->port_why, "the only port the container exposes (80/tcp)");
  s = server(diag("two"), "two");
  assert_string_equal(s->port, "8080");
  assert_contains(s->port_why,
                  "the lowest of the 2 ports the container exposes (8080/tcp, 9090/tcp)");
  assert_contains(s->port_why, "traefik.http.services.two.loadbalancer.server.port");
  assert_string_equal(s->address, "http://172.17.0.2:8080");
  const wh_container_diag *c = diag("none");
  assert_false(c->exposed);
  assert_contains(c->reason, "port is missing");
  assert_int_equal(c->nelems, 0);
  s = server(c, "none");
  assert_null(s->port);
  assert_null(s->address);
  assert_contains(s->port_why, "none: the container exposes no port");
}

static void test_not_exposed_reasons(void **state) {
  (void)state;
  F.cfg.exposed_by_default = false;
  F.cfg.constraints = "Label(`team`, `a`)";
  add("c1", "plain", NULL, NULL);
  add("c2", "off", NULL, (const char *const[]){"traefik.enable", "false", NULL});
  add("c3", "other-team", NULL, (const char *const[]){"traefik.enable", "true", "team", "b", NULL});
  add("c4", "stopped", "{\"State\":{\"Status\":\"exited\",\"Running\":false}}",
      (const char *const[]){"traefik.enable", "true", "team", "a", NULL});
  add("c5", "sick", "{\"State\":{\"Status\":\"running\",\"Health\":{\"Status\":\"unhealthy\"}}}",
      (const char *const[]){"traefik.enable", "true", "team", "a", NULL});
  add("c6", "badbool", NULL, (const char *const[]){"traefik.enable", "yes please", NULL});
  build();
  assert_contains(diag("plain")->reason, "exposedByDefault is false and traefik.enable is not set");
  assert_contains(diag("off")->reason, "traefik.enable=false");
  assert_contains(diag("other-team")->reason,
                  "does not match the constraints (Label(`team`, `a`))");
  assert_contains(diag("stopped")->reason, "not running (status exited)");
  assert_string_equal(diag("stopped")->state, "exited");
  assert_contains(diag("sick")->reason, "health status is unhealthy");
  assert_string_equal(diag("sick")->health, "unhealthy");
  assert_contains(diag("badbool")->reason, "traefik.enable");
  for (size_t i = 0; i < F.d->n; i++) {
    assert_false(F.d->v[i].exposed);
    assert_int_equal(F.d->v[i].nelems, 0);
  }
  /* the constraint's own label is not traefik.*: never shown */
  assert_int_equal(diag("other-team")->nlabels, 1);
}

static void test_empty_load_balancer_reasons(void **state) {
  (void)state;
  F.cfg.allow_empty_services = true;
  add("c1", "sick", "{\"State\":{\"Status\":\"running\",\"Health\":{\"Status\":\"starting\"}}}",
      NULL);
  add("c2", "down", "{\"State\":{\"Status\":\"exited\"}}",
      (const char *const[]){"traefik.docker.allownonrunning", "true", NULL});
  build();
  const wh_container_diag *c = diag("sick");
  assert_true(c->exposed);
  assert_contains(c->empty_lb, "health status is starting");
  assert_contains(c->empty_lb, "allowEmptyServices");
  assert_int_equal(c->nservers, 0);
  c = diag("down");
  assert_true(c->exposed);
  assert_contains(c->empty_lb, "not running (status exited)");
  assert_contains(c->empty_lb, "allownonrunning");
}

/* ---- networks ---- */

#define TWO_NETS                                                                                   \
  "{\"NetworkSettings\":{\"Networks\":{\"front\":{\"IPAddress\":\"10.0.1.5\"},\"back\":{"          \
  "\"IPAddress\":\"10.0.2.5\"}}}}"

static void test_network_choice(void **state) {
  (void)state;
  F.cfg.network = "back";
  add("c1", "by-label", TWO_NETS, (const char *const[]){"traefik.docker.network", "front", NULL});
  add("c2", "by-option", TWO_NETS, NULL);
  add("c3", "missing", TWO_NETS, (const char *const[]){"traefik.docker.network", "nope", NULL});
  build();
  const wh_container_server *s = server(diag("by-label"), "by-label");
  assert_string_equal(s->network, "front");
  assert_string_equal(s->network_why, "label traefik.docker.network selects network \"front\"");
  assert_string_equal(s->address, "http://10.0.1.5:80");
  s = server(diag("by-option"), "by-option");
  assert_string_equal(s->network, "back");
  assert_string_equal(s->network_why, "providers.docker.network selects network \"back\"");
  const wh_container_diag *c = diag("missing");
  s = server(c, "missing");
  assert_string_equal(s->network, "back"); /* lowest name */
  assert_contains(s->network_why,
                  "network \"nope\" (from label traefik.docker.network) is not on the container");
  assert_contains(s->network_why, "the lowest name of the 2 networks with an address");
  assert_true(dt_list_has(&c->warnings, "not found"));
}

static void test_network_ambiguous_host_and_none(void **state) {
  (void)state;
  add("c1", "two", TWO_NETS, NULL);
  add("c2", "hostnet", "{\"HostConfig\":{\"NetworkMode\":\"host\"}}", NULL);
  add("c3", "nonet", "{\"NetworkSettings\":{\"Networks\":{}}}", NULL);
  add("c4", "side", "{\"HostConfig\":{\"NetworkMode\":\"container:c2\"}}", NULL);
  F.opts.lookup = NULL;
  build();
  const wh_container_diag *c = diag("two");
  assert_string_equal(server(c, "two")->network, "back");
  assert_contains(server(c, "two")->network_why, "the lowest name of the 2 networks");
  assert_true(dt_list_has(&c->warnings, "lowest name"));
  assert_string_equal(server(diag("hostnet"), "hostnet")->network, "host");
  assert_string_equal(server(diag("hostnet"), "hostnet")->address, "http://127.0.0.1:80");
  assert_contains(server(diag("hostnet"), "hostnet")->network_why, "network mode host");
  c = diag("nonet");
  assert_false(c->exposed);
  assert_contains(c->reason, "no IP address");
  assert_contains(server(c, "nonet")->network_why, "none");
  assert_false(diag("side")->exposed);
  assert_contains(diag("side")->reason, "network mode container:c2");
}

static const wh_docker_container *by_name(void *ctx, const char *key) {
  (void)ctx;
  for (size_t i = 0; i < F.n; i++)
    if (strcmp(F.cs[i]->name, key) == 0 || strcmp(F.cs[i]->id, key) == 0)
      return F.cs[i];
  return NULL;
}

static void test_network_through_container_mode(void **state) {
  (void)state;
  F.opts.lookup = by_name;
  add("c1", "sidecar", "{\"HostConfig\":{\"NetworkMode\":\"container:net-owner\"}}", NULL);
  add("c2", "net-owner", TWO_NETS,
      (const char *const[]){"traefik.enable", "false", "traefik.docker.network", "front", NULL});
  build();
  const wh_container_server *s = server(diag("sidecar"), "sidecar");
  assert_string_equal(s->network, "front");
  assert_contains(s->network_why, "network mode container:net-owner (net-owner): ");
  assert_contains(s->network_why, "that container's label traefik.docker.network selects");
  assert_string_equal(s->address, "http://10.0.1.5:80");
}

static void test_use_bind_port_ip_and_verbatim_url(void **state) {
  (void)state;
  F.cfg.use_bind_port_ip = true;
  add("c1", "bound",
      "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"192.0.2.7\",\"HostPort\":"
      "\"8081\"}]}}}",
      NULL);
  add("c2", "verbatim", NULL,
      (const char *const[]){"traefik.http.services.v.loadbalancer.server.url",
                            "http://backend.internal:9000", NULL});
  build();
  const wh_container_server *s = server(diag("bound"), "bound");
  assert_string_equal(s->network, "(host binding)");
  assert_string_equal(s->port, "8081");
  assert_string_equal(s->address, "http://192.0.2.7:8081");
  assert_contains(s->network_why, "useBindPortIP: port 80 is published on 192.0.2.7:8081");
  assert_contains(s->port_why, "published as host port 8081");
  s = server(diag("verbatim"), "v");
  assert_string_equal(s->address, "http://backend.internal:9000");
  assert_null(s->network);
  assert_contains(s->port_why, "server.url, used verbatim");
}

static void test_tcp_server(void **state) {
  (void)state;
  add("c1", "db", NULL,
      (const char *const[]){"traefik.tcp.routers.db.rule", "HostSNI(`*`)",
                            "traefik.tcp.services.db.loadbalancer.server.port", "5432", NULL});
  build();
  const wh_container_diag *c = diag("db");
  assert_true(has_elem(c, "tcp.routers", "db"));
  assert_true(has_elem(c, "tcp.services", "db"));
  const wh_container_server *s = server(c, "db");
  assert_string_equal(s->section, "tcp.services");
  assert_string_equal(s->address, "172.17.0.2:5432");
  assert_string_equal(s->port_why, "label traefik.tcp.services.db.loadbalancer.server.port");
}

/* ---- errors and warnings ---- */

static void test_errors_and_conflicts(void **state) {
  (void)state;
  add("c1", "typo", NULL,
      (const char *const[]){"traefik.http.routers.t.rule", "Host(`t`)",
                            "traefik.http.routers.t.entrypoint", "web", NULL});
  add("c2", "a", NULL, (const char *const[]){"traefik.http.routers.same.rule", "Host(`a`)", NULL});
  add("c3", "b", NULL, (const char *const[]){"traefik.http.routers.same.rule", "Host(`b`)", NULL});
  build();
  const wh_container_diag *c = diag("typo");
  assert_true(c->exposed);
  assert_true(has_elem(c, "http.routers", "t"));
  assert_true(dt_list_has(&c->errors, "entrypoint"));
  assert_true(dt_list_has(&diag("a")->errors, "same: defined multiple times"));
  assert_true(dt_list_has(&diag("b")->errors, "containers a, b"));
}

/* The environment is never parsed, other labels never copied: a secret
 * can only reach the diagnosis through a traefik.* label. */
static void test_no_env_no_foreign_labels(void **state) {
  (void)state;
  cJSON *j = dt_inspect("c1", "secretive", NULL,
                        (const char *const[]){"com.example.db-password", "hunter2",
                                              "traefik.http.routers.s.rule", "Host(`s`)", NULL});
  cJSON *env = cJSON_CreateArray();
  cJSON_AddItemToArray(env, cJSON_CreateString("PASSWORD=hunter2"));
  cJSON_AddItemToObject(cJSON_GetObjectItem(j, "Config"), "Env", env);
  wh_errlist e;
  wh_errlist_init(&e);
  F.cs[F.n++] = wh_docker_container_parse(j, &e);
  cJSON_Delete(j);
  wh_errlist_free(&e);
  assert_non_null(F.cs[0]);
  build();
  const wh_container_diag *c = diag("secretive");
  assert_int_equal(c->nlabels, 1);
  assert_string_equal(c->label_keys[0], "traefik.http.routers.s.rule");
  for (size_t i = 0; i < c->nservers; i++)
    assert_null(strstr(c->servers[i].port_why ? c->servers[i].port_why : "", "hunter2"));
}

/* ---- the API ---- */

static wh_static_config stat;
static wh_providers providers;
static wh_docker_provider dockerprov;

static char *api(const wh_snapshot *snap, const char *method, const char *path, const char *query,
                 int *status) {
  wh_http_resp r;
  wh_http_resp_init(&r);
  assert_int_equal(wh_containers_handle(snap, method, path, query, &r), 0);
  *status = r.status;
  char *body = wh_strdup(wh_strbuf_cstr(&r.body));
  wh_http_resp_free(&r);
  return body;
}

static void test_api(void **state) {
  (void)state;
  cJSON *j = dt_inspect("aaaaaaaaaaaa1111", "web-1", NULL,
                        (const char *const[]){"traefik.http.routers.web.rule", "Host(`web`)",
                                              "com.example.token", "hunter2", NULL});
  cJSON *env = cJSON_CreateArray();
  cJSON_AddItemToArray(env, cJSON_CreateString("PASSWORD=hunter2"));
  cJSON_AddItemToObject(cJSON_GetObjectItem(j, "Config"), "Env", env);
  wh_errlist e;
  wh_errlist_init(&e);
  F.cs[F.n++] = wh_docker_container_parse(j, &e);
  cJSON_Delete(j);
  wh_errlist_free(&e);
  add("bbbbbbbbbbbb2222", "broken", NULL,
      (const char *const[]){"traefik.http.routers.bad.rule", "Host(`x`", NULL});
  add("cccccccccccc3333", "off", NULL, (const char *const[]){"traefik.enable", "false", NULL});
  build();

  memset(&stat, 0, sizeof stat);
  wh_entrypoint *ep = calloc(1, sizeof *ep);
  ep->address = wh_strdup(":80");
  wh_map_put(&stat.entry_points, "web", ep, NULL);
  stat.providers = &providers;
  providers.docker = &dockerprov;
  wh_fragment frag = {.provider = "docker", .cfg = F.out};
  wh_runtime *rt = wh_runtime_build(&stat, &frag, 1);
  assert_non_null(rt);
  wh_snapshot snap = {.stat = &stat, .rt = rt};
  const char *base = "/api/providers/docker/containers";
  int st;

  /* configured, nothing published yet */
  char *body = api(&snap, "GET", base, NULL, &st);
  assert_int_equal(st, 503);
  free(body);

  wh_container_diagnosis_publish("docker", &F, wh_container_diagnosis_ref(F.d));
  body = api(&snap, "GET", base, NULL, &st);
  assert_int_equal(st, 200);
  assert_null(strstr(body, "hunter2"));
  assert_null(strstr(body, "PASSWORD"));
  cJSON *a = cJSON_Parse(body);
  free(body);
  assert_int_equal(cJSON_GetArraySize(a), 3);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "name")->valuestring, "broken");
  cJSON_Delete(a);

  /* one: the broken rule shows as the runtime's error on the element */
  body = api(&snap, "GET", "/api/providers/docker/containers/broken", NULL, &st);
  assert_int_equal(st, 200);
  cJSON *o = cJSON_Parse(body);
  free(body);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "exposed")));
  cJSON *el = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "elements"), 0);
  assert_non_null(el);
  cJSON *first_el = NULL;
  cJSON_ArrayForEach(el, cJSON_GetObjectItem(o, "elements")) {
    if (strcmp(cJSON_GetObjectItem(el, "name")->valuestring, "bad@docker") == 0)
      first_el = el;
  }
  assert_non_null(first_el);
  assert_string_equal(cJSON_GetObjectItem(first_el, "kind")->valuestring, "http.router");
  assert_string_equal(cJSON_GetObjectItem(first_el, "status")->valuestring, "disabled");
  assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(first_el, "error")) > 0);
  cJSON *srv = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "servers"), 0);
  assert_string_equal(cJSON_GetObjectItem(srv, "service")->valuestring, "broken@docker");
  assert_string_equal(cJSON_GetObjectItem(srv, "network")->valuestring, "bridge");
  cJSON_Delete(o);

  /* by short id; the one not exposed says why */
  body = api(&snap, "GET", "/api/providers/docker/containers/cccccccccccc", NULL, &st);
  assert_int_equal(st, 200);
  o = cJSON_Parse(body);
  free(body);
  assert_string_equal(cJSON_GetObjectItem(o, "name")->valuestring, "off");
  assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "exposed")));
  assert_string_equal(cJSON_GetObjectItem(o, "reason")->valuestring,
                      "not enabled (traefik.enable=false)");
  assert_string_equal(cJSON_GetObjectItem(o, "health")->valuestring, "none");
  cJSON_Delete(o);

  /* search, pagination */
  body = api(&snap, "GET", base, "search=WEB", &st);
  a = cJSON_Parse(body);
  free(body);
  assert_int_equal(cJSON_GetArraySize(a), 1);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "name")->valuestring, "web-1");
  cJSON_Delete(a);
  body = api(&snap, "GET", base, "per_page=2&page=2", &st);
  a = cJSON_Parse(body);
  free(body);
  assert_int_equal(cJSON_GetArraySize(a), 1);
  cJSON_Delete(a);
  free(api(&snap, "GET", base, "per_page=0", &st));
  assert_int_equal(st, 400);

  /* errors */
  body = api(&snap, "GET", "/api/providers/docker/containers/nope", NULL, &st);
  assert_int_equal(st, 404);
  assert_string_equal(body, "{\"message\":\"container not found: nope\"}\n");
  free(body);
  free(api(&snap, "POST", base, NULL, &st));
  assert_int_equal(st, 405);
  providers.docker = NULL;
  body = api(&snap, "GET", base, NULL, &st);
  assert_int_equal(st, 404);
  assert_contains(body, "not configured");
  free(body);
  wh_http_resp r;
  wh_http_resp_init(&r);
  assert_int_equal(wh_containers_handle(&snap, "GET", "/api/http/routers", NULL, &r), WH_ENOENT);
  assert_int_equal(
      wh_containers_handle(&snap, "GET", "/api/providers/docker/containersx", NULL, &r), WH_ENOENT);
  wh_http_resp_free(&r);

  /* a withdrawal by another owner is ignored; by the owner it clears */
  wh_container_diagnosis_publish("docker", &stat, NULL);
  wh_container_diagnosis *cur = wh_container_diagnosis_current("docker");
  assert_ptr_equal(cur, F.d);
  wh_container_diagnosis_unref(cur);
  wh_container_diagnosis_publish("docker", &F, NULL);
  assert_null(wh_container_diagnosis_current("docker"));

  wh_runtime_free(rt);
  for (size_t i = 0; i < stat.entry_points.n; i++) {
    wh_entrypoint *x = stat.entry_points.vals[i];
    free(x->address);
    free(x);
    free(stat.entry_points.keys[i]);
  }
  free(stat.entry_points.keys);
  free(stat.entry_points.vals);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_routed_with_port_label),
      T(test_port_single_lowest_none),
      T(test_not_exposed_reasons),
      T(test_empty_load_balancer_reasons),
      T(test_network_choice),
      T(test_network_ambiguous_host_and_none),
      T(test_network_through_container_mode),
      T(test_use_bind_port_ip_and_verbatim_url),
      T(test_tcp_server),
      T(test_errors_and_conflicts),
      T(test_no_env_no_foreign_labels),
      T(test_api),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
