/* Swarm payloads → containers → fragment (providers/swarm/swarm_tasks.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config/dynamic.h"
#include "lib/core/err.h"
#include "providers/swarm/swarm_provider.h"

#define NETS                                                                                       \
  "[{\"Id\":\"n1\",\"Name\":\"front\",\"Scope\":\"swarm\",\"Driver\":\"overlay\"},"                \
  "{\"Id\":\"n2\",\"Name\":\"back\",\"Scope\":\"swarm\",\"Driver\":\"overlay\"},"                  \
  "{\"Id\":\"n3\",\"Name\":\"bridge\",\"Scope\":\"local\",\"Driver\":\"bridge\"}]"

#define APP_LABELS                                                                                 \
  "\"traefik.http.routers.app.rule\":\"Host(`app.swarm`)\","                                       \
  "\"traefik.http.services.app.loadbalancer.server.port\":\"8000\""

static const char *service_json(const char *labels) {
  static char buf[4096];
  snprintf(buf, sizeof buf,
           "{\"ID\":\"s1\",\"Spec\":{\"Name\":\"app\",\"Labels\":{%s},"
           "\"Mode\":{\"Replicated\":{\"Replicas\":2}}},"
           "\"Endpoint\":{\"VirtualIPs\":[{\"NetworkID\":\"n1\",\"Addr\":\"10.0.1.2/24\"},"
           "{\"NetworkID\":\"ingress\",\"Addr\":\"10.0.0.2/24\"}]}}",
           labels);
  return buf;
}

static const char *task(const char *id, int slot, const char *state, const char *atts) {
  static char buf[8][1024];
  static int k;
  char *b = buf[k++ % 8];
  snprintf(b, 1024,
           "{\"ID\":\"%s\",\"ServiceID\":\"s1\",\"Slot\":%d,\"Status\":{\"State\":\"%s\"},"
           "\"DesiredState\":\"running\",\"NetworksAttachments\":[%s]}",
           id, slot, state, atts);
  return b;
}

#define ATT(net, addr) "{\"Network\":{\"ID\":\"" net "\"},\"Addresses\":[\"" addr "\"]}"

typedef struct fx {
  wh_swarm_netmap nets;
  wh_swarm_containers cs;
  wh_errlist errs;
  wh_dyn_config *cfg;
  wh_docker_reports reps;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  cJSON *n = cJSON_Parse(NETS);
  assert_int_equal(wh_swarm_netmap_parse(n, &f->nets), 0);
  cJSON_Delete(n);
  wh_errlist_init(&f->errs);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  wh_swarm_netmap_free(&f->nets);
  wh_swarm_containers_free(&f->cs);
  wh_errlist_free(&f->errs);
  wh_dyn_config_free(f->cfg);
  wh_docker_reports_free(&f->reps);
  free(f);
  return 0;
}

static int run(fx *f, const char *svc, const char *tasks) {
  cJSON *s = cJSON_Parse(svc), *t = tasks ? cJSON_Parse(tasks) : NULL;
  assert_non_null(s);
  int rc = wh_swarm_service_containers(s, t, &f->nets, &f->cs, &f->errs);
  cJSON_Delete(s);
  cJSON_Delete(t);
  return rc;
}

static void build(fx *f) {
  wh_swarm_provider sw = {.exposed_by_default = true,
                          .default_rule = (char *)"Host(`{{ normalize .Name }}`)"};
  wh_docker_provider d;
  wh_swarm_docker_cfg(&sw, &d);
  wh_docker_opts o = {.cfg = &d};
  f->cfg = wh_docker_build(&o, f->cs.v, f->cs.n, &f->reps);
  assert_non_null(f->cfg);
}

static const wh_http_service *service(const fx *f, const char *name) {
  if (!f->cfg->http)
    return NULL;
  const wh_map *m = &f->cfg->http->services;
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->keys[i], name) == 0)
      return m->vals[i];
  return NULL;
}

static size_t nservices(const fx *f) {
  return f->cfg->http ? f->cfg->http->services.n : 0;
}

static const char *server_url(const wh_http_service *s, size_t i) {
  assert_non_null(s->load_balancer);
  assert_true(i < s->load_balancer->servers.n);
  return ((const wh_server *)s->load_balancer->servers.items)[i].url;
}

static void test_netmap_keeps_swarm_overlays(void **state) {
  fx *f = *state;
  assert_int_equal(f->nets.n, 2);
  assert_string_equal(f->nets.names[0], "front");
  assert_string_equal(f->nets.names[1], "back");
}

static void test_running_tasks_become_replicas(void **state) {
  fx *f = *state;
  char tasks[4096];
  snprintf(tasks, sizeof tasks, "[%s,%s,%s]", task("t1", 1, "running", ATT("n1", "10.0.1.5/24")),
           task("t2", 2, "running", ATT("n1", "10.0.1.6/24")),
           task("t3", 3, "starting", ATT("n1", "10.0.1.7/24")));
  assert_int_equal(run(f, service_json(APP_LABELS), tasks), 0);
  assert_int_equal(f->cs.n, 2);
  assert_string_equal(f->cs.v[0]->name, "app.1");
  assert_string_equal(f->cs.v[0]->id, "t1");
  assert_string_equal(f->cs.v[0]->status, "running");
  assert_int_equal(f->cs.v[0]->nnetworks, 1);
  assert_string_equal(f->cs.v[0]->networks[0].name, "front");
  assert_string_equal(f->cs.v[0]->networks[0].ip, "10.0.1.5");
  assert_int_equal(f->cs.v[0]->nports, 0);
  build(f);
  /* One service named after the Swarm service, both tasks as its servers. */
  assert_int_equal(nservices(f), 1);
  const wh_http_service *s = service(f, "app");
  assert_non_null(s);
  assert_int_equal(s->load_balancer->servers.n, 2);
  assert_string_equal(server_url(s, 0), "http://10.0.1.5:8000");
  assert_string_equal(server_url(s, 1), "http://10.0.1.6:8000");
  assert_string_equal(((wh_http_router *)f->cfg->http->routers.vals[0])->rule, "Host(`app.swarm`)");
}

static void test_default_rule_uses_service_name(void **state) {
  fx *f = *state;
  char tasks[2048];
  snprintf(tasks, sizeof tasks, "[%s]", task("t1", 1, "running", ATT("n1", "10.0.1.5/24")));
  assert_int_equal(
      run(f, service_json("\"traefik.http.services.web.loadbalancer.server.port\":\"80\""), tasks),
      0);
  build(f);
  assert_int_equal(f->cfg->http->routers.n, 1);
  assert_string_equal(f->cfg->http->routers.keys[0], "app");
  assert_string_equal(((wh_http_router *)f->cfg->http->routers.vals[0])->rule, "Host(`app`)");
}

static void test_missing_port_skips(void **state) {
  fx *f = *state;
  char tasks[2048];
  snprintf(tasks, sizeof tasks, "[%s]", task("t1", 1, "running", ATT("n1", "10.0.1.5/24")));
  assert_int_equal(run(f, service_json("\"traefik.enable\":\"true\""), tasks), 0);
  build(f);
  assert_int_equal(nservices(f), 0);
  assert_int_equal(f->reps.n, 1);
  assert_true(f->reps.v[0].skipped);
  assert_non_null(strstr(f->reps.v[0].reason, "port is missing"));
}

static void test_task_without_swarm_network_dropped(void **state) {
  fx *f = *state;
  char tasks[2048];
  snprintf(tasks, sizeof tasks, "[%s,%s]", task("t1", 1, "running", ATT("n3", "172.17.0.2/16")),
           task("t2", 2, "running", ""));
  assert_int_equal(run(f, service_json(APP_LABELS), tasks), 0);
  assert_int_equal(f->cs.n, 0);
}

static void test_network_label_chooses(void **state) {
  fx *f = *state;
  char tasks[2048];
  snprintf(tasks, sizeof tasks, "[%s]",
           task("t1", 1, "running", ATT("n1", "10.0.1.5/24") "," ATT("n2", "10.0.2.5/24")));
  assert_int_equal(run(f, service_json(APP_LABELS ",\"traefik.swarm.network\":\"back\""), tasks),
                   0);
  assert_int_equal(f->cs.v[0]->nnetworks, 2);
  build(f);
  assert_string_equal(server_url(service(f, "app"), 0), "http://10.0.2.5:8000");
  assert_int_equal(f->reps.v[0].warnings.n, 0);
}

static void test_deprecated_network_label(void **state) {
  fx *f = *state;
  char tasks[2048];
  snprintf(tasks, sizeof tasks, "[%s]",
           task("t1", 1, "running", ATT("n1", "10.0.1.5/24") "," ATT("n2", "10.0.2.5/24")));
  assert_int_equal(run(f, service_json(APP_LABELS ",\"traefik.docker.network\":\"back\""), tasks),
                   0);
  build(f);
  assert_string_equal(server_url(service(f, "app"), 0), "http://10.0.2.5:8000");
}

static void test_both_label_families_error(void **state) {
  fx *f = *state;
  assert_int_equal(run(f,
                       service_json(APP_LABELS ",\"traefik.swarm.network\":\"back\","
                                               "\"traefik.docker.network\":\"front\""),
                       "[]"),
                   WH_EINVAL);
  assert_int_equal(f->cs.n, 0);
  assert_int_equal(f->errs.n, 1);
  assert_non_null(strstr(f->errs.items[0], "both"));
  assert_non_null(strstr(f->errs.items[0], "app"));
}

static void test_lbswarm_uses_vip(void **state) {
  fx *f = *state;
  cJSON *s = cJSON_Parse(service_json(APP_LABELS ",\"traefik.swarm.lbswarm\":\"true\""));
  char *err = NULL;
  assert_true(wh_swarm_service_lbswarm(s, &err));
  assert_null(err);
  cJSON_Delete(s);
  assert_int_equal(run(f, service_json(APP_LABELS ",\"traefik.swarm.lbswarm\":\"true\""), NULL), 0);
  assert_int_equal(f->cs.n, 1);
  assert_string_equal(f->cs.v[0]->name, "app");
  assert_string_equal(f->cs.v[0]->id, "s1");
  /* The VIP on the unknown "ingress" id is not a listed network. */
  assert_int_equal(f->cs.v[0]->nnetworks, 1);
  build(f);
  const wh_http_service *svc = service(f, "app");
  assert_int_equal(svc->load_balancer->servers.n, 1);
  assert_string_equal(server_url(svc, 0), "http://10.0.1.2:8000");
}

static void test_lbswarm_deprecated_and_bad_value(void **state) {
  fx *f = *state;
  assert_int_equal(run(f, service_json(APP_LABELS ",\"traefik.docker.lbswarm\":\"TRUE\""), NULL),
                   0);
  assert_int_equal(f->cs.n, 1);
  assert_int_equal(run(f, service_json(APP_LABELS ",\"traefik.swarm.lbswarm\":\"yes\""), NULL),
                   WH_EINVAL);
  assert_int_equal(f->cs.n, 1);
  assert_non_null(strstr(f->errs.items[0], "invalid boolean"));
}

static void test_lbswarm_without_vip_skips(void **state) {
  fx *f = *state;
  const char *svc = "{\"ID\":\"s1\",\"Spec\":{\"Name\":\"dns\",\"Labels\":{"
                    "\"traefik.swarm.lbswarm\":\"true\"}},\"Endpoint\":{}}";
  assert_int_equal(run(f, svc, NULL), WH_EINVAL);
  assert_int_equal(f->cs.n, 0);
  assert_non_null(strstr(f->errs.items[0], "virtual IP"));
}

static void test_unknown_swarm_label(void **state) {
  fx *f = *state;
  assert_int_equal(run(f, service_json(APP_LABELS ",\"traefik.swarm.netwrok\":\"x\""), "[]"),
                   WH_EINVAL);
  assert_non_null(strstr(f->errs.items[0], "unknown key"));
}

static void test_not_a_service(void **state) {
  fx *f = *state;
  assert_int_equal(run(f, "{\"Spec\":{}}", "[]"), WH_EINVAL);
  assert_int_equal(run(f, "[1,2]", "[]"), WH_EINVAL);
  assert_int_equal(f->errs.n, 2);
  assert_int_equal(f->cs.n, 0);
}

static void test_global_service_names_by_task_id(void **state) {
  fx *f = *state;
  const char *svc = "{\"ID\":\"s1\",\"Spec\":{\"Name\":\"agent\",\"Labels\":{},"
                    "\"Mode\":{\"Global\":{}}}}";
  char tasks[2048];
  snprintf(tasks, sizeof tasks, "[%s]", task("tx9", 0, "running", ATT("n1", "10.0.1.9/24")));
  assert_int_equal(run(f, svc, tasks), 0);
  assert_string_equal(f->cs.v[0]->name, "agent.tx9");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_netmap_keeps_swarm_overlays, setup, teardown),
      cmocka_unit_test_setup_teardown(test_running_tasks_become_replicas, setup, teardown),
      cmocka_unit_test_setup_teardown(test_default_rule_uses_service_name, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_port_skips, setup, teardown),
      cmocka_unit_test_setup_teardown(test_task_without_swarm_network_dropped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_network_label_chooses, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deprecated_network_label, setup, teardown),
      cmocka_unit_test_setup_teardown(test_both_label_families_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lbswarm_uses_vip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lbswarm_deprecated_and_bad_value, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lbswarm_without_vip_skips, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_swarm_label, setup, teardown),
      cmocka_unit_test_setup_teardown(test_not_a_service, setup, teardown),
      cmocka_unit_test_setup_teardown(test_global_service_names_by_task_id, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
