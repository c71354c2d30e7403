/* Active health checks of https servers with a serversTransport's TLS files
 * (lib/lb/health_check.c): a transport whose files cannot be read reports
 * its servers DOWN without probing them, and a reload that fixes the
 * transport applies to the kept target (the settings comparison sees the
 * TLS fields). The real TLS probes are in
 * tests/integration/test_upstream_tls_health.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "lib/lb/health_check.h"
#include "lib/lb/health_store.h"
#include "lib/lb/lb.h"
#include "tests/unit/lib/lb/lb_test_util.h"

/* ---- a listener that counts connections and closes them ---- */

typedef struct counter {
  uv_tcp_t tcp;
  int port;
  int accepted;
} counter;

static void on_closed(uv_handle_t *h) {
  free(h);
}

static void on_connection(uv_stream_t *l, int status) {
  if (status < 0)
    return;
  counter *c = l->data;
  uv_tcp_t *conn = malloc(sizeof(*conn));
  uv_tcp_init(l->loop, conn);
  if (uv_accept(l, (uv_stream_t *)conn) == 0)
    c->accepted++;
  uv_close((uv_handle_t *)conn, on_closed);
}

static void counter_start(uv_loop_t *loop, counter *c) {
  memset(c, 0, sizeof(*c));
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  assert_int_equal(uv_tcp_init(loop, &c->tcp), 0);
  c->tcp.data = c;
  assert_int_equal(uv_tcp_bind(&c->tcp, (const struct sockaddr *)&a, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&c->tcp, 16, on_connection), 0);
  struct sockaddr_in got;
  int len = sizeof(got);
  uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&got, &len);
  c->port = ntohs(got.sin_port);
}

/* ---- loop helpers ---- */

static void on_wake(uv_timer_t *t) {
  (void)t;
}

typedef bool (*pred_fn)(void *);

static bool run_until(uv_loop_t *loop, pred_fn pred, void *arg, uint64_t ms) {
  uv_timer_t wake;
  uv_timer_init(loop, &wake);
  uv_timer_start(&wake, on_wake, 10, 10);
  uint64_t end = uv_now(loop) + ms;
  bool ok = pred(arg);
  while (!ok && uv_now(loop) < end) {
    uv_run(loop, UV_RUN_ONCE);
    ok = pred(arg);
  }
  uv_close((uv_handle_t *)&wake, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return ok;
}

static bool is_down(void *arg) {
  return !wh_lb_server_up(arg);
}
static bool never(void *arg) {
  (void)arg;
  return false;
}
static bool connected(void *arg) {
  return ((counter *)arg)->accepted > 0;
}

typedef struct fixture {
  uv_loop_t loop;
  counter srv;
  wh_health_store *store;
  wh_health_checker *hc;
  test_svc svc;
  char url[64];
  char existing[64]; /* a readable file */
  wh_lb *lb;
} fixture;

static void fx_setup(fixture *f) {
  memset(f, 0, sizeof(*f));
  uv_loop_init(&f->loop);
  counter_start(&f->loop, &f->srv);
  f->store = wh_health_store_new();
  f->hc = wh_health_checker_new(&f->loop, f->store);
  assert_non_null(f->hc);
  snprintf(f->url, sizeof(f->url), "https://127.0.0.1:%d", f->srv.port);
  test_svc_init(&f->svc);
  test_svc_add(&f->svc, f->url, 1);
  f->svc.hc.interval = 40 * WH_MS;
  f->svc.hc.timeout = 2 * WH_SEC;
  f->svc.hc.path = (char *)"/health";
  f->svc.lb.health_check = &f->svc.hc;
  f->lb = wh_lb_new("app@file", &f->svc.lb, 1, f->store, NULL);
  assert_non_null(f->lb);
  snprintf(f->existing, sizeof(f->existing), "/tmp/wh-hc-tls-XXXXXX");
  int fd = mkstemp(f->existing);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "not a certificate\n", 18), 18);
  close(fd);
}

static void fx_commit(fixture *f, const wh_tls_client_opts *tls) {
  wh_health_checker_begin(f->hc);
  assert_int_equal(wh_health_checker_add_tls(f->hc, "app@file", &f->svc.lb, tls), 0);
  wh_health_checker_commit(f->hc);
  assert_int_equal(wh_health_checker_ntargets(f->hc), 1);
}

static void fx_done(fixture *f) {
  wh_health_checker_close(f->hc);
  wh_lb_free(f->lb);
  wh_health_store_free(f->store);
  uv_close((uv_handle_t *)&f->srv.tcp, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  unlink(f->existing);
}

static void test_missing_root_ca_is_down_without_probing(void **state) {
  (void)state;
  fixture f;
  fx_setup(&f);
  char *cas[] = {(char *)"/nonexistent/wharf-test/ca.pem"};
  wh_strlist roots = {cas, 1};
  wh_tls_client_opts tls = {
      .name = "st@file", .server_name = "backend.example", .root_cas = &roots};
  fx_commit(&f, &tls);
  const wh_lb_server *s = wh_lb_server_at(f.lb, 0);
  assert_true(run_until(&f.loop, is_down, (void *)s, 3000));
  run_until(&f.loop, never, NULL, 200); /* several more probe intervals */
  assert_false(wh_lb_server_up(s));
  assert_int_equal(f.srv.accepted, 0);
  fx_done(&f);
}

static void test_unreadable_bundle_or_key_is_down_without_probing(void **state) {
  (void)state;
  fixture f;
  fx_setup(&f);
  /* the second rootCAs entry is unreadable: the concatenated bundle fails */
  char *cas[] = {f.existing, (char *)"/nonexistent/wharf-test/ca2.pem"};
  wh_strlist roots = {cas, 2};
  wh_tls_client_opts tls = {.name = "st@file", .root_cas = &roots};
  fx_commit(&f, &tls);
  const wh_lb_server *s = wh_lb_server_at(f.lb, 0);
  assert_true(run_until(&f.loop, is_down, (void *)s, 3000));

  /* now a client key that cannot be read */
  char *one[] = {f.existing};
  wh_strlist roots1 = {one, 1};
  wh_cert_files cf = {.cert_file = f.existing, .key_file = (char *)"/nonexistent/wharf-test/k.pem"};
  wh_list certs = {&cf, 1};
  wh_tls_client_opts tls2 = {.name = "st@file", .root_cas = &roots1, .certificates = &certs};
  fx_commit(&f, &tls2);
  run_until(&f.loop, never, NULL, 300);
  assert_false(wh_lb_server_up(s));
  assert_int_equal(f.srv.accepted, 0);
  fx_done(&f);
}

static void test_reload_with_readable_files_probes_again(void **state) {
  (void)state;
  fixture f;
  fx_setup(&f);
  char *bad[] = {(char *)"/nonexistent/wharf-test/ca.pem"};
  wh_strlist roots = {bad, 1};
  wh_tls_client_opts tls = {.name = "st@file", .root_cas = &roots};
  fx_commit(&f, &tls);
  const wh_lb_server *s = wh_lb_server_at(f.lb, 0);
  assert_true(run_until(&f.loop, is_down, (void *)s, 3000));
  assert_int_equal(f.srv.accepted, 0);
  /* Same service and URL: the target is kept; only its TLS settings differ,
   * and they apply from the next probe (which now connects; the handshake
   * then fails, as the listener speaks no TLS). */
  char *good[] = {f.existing};
  wh_strlist roots2 = {good, 1};
  wh_tls_client_opts tls2 = {.name = "st@file", .root_cas = &roots2};
  fx_commit(&f, &tls2);
  assert_true(run_until(&f.loop, connected, &f.srv, 3000));
  fx_done(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_missing_root_ca_is_down_without_probing),
      cmocka_unit_test(test_unreadable_bundle_or_key_is_down_without_probing),
      cmocka_unit_test(test_reload_with_readable_files_probes_again),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
