/* Active health checks against a tiny HTTP server on 127.0.0.1 driven by the
 * same uv loop (lib/lb/health_check.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <cmocka.h>

#include "lib/lb/health_check.h"
#include "lib/lb/health_store.h"
#include "lib/lb/lb.h"
#include "tests/unit/lib/lb/lb_test_util.h"

/* ---- the test server: answers every request with `status`, then closes ---- */

typedef struct server {
  uv_tcp_t tcp;
  int port;
  int status;
  int requests;
  char last[2048]; /* last request head */
} server;

typedef struct conn {
  uv_tcp_t tcp;
  server *srv;
  char buf[2048];
  size_t len;
  bool answered;
} conn;

static void on_conn_closed(uv_handle_t *h) {
  free(h->data);
}

static void on_written(uv_write_t *w, int status) {
  (void)status;
  conn *c = w->data;
  free(w);
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)hint;
  conn *c = h->data;
  b->base = c->buf + c->len;
  b->len = sizeof(c->buf) - c->len - 1;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  (void)b;
  conn *c = s->data;
  if (n < 0) {
    if (!c->answered)
      uv_close((uv_handle_t *)s, on_conn_closed);
    return;
  }
  c->len += (size_t)n;
  c->buf[c->len] = '\0';
  if (c->answered || !strstr(c->buf, "\r\n\r\n"))
    return;
  c->answered = true;
  c->srv->requests++;
  snprintf(c->srv->last, sizeof(c->srv->last), "%s", c->buf);
  static char resp[256];
  int st = c->srv->status;
  snprintf(resp, sizeof(resp),
           "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n%s\r\nok", st,
           st == 302 ? "Location: /elsewhere\r\n" : "");
  uv_read_stop(s);
  uv_write_t *w = malloc(sizeof(*w));
  w->data = c;
  uv_buf_t out = uv_buf_init(resp, (unsigned)strlen(resp));
  uv_write(w, s, &out, 1, on_written);
}

static void on_connection(uv_stream_t *l, int status) {
  if (status < 0)
    return;
  conn *c = calloc(1, sizeof(*c));
  c->srv = l->data;
  uv_tcp_init(l->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) == 0)
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  else
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void server_start(uv_loop_t *loop, server *s, int status) {
  memset(s, 0, sizeof(*s));
  s->status = status;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  assert_int_equal(uv_tcp_init(loop, &s->tcp), 0);
  s->tcp.data = s;
  assert_int_equal(uv_tcp_bind(&s->tcp, (const struct sockaddr *)&a, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&s->tcp, 16, on_connection), 0);
  struct sockaddr_in got;
  int len = sizeof(got);
  uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&got, &len);
  s->port = ntohs(got.sin_port);
}

/* ---- loop helpers ---- */

static void on_wake(uv_timer_t *t) {
  (void)t;
}

typedef bool (*pred_fn)(void *);

/* Runs the loop until pred holds or ms pass; returns pred's last value. */
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
static bool is_up(void *arg) {
  return wh_lb_server_up(arg);
}
static bool never(void *arg) {
  (void)arg;
  return false;
}

typedef struct fixture {
  uv_loop_t loop;
  server srv;
  wh_health_store *store;
  wh_health_checker *hc;
  test_svc svc;
  char url[64];
  wh_lb *lb;
} fixture;

static void fx_setup(fixture *f, int status) {
  memset(f, 0, sizeof(*f));
  uv_loop_init(&f->loop);
  server_start(&f->loop, &f->srv, status);
  f->store = wh_health_store_new();
  f->hc = wh_health_checker_new(&f->loop, f->store);
  assert_non_null(f->hc);
  snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->srv.port);
  test_svc_init(&f->svc);
  test_svc_add(&f->svc, f->url, 1);
  f->svc.hc.interval = 40 * WH_MS;
  f->svc.hc.timeout = 2 * WH_SEC;
  f->svc.hc.method = (char *)"GET";
  f->svc.hc.path = (char *)"/health";
  f->svc.hc.follow_redirects = true;
  f->svc.lb.health_check = &f->svc.hc;
  f->lb = wh_lb_new("app@file", &f->svc.lb, 1, f->store, NULL);
  assert_non_null(f->lb);
}

static void fx_commit(fixture *f) {
  wh_health_checker_begin(f->hc);
  assert_int_equal(wh_health_checker_add(f->hc, "app@file", &f->svc.lb, false), 0);
  wh_health_checker_commit(f->hc);
}

static void fx_done(fixture *f) {
  wh_health_checker_close(f->hc);
  wh_lb_free(f->lb);
  wh_health_store_free(f->store);
  uv_close((uv_handle_t *)&f->srv.tcp, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void test_up_down_up(void **state) {
  (void)state;
  fixture f;
  fx_setup(&f, 200);
  fx_commit(&f);
  assert_int_equal(wh_health_checker_ntargets(f.hc), 1);
  const wh_lb_server *s = wh_lb_server_at(f.lb, 0);
  assert_true(wh_lb_server_up(s));
  assert_true(run_until(&f.loop, never, NULL, 200) == false);
  assert_true(f.srv.requests >= 2);
  assert_true(wh_lb_server_up(s));
  assert_non_null(strstr(f.srv.last, "GET /health HTTP/1.1\r\n"));
  f.srv.status = 503;
  assert_true(run_until(&f.loop, is_down, (void *)s, 3000));
  assert_null(wh_lb_pick(f.lb, 0, NULL, NULL));
  f.srv.status = 399;
  assert_true(run_until(&f.loop, is_up, (void *)s, 3000));
  assert_ptr_equal(wh_lb_pick(f.lb, 0, NULL, NULL), s);
  fx_done(&f);
}

static void test_exact_status(void **state) {
  (void)state;
  fixture f;
  fx_setup(&f, 204);
  f.svc.hc.status = 200;
  fx_commit(&f);
  const wh_lb_server *s = wh_lb_server_at(f.lb, 0);
  assert_true(run_until(&f.loop, is_down, (void *)s, 3000));
  f.srv.status = 200;
  assert_true(run_until(&f.loop, is_up, (void *)s, 3000));
  fx_done(&f);
}

static void test_connection_refused_down(void **state) {
  (void)state;
  fixture f;
  fx_setup(&f, 200);
  f.svc.hc.port = 1; /* nothing listens there */
  fx_commit(&f);
  const wh_lb_server *s = wh_lb_server_at(f.lb, 0);
  assert_true(run_until(&f.loop, is_down, (void *)s, 3000));
  assert_int_equal(f.srv.requests, 0);
  fx_done(&f);
}

static void test_hostname_headers_method(void **state) {
  (void)state;
  fixture f;
  fx_setup(&f, 200);
  static char *keys[] = {(char *)"X-Check", (char *)"Host"};
  static char *vals[] = {(char *)"yes", (char *)"ignored.example"};
  f.svc.hc.headers.keys = keys;
  f.svc.hc.headers.vals = vals;
  f.svc.hc.headers.n = 2;
  f.svc.hc.hostname = (char *)"hc.example";
  f.svc.hc.method = (char *)"HEAD";
  f.svc.hc.path = (char *)"ping?x=1";
  fx_commit(&f);
  run_until(&f.loop, never, NULL, 150);
  assert_true(f.srv.requests >= 1);
  assert_non_null(strstr(f.srv.last, "HEAD /ping?x=1 HTTP/1.1\r\n"));
  assert_non_null(strstr(f.srv.last, "\r\nHost: hc.example\r\n"));
  assert_non_null(strstr(f.srv.last, "\r\nX-Check: yes\r\n"));
  assert_null(strstr(f.srv.last, "ignored.example"));
  fx_done(&f);
}

static void test_redirect_not_followed_is_healthy(void **state) {
  (void)state;
  fixture f;
  fx_setup(&f, 302);
  f.svc.hc.follow_redirects = false;
  fx_commit(&f);
  const wh_lb_server *s = wh_lb_server_at(f.lb, 0);
  run_until(&f.loop, never, NULL, 200);
  assert_true(f.srv.requests >= 2);
  assert_true(wh_lb_server_up(s));
  fx_done(&f);
}

static void test_reconfigure_keeps_state_and_drops(void **state) {
  (void)state;
  fixture f;
  fx_setup(&f, 500);
  fx_commit(&f);
  const wh_lb_server *s = wh_lb_server_at(f.lb, 0);
  assert_true(run_until(&f.loop, is_down, (void *)s, 3000));
  /* same targets again, then with changed settings: state survives */
  fx_commit(&f);
  assert_false(wh_lb_server_up(s));
  f.svc.hc.unhealthy_interval = 30 * WH_MS;
  fx_commit(&f);
  assert_int_equal(wh_health_checker_ntargets(f.hc), 1);
  assert_false(wh_lb_server_up(s));
  assert_int_equal(wh_health_store_count(f.store), 1);
  /* the service goes: its target and its hold on the cell go too */
  wh_health_checker_begin(f.hc);
  wh_health_checker_commit(f.hc);
  assert_int_equal(wh_health_checker_ntargets(f.hc), 0);
  int before = f.srv.requests;
  run_until(&f.loop, never, NULL, 150);
  assert_int_equal(f.srv.requests, before);
  assert_int_equal(wh_health_store_count(f.store), 1); /* still the balancer's */
  fx_done(&f);
}

static void test_grpc_and_weight_zero_skipped(void **state) {
  (void)state;
  fixture f;
  fx_setup(&f, 200);
  test_svc_add(&f.svc, "http://127.0.0.1:9", 0);
  fx_commit(&f);
  assert_int_equal(wh_health_checker_ntargets(f.hc), 1);
  f.svc.hc.mode = (char *)"grpc";
  fx_commit(&f);
  assert_int_equal(wh_health_checker_ntargets(f.hc), 0);
  /* no healthCheck at all */
  f.svc.lb.health_check = NULL;
  fx_commit(&f);
  assert_int_equal(wh_health_checker_ntargets(f.hc), 0);
  fx_done(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_up_down_up),
      cmocka_unit_test(test_exact_status),
      cmocka_unit_test(test_connection_refused_down),
      cmocka_unit_test(test_hostname_headers_method),
      cmocka_unit_test(test_redirect_not_followed_is_healthy),
      cmocka_unit_test(test_reconfigure_keeps_state_and_drops),
      cmocka_unit_test(test_grpc_and_weight_zero_skipped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
