#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/core/err.h"
#include "lib/core/str.h"
#include "lib/net/curl_uv.h"

/* ---- a tiny HTTP/1.1 server on 127.0.0.1, one thread per connection ----
 * "/ok" answers 200 "hello" (keep-alive), "/slow" never answers (until the
 * client goes or the server stops), anything else 404. */

#define MAX_CONNS 64

typedef struct server {
  int fd;
  int port;
  pthread_t acceptor;
  pthread_t conns[MAX_CONNS];
  int nconns;
  atomic_bool stop;
  atomic_int accepted;
} server;

typedef struct conn_arg {
  server *s;
  int fd;
} conn_arg;

static void *conn_main(void *p) {
  conn_arg *ca = p;
  server *s = ca->s;
  int fd = ca->fd;
  free(ca);
  char buf[4096];
  size_t len = 0;
  while (!atomic_load(&s->stop)) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, 20) <= 0)
      continue;
    ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
    if (n <= 0)
      break;
    len += (size_t)n;
    buf[len] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (!end)
      continue;
    if (strncmp(buf, "GET /slow", 9) == 0) {
      len = 0; /* hold the request: wait for the client or the end */
      continue;
    }
    const char *resp = strncmp(buf, "GET /ok", 7) == 0
                           ? "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
                           : "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    if (send(fd, resp, strlen(resp), MSG_NOSIGNAL) < 0)
      break;
    size_t used = (size_t)(end + 4 - buf);
    memmove(buf, buf + used, len - used);
    len -= used;
  }
  close(fd);
  return NULL;
}

static void *accept_main(void *p) {
  server *s = p;
  while (!atomic_load(&s->stop)) {
    struct pollfd pf = {.fd = s->fd, .events = POLLIN};
    if (poll(&pf, 1, 20) <= 0)
      continue;
    int fd = accept(s->fd, NULL, NULL);
    if (fd < 0)
      continue;
    conn_arg *ca = malloc(sizeof(*ca));
    if (!ca || s->nconns == MAX_CONNS) {
      free(ca);
      close(fd);
      continue;
    }
    ca->s = s;
    ca->fd = fd;
    atomic_fetch_add(&s->accepted, 1);
    if (pthread_create(&s->conns[s->nconns], NULL, conn_main, ca) == 0)
      s->nconns++;
    else {
      free(ca);
      close(fd);
    }
  }
  return NULL;
}

static server *server_start(void) {
  server *s = calloc(1, sizeof(*s));
  assert_non_null(s);
  s->fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(s->fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(s->fd, 64), 0);
  socklen_t al = sizeof(a);
  getsockname(s->fd, (struct sockaddr *)&a, &al);
  s->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&s->acceptor, NULL, accept_main, s), 0);
  return s;
}

static void server_stop(server *s) {
  atomic_store(&s->stop, true);
  pthread_join(s->acceptor, NULL);
  for (int i = 0; i < s->nconns; i++)
    pthread_join(s->conns[i], NULL);
  close(s->fd);
  free(s);
}

/* A free port nobody listens on. */
static int closed_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bind(fd, (struct sockaddr *)&a, sizeof(a));
  socklen_t al = sizeof(a);
  getsockname(fd, (struct sockaddr *)&a, &al);
  close(fd);
  return ntohs(a.sin_port);
}

/* ---- fixtures ---- */

typedef struct fx {
  uv_loop_t loop;
  wh_curl_uv *m;
  server *srv;
} fx;

typedef struct req {
  fx *f;
  CURL *easy;
  wh_strbuf body;
  int calls;
  CURLcode rc;
  long status;
  struct req *then; /* started from this one's done callback */
} req;

static int setup(void **state) {
  fx *f = calloc(1, sizeof(*f));
  assert_int_equal(uv_loop_init(&f->loop), 0);
  f->m = wh_curl_uv_new(&f->loop);
  if (!f->m) {
    uv_loop_close(&f->loop);
    free(f);
    return -1; /* libcurl.so.4 missing: every test here needs it */
  }
  f->srv = server_start();
  *state = f;
  return 0;
}

static void walk_count(uv_handle_t *h, void *arg) {
  (void)h;
  (*(int *)arg)++;
}

static int open_handles(uv_loop_t *loop) {
  int n = 0;
  uv_walk(loop, walk_count, &n);
  return n;
}

static int teardown(void **state) {
  fx *f = *state;
  if (f->m)
    wh_curl_uv_close(f->m);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  server_stop(f->srv);
  free(f);
  return 0;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud) {
  req *r = ud;
  wh_strbuf_append(&r->body, p, size * n);
  return size * n;
}

static void on_done(void *arg, CURL *easy, CURLcode rc);

static req *req_new(fx *f, const char *path, int port, long timeout_ms) {
  req *r = calloc(1, sizeof(*r));
  r->f = f;
  const wh_curl_api *api = wh_curl_uv_api(f->m);
  r->easy = api->easy_init();
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port ? port : f->srv->port, path);
  api->easy_setopt(r->easy, CURLOPT_URL, url);
  api->easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
  api->easy_setopt(r->easy, CURLOPT_NOPROXY, "*");
  api->easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_write);
  api->easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
  if (timeout_ms)
    api->easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
  return r;
}

static void req_free(fx *f, req *r) {
  wh_curl_uv_api(f->m)->easy_cleanup(r->easy);
  wh_strbuf_free(&r->body);
  free(r);
}

static void on_done(void *arg, CURL *easy, CURLcode rc) {
  req *r = arg;
  assert_ptr_equal(easy, r->easy);
  r->calls++;
  r->rc = rc;
  wh_curl_uv_api(r->f->m)->easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
  if (r->then)
    assert_int_equal(wh_curl_uv_add(r->f->m, r->then->easy, on_done, r->then), 0);
}

/* ---- tests ---- */

static void test_get_then_idle_without_handles(void **state) {
  fx *f = *state;
  req *r = req_new(f, "/ok", 0, 5000);
  assert_int_equal(wh_curl_uv_add(f->m, r->easy, on_done, r), 0);
  assert_int_equal(r->calls, 0); /* never from inside add */
  assert_int_equal(wh_curl_uv_running(f->m), 1);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(r->calls, 1);
  assert_int_equal(r->rc, CURLE_OK);
  assert_int_equal(r->status, 200);
  assert_string_equal(wh_strbuf_cstr(&r->body), "hello");
  assert_int_equal(wh_curl_uv_running(f->m), 0);
  /* the loop ended by itself and the idle multi keeps no uv handle open */
  assert_int_equal(open_handles(&f->loop), 0);
  req_free(f, r);
}

static void test_concurrent_and_reused(void **state) {
  fx *f = *state;
  req *r[6];
  for (int i = 0; i < 6; i++) {
    r[i] = req_new(f, i == 5 ? "/nope" : "/ok", 0, 5000);
    assert_int_equal(wh_curl_uv_add(f->m, r[i]->easy, on_done, r[i]), 0);
  }
  uv_run(&f->loop, UV_RUN_DEFAULT);
  for (int i = 0; i < 6; i++) {
    assert_int_equal(r[i]->calls, 1);
    assert_int_equal(r[i]->rc, CURLE_OK);
    assert_int_equal(r[i]->status, i == 5 ? 404 : 200);
  }
  for (int i = 1; i < 6; i++)
    req_free(f, r[i]);
  /* one at a time, a request reuses a connection the multi keeps */
  int before = atomic_load(&f->srv->accepted);
  for (int round = 0; round < 3; round++) {
    r[0]->calls = 0;
    assert_int_equal(wh_curl_uv_add(f->m, r[0]->easy, on_done, r[0]), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(r[0]->calls, 1);
    assert_int_equal(r[0]->status, 200);
  }
  req_free(f, r[0]);
  assert_int_equal(atomic_load(&f->srv->accepted), before);
}

static void test_refused(void **state) {
  fx *f = *state;
  req *r = req_new(f, "/ok", closed_port(), 5000);
  assert_int_equal(wh_curl_uv_add(f->m, r->easy, on_done, r), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(r->calls, 1);
  assert_int_equal(r->rc, CURLE_COULDNT_CONNECT);
  req_free(f, r);
}

static void test_timeout(void **state) {
  fx *f = *state;
  req *r = req_new(f, "/slow", 0, 200);
  uint64_t t0 = uv_hrtime();
  assert_int_equal(wh_curl_uv_add(f->m, r->easy, on_done, r), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  uint64_t ms = (uv_hrtime() - t0) / 1000000;
  assert_int_equal(r->calls, 1);
  assert_int_equal(r->rc, CURLE_OPERATION_TIMEDOUT);
  assert_true(ms >= 150 && ms < 3000);
  req_free(f, r);
}

static void test_chained_from_done(void **state) {
  fx *f = *state;
  req *a = req_new(f, "/ok", 0, 5000), *b = req_new(f, "/nope", 0, 5000);
  a->then = b;
  assert_int_equal(wh_curl_uv_add(f->m, a->easy, on_done, a), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(a->calls, 1);
  assert_int_equal(b->calls, 1);
  assert_int_equal(b->status, 404);
  req_free(f, a);
  req_free(f, b);
}

typedef struct cancel_ctx {
  fx *f;
  req *r;
} cancel_ctx;

static void on_cancel_timer(uv_timer_t *t) {
  cancel_ctx *c = t->data;
  wh_curl_uv_cancel(c->f->m, c->r->easy);
  uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel(void **state) {
  fx *f = *state;
  req *r = req_new(f, "/slow", 0, 10000);
  assert_int_equal(wh_curl_uv_add(f->m, r->easy, on_done, r), 0);
  uv_timer_t t;
  cancel_ctx c = {f, r};
  uv_timer_init(&f->loop, &t);
  t.data = &c;
  uv_timer_start(&t, on_cancel_timer, 100, 0);
  uint64_t t0 = uv_hrtime();
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_true((uv_hrtime() - t0) / 1000000 < 3000); /* not held until the timeout */
  assert_int_equal(r->calls, 0);
  assert_int_equal(wh_curl_uv_running(f->m), 0);
  req_free(f, r);
  /* the multi still works */
  req *ok = req_new(f, "/ok", 0, 5000);
  assert_int_equal(wh_curl_uv_add(f->m, ok->easy, on_done, ok), 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(ok->status, 200);
  req_free(f, ok);
}

static void on_close_timer(uv_timer_t *t) {
  fx *f = t->data;
  wh_curl_uv_close(f->m);
  f->m = NULL;
  uv_close((uv_handle_t *)t, NULL);
}

static void test_close_aborts_running(void **state) {
  fx *f = *state;
  req *r = req_new(f, "/slow", 0, 10000);
  assert_int_equal(wh_curl_uv_add(f->m, r->easy, on_done, r), 0);
  uv_timer_t t;
  uv_timer_init(&f->loop, &t);
  t.data = f;
  wh_curl_uv *m = f->m;
  const wh_curl_api *api = wh_curl_uv_api(m);
  r->f = &(fx){.m = m}; /* on_done reads the api through r->f->m */
  uv_timer_start(&t, on_close_timer, 100, 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(r->calls, 1);
  assert_int_equal(r->rc, CURLE_ABORTED_BY_CALLBACK);
  api->easy_cleanup(r->easy);
  wh_strbuf_free(&r->body);
  free(r);
}

static void test_bad_input(void **state) {
  fx *f = *state;
  assert_int_equal(wh_curl_uv_add(f->m, NULL, on_done, NULL), WH_ERR);
  req *r = req_new(f, "/ok", 0, 5000);
  assert_int_equal(wh_curl_uv_add(f->m, r->easy, NULL, r), WH_ERR);
  wh_curl_uv_cancel(f->m, r->easy); /* not running: nothing happens */
  wh_curl_uv_cancel(f->m, NULL);
  assert_int_equal(wh_curl_uv_running(f->m), 0);
  assert_int_equal(wh_curl_uv_add(NULL, r->easy, on_done, r), WH_ERR);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(r->calls, 0);
  req_free(f, r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_get_then_idle_without_handles, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_and_reused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_chained_from_done, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_aborts_running, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
