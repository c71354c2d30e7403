/* /metrics as a Prometheus server scrapes it: the snapshot's families
 * (traefik_service_server_up from the balancers' health cells or the
 * runtime's serverStatus) with or without the process's metrics store, in
 * one name-sorted exposition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/admin/metrics.h"
#include "lib/config/runtime.h"
#include "lib/config/static.h"
#include "lib/lb/lb.h"
#include "lib/observe/observe.h"

static wh_static_config stat;
static wh_metrics metrics;
static wh_prometheus prom;
static wh_entrypoint ep_web;
static char *ep_keys[] = {"web"};
static void *ep_vals[] = {&ep_web};
static wh_snapshot snap;
static wh_runtime rt;
static wh_rt_elem el_a, el_b, el_c;
static wh_rt_elem *svc_list[3];
static wh_health_store *store;
static wh_lb *lb_a;
static wh_backend backends[1];
static wh_server servers[2];
static wh_lb_service lbcfg;
static char *status_keys[] = {"http://10.0.0.9:80"};
static char *status_vals[] = {"DOWN"};

static int setup(void **state) {
  (void)state;
  stat.entry_points.keys = ep_keys;
  stat.entry_points.vals = ep_vals;
  stat.entry_points.n = 1;
  stat.metrics = &metrics;
  metrics.prometheus = &prom;
  prom.add_entry_points_labels = true;
  prom.add_services_labels = true;

  /* a@file: a balancer with two servers, the second DOWN; b@file: no
   * balancer, the runtime's serverStatus; c@internal: neither */
  servers[0].url = "http://127.0.0.1:8081";
  servers[1].url = "http://127.0.0.1:8082";
  lbcfg.servers.items = servers;
  lbcfg.servers.n = 2;
  store = wh_health_store_new();
  lb_a = wh_lb_new("a@file", &lbcfg, 1, store, NULL);
  assert_non_null(lb_a);
  for (size_t i = 0; i < wh_lb_nservers(lb_a); i++)
    if (strcmp(wh_lb_server_at(lb_a, i)->url, servers[1].url) == 0)
      atomic_store(wh_lb_server_at(lb_a, i)->up, 0);
  backends[0] = (wh_backend){.name = "a@file", .lb = lb_a};

  el_a = (wh_rt_elem){.name = "a@file", .kind = WH_KIND_HTTP_SERVICE};
  el_b = (wh_rt_elem){.name = "b@file", .kind = WH_KIND_HTTP_SERVICE};
  el_b.server_status = (wh_strmap){status_keys, status_vals, 1};
  el_c = (wh_rt_elem){.name = "c@internal", .kind = WH_KIND_HTTP_SERVICE};
  svc_list[0] = &el_a;
  svc_list[1] = &el_b;
  svc_list[2] = &el_c;
  rt.elems[WH_KIND_HTTP_SERVICE] = (wh_rt_list){svc_list, 3};
  snap.rt = &rt;
  snap.stat = &stat;
  snap.backends = backends;
  snap.nbackends = 1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  wh_lb_free(lb_a);
  wh_health_store_free(store);
  return 0;
}

static char *scrape(void) {
  wh_http_resp resp;
  wh_http_resp_init(&resp);
  wh_metrics_handle(&snap, &resp);
  assert_true(resp.status == 0 || resp.status == 200);
  assert_string_equal(wh_http_resp_get_header(&resp, "Content-Type"),
                      "text/plain; version=0.0.4; charset=utf-8");
  char *text = wh_strbuf_take(&resp.body);
  wh_http_resp_free(&resp);
  return text;
}

/* HELP lines in strictly increasing name order, each followed by TYPE. */
static void assert_sorted_families(const char *text) {
  char prev[256] = "";
  for (const char *p = strstr(text, "# HELP "); p; p = strstr(p + 1, "\n# HELP ")) {
    if (*p == '\n')
      p++;
    size_t n = strcspn(p + 7, " ");
    char name[256];
    assert_true(n < sizeof(name));
    memcpy(name, p + 7, n);
    name[n] = '\0';
    assert_true(strcmp(prev, name) < 0);
    const char *type = strchr(p, '\n') + 1;
    assert_int_equal(strncmp(type, "# TYPE ", 7), 0);
    assert_int_equal(strncmp(type + 7, name, n), 0);
    strcpy(prev, name);
  }
}

static void test_server_up_without_store(void **state) {
  (void)state;
  assert_null(wh_observe_global());
  char *text = scrape();
  assert_non_null(strstr(text, "# TYPE traefik_service_server_up gauge\n"));
  assert_non_null(strstr(
      text, "traefik_service_server_up{service=\"a@file\",url=\"http://127.0.0.1:8081\"} 1\n"));
  assert_non_null(strstr(
      text, "traefik_service_server_up{service=\"a@file\",url=\"http://127.0.0.1:8082\"} 0\n"));
  assert_non_null(
      strstr(text, "traefik_service_server_up{service=\"b@file\",url=\"http://10.0.0.9:80\"} 0\n"));
  assert_null(strstr(text, "c@internal"));
  /* no store: no request families */
  assert_null(strstr(text, "traefik_config_reloads_total"));
  assert_sorted_families(text);
  free(text);

  /* Traefik registers server_up with the service families */
  prom.add_services_labels = false;
  text = scrape();
  assert_null(strstr(text, "traefik_service_server_up"));
  free(text);
  prom.add_services_labels = true;
}

static void test_with_store(void **state) {
  (void)state;
  char err[128];
  wh_observe *o = wh_observe_new(&stat, 2, err, sizeof(err));
  assert_non_null(o);
  assert_ptr_equal(wh_observe_global(), o);
  wh_xrec r = {
      .entrypoint = "web", .method = "GET", .status = 200, .service = "a@file", .router = "r@file"};
  for (int i = 0; i < 3; i++)
    wh_observe_exchange(o, i % 2, &r);
  wh_observe_config_reload(o, true);
  char *text = scrape();
  assert_non_null(strstr(text, "traefik_service_requests_total{code=\"200\",method=\"GET\","
                               "protocol=\"http\",service=\"a@file\"} 3\n"));
  assert_non_null(strstr(text, "traefik_config_reloads_total 1\n"));
  /* server_up sorts between the service families of the store */
  const char *up = strstr(text, "# HELP traefik_service_server_up ");
  const char *retries_or_resp = strstr(text, "# HELP traefik_service_responses_bytes_total ");
  assert_non_null(up);
  assert_non_null(retries_or_resp);
  assert_true(retries_or_resp < up);
  assert_sorted_families(text);
  free(text);
  wh_observe_free(o);
  assert_null(wh_observe_global());
}

static void test_null_snapshot(void **state) {
  (void)state;
  wh_http_resp resp;
  wh_http_resp_init(&resp);
  wh_metrics_handle(NULL, &resp);
  assert_string_equal(wh_strbuf_cstr(&resp.body), "");
  wh_http_resp_free(&resp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_up_without_store),
      cmocka_unit_test(test_with_store),
      cmocka_unit_test(test_null_snapshot),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
