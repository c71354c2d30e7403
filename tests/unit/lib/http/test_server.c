/* Drives lib/http/server.c over real loopback sockets: the server runs on a
 * uv loop in the test thread, a blocking client runs in a second thread and
 * records what it saw; assertions run after both are done. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/http/server.h"

#define MAXR 8
#define container_of(p, T, m) ((T *)((char *)(p)-offsetof(T, m)))

typedef struct client client;
typedef void (*client_fn)(client *cl);

struct client {
  int port;
  int fd;
  char buf[256 * 1024];
  size_t len;
  /* results */
  char resp[MAXR][80 * 1024];
  int nresp;
  bool eof;    /* the server closed the connection */
  int handled; /* handler calls, read after the run */
  int kept_fd; /* left open by the client for the server to see at stop */
  size_t conns_at_stop;
  client_fn fn;
  uv_async_t done;
};

/* ---- the server side ---- */

static void handler(void *ctx, const wh_http_req *req, wh_http_resp *resp) {
  client *cl = ctx;
  cl->handled++;
  resp->status = 200;
  if (wh_http_req_header(req, "X-Status"))
    resp->status = atoi(wh_http_req_header(req, "X-Status"));
  wh_http_resp_header(resp, "Content-Type", "text/plain");
  wh_http_resp_header(resp, "X-Evil", "a\r\nInjected: 1"); /* must be dropped */
  wh_strbuf_printf(&resp->body, "%s %s q=%s host=%s body=%.*s", req->method, req->path,
                   req->query ? req->query : "-", req->host ? req->host : "-", (int)req->body_len,
                   req->body);
  if (wh_http_req_header(req, "X-Close"))
    resp->close = true;
}

/* ---- the client side (second thread, blocking sockets) ---- */

static void cl_connect(client *cl) {
  cl->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cl->port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  struct timeval tv = {.tv_sec = 5};
  setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(cl->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
    close(cl->fd);
    cl->fd = -1;
  }
  cl->len = 0;
}

static void cl_send(client *cl, const char *s, size_t n) {
  while (n) {
    ssize_t w = send(cl->fd, s, n, MSG_NOSIGNAL);
    if (w <= 0)
      return;
    s += w;
    n -= (size_t)w;
  }
}

static void cl_sends(client *cl, const char *s) {
  cl_send(cl, s, strlen(s));
}

static bool cl_fill(client *cl) {
  if (cl->len >= sizeof(cl->buf) - 1)
    return false;
  ssize_t r = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - 1 - cl->len, 0);
  if (r <= 0) {
    if (r == 0)
      cl->eof = true;
    return false;
  }
  cl->len += (size_t)r;
  cl->buf[cl->len] = '\0';
  return true;
}

/* Reads one response (head + Content-Length body, no body when head_only)
 * into the next result slot. False on EOF or timeout first. */
static bool cl_response(client *cl, bool head_only) {
  for (;;) {
    cl->buf[cl->len] = '\0';
    char *end = strstr(cl->buf, "\r\n\r\n");
    if (end) {
      size_t head = (size_t)(end - cl->buf) + 4;
      size_t body = 0;
      char *clh = strcasestr(cl->buf, "\r\nContent-Length: ");
      if (clh && clh < end && !head_only)
        body = strtoul(clh + 18, NULL, 10);
      if (cl->len >= head + body) {
        size_t n = head + body;
        if (cl->nresp < MAXR) {
          size_t c = n < sizeof(cl->resp[0]) - 1 ? n : sizeof(cl->resp[0]) - 1;
          memcpy(cl->resp[cl->nresp], cl->buf, c);
          cl->resp[cl->nresp][c] = '\0';
          cl->nresp++;
        }
        memmove(cl->buf, cl->buf + n, cl->len - n);
        cl->len -= n;
        return true;
      }
    }
    if (!cl_fill(cl))
      return false;
  }
}

/* Waits for the server to close (EOF); leftover bytes stay in buf. */
static void cl_wait_eof(client *cl) {
  while (cl_fill(cl))
    ;
}

static void cl_close(client *cl) {
  if (cl->fd >= 0)
    close(cl->fd);
  cl->fd = -1;
}

static void *client_main(void *arg) {
  client *cl = arg;
  cl->fn(cl);
  cl_close(cl);
  uv_async_send(&cl->done);
  return NULL;
}

static void on_done(uv_async_t *a) {
  wh_http_server *s = a->data;
  client *cl = container_of(a, client, done);
  cl->conns_at_stop = wh_http_server_connections(s);
  wh_http_server_stop(s);
  uv_close((uv_handle_t *)a, NULL);
}

static client *run(client_fn fn, const wh_http_limits *lim) {
  client *cl = calloc(1, sizeof(*cl));
  cl->fn = fn;
  cl->fd = -1;
  cl->kept_fd = -1;
  uv_loop_t loop;
  uv_loop_init(&loop);
  char err[256];
  wh_http_server *s =
      wh_http_server_start(&loop, "127.0.0.1", 0, lim, handler, cl, err, sizeof(err));
  assert_non_null(s);
  cl->port = wh_http_server_port(s);
  assert_true(cl->port > 0);
  uv_async_init(&loop, &cl->done, on_done);
  cl->done.data = s;
  pthread_t th;
  pthread_create(&th, NULL, client_main, cl);
  uv_run(&loop, UV_RUN_DEFAULT); /* ends once the server and the async are closed */
  pthread_join(th, NULL);
  assert_int_equal(uv_loop_close(&loop), 0);
  return cl;
}

/* ---- cases ---- */

static void c_simple(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET /hello?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
  cl_response(cl, false);
}

static void test_simple_get(void **state) {
  (void)state;
  client *cl = run(c_simple, NULL);
  assert_int_equal(cl->nresp, 1);
  const char *r = cl->resp[0];
  assert_true(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
  assert_non_null(strstr(r, "\r\nDate: "));
  assert_non_null(strstr(r, "\r\nContent-Type: text/plain\r\n"));
  assert_null(strstr(r, "Injected"));
  assert_null(strstr(r, "Connection: close"));
  assert_non_null(strstr(r, "\r\n\r\nGET /hello q=x=1 host=example.com body="));
  free(cl);
}

static void c_keepalive(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET /one HTTP/1.1\r\nHost: a\r\n\r\n");
  cl_response(cl, false);
  cl_sends(cl, "GET /two HTTP/1.1\r\nHost: a\r\n\r\n");
  cl_response(cl, false);
}

static void test_keepalive_two_requests(void **state) {
  (void)state;
  client *cl = run(c_keepalive, NULL);
  assert_int_equal(cl->nresp, 2);
  assert_non_null(strstr(cl->resp[0], "GET /one "));
  assert_non_null(strstr(cl->resp[1], "GET /two "));
  assert_int_equal(cl->handled, 2);
  free(cl);
}

static void c_pipelined(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
               "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
               "GET /c HTTP/1.1\r\nHost: a\r\n\r\n");
  cl_response(cl, false);
  cl_response(cl, false);
  cl_response(cl, false);
}

static void test_pipelined_in_order(void **state) {
  (void)state;
  client *cl = run(c_pipelined, NULL);
  assert_int_equal(cl->nresp, 3);
  assert_non_null(strstr(cl->resp[0], "GET /a "));
  assert_non_null(strstr(cl->resp[1], "POST /b q=- host=a body=xyz"));
  assert_non_null(strstr(cl->resp[2], "GET /c "));
  free(cl);
}

static void c_head(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n");
  cl_response(cl, true);
  /* no body bytes may follow: the next response must start right away */
  cl_sends(cl, "GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
  cl_response(cl, false);
}

static void test_head_no_body(void **state) {
  (void)state;
  client *cl = run(c_head, NULL);
  assert_int_equal(cl->nresp, 2);
  /* Content-Length of the body a GET would get: "HEAD /h q=- host=a body=" */
  assert_non_null(strstr(cl->resp[0], "\r\nContent-Length: 24\r\n"));
  assert_true(strncmp(cl->resp[1], "HTTP/1.1 200 OK\r\n", 17) == 0);
  assert_non_null(strstr(cl->resp[1], "GET /after "));
  free(cl);
}

static void c_garbage(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "THIS IS NOT HTTP\r\n\r\n");
  cl_response(cl, false);
  cl_wait_eof(cl);
}

static void test_garbage_400_and_close(void **state) {
  (void)state;
  client *cl = run(c_garbage, NULL);
  assert_int_equal(cl->nresp, 1);
  assert_true(strncmp(cl->resp[0], "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
  assert_non_null(strstr(cl->resp[0], "Connection: close\r\n"));
  assert_true(cl->eof);
  assert_int_equal(cl->handled, 0);
  free(cl);
}

static void c_huge_header(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
  static char big[70 * 1024];
  memset(big, 'a', sizeof(big));
  cl_send(cl, big, sizeof(big));
  cl_sends(cl, "\r\n\r\n");
  cl_response(cl, false);
  cl_wait_eof(cl);
}

static void test_huge_header_431(void **state) {
  (void)state;
  client *cl = run(c_huge_header, NULL);
  assert_int_equal(cl->nresp, 1);
  assert_true(strncmp(cl->resp[0], "HTTP/1.1 431 ", 13) == 0);
  assert_true(cl->eof);
  assert_int_equal(cl->handled, 0);
  free(cl);
}

static void c_many_headers(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET / HTTP/1.1\r\nHost: a\r\n");
  for (int i = 0; i < 101; i++) {
    char h[32];
    snprintf(h, sizeof(h), "X-H%d: v\r\n", i);
    cl_sends(cl, h);
  }
  cl_sends(cl, "\r\n");
  cl_response(cl, false);
  cl_wait_eof(cl);
}

static void test_too_many_headers_431(void **state) {
  (void)state;
  client *cl = run(c_many_headers, NULL);
  assert_int_equal(cl->nresp, 1);
  assert_true(strncmp(cl->resp[0], "HTTP/1.1 431 ", 13) == 0);
  assert_true(cl->eof);
  free(cl);
}

static void c_no_host(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET / HTTP/1.1\r\n\r\n");
  cl_response(cl, false);
  cl_wait_eof(cl);
}

static void test_missing_host_400(void **state) {
  (void)state;
  client *cl = run(c_no_host, NULL);
  assert_int_equal(cl->nresp, 1);
  assert_true(strncmp(cl->resp[0], "HTTP/1.1 400 ", 13) == 0);
  assert_true(cl->eof);
  assert_int_equal(cl->handled, 0);
  free(cl);
}

static void c_two_hosts(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  cl_response(cl, false);
  cl_wait_eof(cl);
}

static void test_two_hosts_400(void **state) {
  (void)state;
  client *cl = run(c_two_hosts, NULL);
  assert_int_equal(cl->nresp, 1);
  assert_true(strncmp(cl->resp[0], "HTTP/1.1 400 ", 13) == 0);
  assert_int_equal(cl->handled, 0);
  free(cl);
}

static void c_cl_te(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
               "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  cl_response(cl, false);
  cl_wait_eof(cl);
}

static void test_cl_and_te_400(void **state) {
  (void)state;
  client *cl = run(c_cl_te, NULL);
  assert_int_equal(cl->nresp, 1);
  assert_true(strncmp(cl->resp[0], "HTTP/1.1 400 ", 13) == 0);
  assert_true(cl->eof);
  assert_int_equal(cl->handled, 0);
  free(cl);
}

static void c_error_discards_pipeline(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"
               "GET /bad\x01 HTTP/1.1\r\nHost: a\r\n\r\n"
               "GET /never HTTP/1.1\r\nHost: a\r\n\r\n");
  cl_response(cl, false);
  cl_response(cl, false);
  cl_wait_eof(cl);
}

static void test_error_discards_rest_of_pipeline(void **state) {
  (void)state;
  client *cl = run(c_error_discards_pipeline, NULL);
  assert_int_equal(cl->nresp, 2);
  assert_non_null(strstr(cl->resp[0], "GET /ok "));
  assert_true(strncmp(cl->resp[1], "HTTP/1.1 400 ", 13) == 0);
  assert_true(cl->eof);
  assert_int_equal(cl->len, 0);
  assert_int_equal(cl->handled, 1);
  free(cl);
}

static void c_http10(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  cl_response(cl, false);
  cl_sends(cl, "GET /plain HTTP/1.0\r\n\r\n");
  cl_response(cl, false);
  cl_wait_eof(cl);
}

static void test_http10_keepalive_then_close(void **state) {
  (void)state;
  client *cl = run(c_http10, NULL);
  assert_int_equal(cl->nresp, 2);
  assert_non_null(strstr(cl->resp[0], "Connection: keep-alive\r\n"));
  assert_non_null(strstr(cl->resp[0], "GET /ka q=- host=-"));
  assert_non_null(strstr(cl->resp[1], "Connection: close\r\n"));
  assert_true(cl->eof);
  free(cl);
}

static void c_conn_close(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  cl_response(cl, false);
  cl_wait_eof(cl);
}

static void test_connection_close_honoured(void **state) {
  (void)state;
  client *cl = run(c_conn_close, NULL);
  assert_int_equal(cl->nresp, 1);
  assert_non_null(strstr(cl->resp[0], "Connection: close\r\n"));
  assert_true(cl->eof);
  free(cl);
}

static void c_handler_close(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET / HTTP/1.1\r\nHost: a\r\nX-Close: 1\r\n\r\n");
  cl_response(cl, false);
  cl_wait_eof(cl);
}

static void test_handler_requests_close(void **state) {
  (void)state;
  client *cl = run(c_handler_close, NULL);
  assert_int_equal(cl->nresp, 1);
  assert_non_null(strstr(cl->resp[0], "Connection: close\r\n"));
  assert_true(cl->eof);
  free(cl);
}

static void c_big_body(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n");
  cl_response(cl, false);
  cl_wait_eof(cl);
}

static void test_body_too_large_413(void **state) {
  (void)state;
  client *cl = run(c_big_body, NULL);
  assert_int_equal(cl->nresp, 1);
  assert_true(strncmp(cl->resp[0], "HTTP/1.1 413 ", 13) == 0);
  assert_true(cl->eof);
  assert_int_equal(cl->handled, 0);
  free(cl);
}

static void c_chunked_too_large(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  static char chunk[600 * 1024];
  memset(chunk, 'b', sizeof(chunk));
  for (int i = 0; i < 2; i++) {
    char h[32];
    snprintf(h, sizeof(h), "%zx\r\n", sizeof(chunk));
    cl_sends(cl, h);
    cl_send(cl, chunk, sizeof(chunk));
    cl_sends(cl, "\r\n");
  }
  cl_sends(cl, "0\r\n\r\n");
  cl_response(cl, false);
  cl_wait_eof(cl);
}

static void test_chunked_body_too_large_413(void **state) {
  (void)state;
  client *cl = run(c_chunked_too_large, NULL);
  assert_int_equal(cl->nresp, 1);
  assert_true(strncmp(cl->resp[0], "HTTP/1.1 413 ", 13) == 0);
  assert_int_equal(cl->handled, 0);
  free(cl);
}

static void c_chunked(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  cl_response(cl, false);
}

static void test_chunked_body(void **state) {
  (void)state;
  client *cl = run(c_chunked, NULL);
  assert_int_equal(cl->nresp, 1);
  assert_non_null(strstr(cl->resp[0], "POST /c q=- host=a body=abcde"));
  free(cl);
}

static void c_expect(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
  cl_response(cl, false); /* the interim 100 */
  cl_sends(cl, "hi");
  cl_response(cl, false);
}

static void test_expect_continue(void **state) {
  (void)state;
  client *cl = run(c_expect, NULL);
  assert_int_equal(cl->nresp, 2);
  assert_true(strncmp(cl->resp[0], "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0);
  assert_non_null(strstr(cl->resp[1], "POST /e q=- host=a body=hi"));
  free(cl);
}

static void c_status_204(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET / HTTP/1.1\r\nHost: a\r\nX-Status: 204\r\n\r\n"
               "GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
  cl_response(cl, true);
  cl_response(cl, false);
}

static void test_204_has_no_body(void **state) {
  (void)state;
  client *cl = run(c_status_204, NULL);
  assert_int_equal(cl->nresp, 2);
  assert_true(strncmp(cl->resp[0], "HTTP/1.1 204 No Content\r\n", 25) == 0);
  assert_null(strstr(cl->resp[0], "Content-Length"));
  assert_true(strncmp(cl->resp[1], "HTTP/1.1 200 OK\r\n", 17) == 0);
  free(cl);
}

static void c_absolute_form(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET http://a.example/p/q?z=2 HTTP/1.1\r\nHost: a.example\r\n\r\n");
  cl_response(cl, false);
}

static void test_absolute_form_target(void **state) {
  (void)state;
  client *cl = run(c_absolute_form, NULL);
  assert_int_equal(cl->nresp, 1);
  assert_non_null(strstr(cl->resp[0], "GET /p/q q=z=2 host=a.example"));
  free(cl);
}

static void c_fragment(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET /p#frag HTTP/1.1\r\nHost: a\r\n\r\n");
  cl_response(cl, false);
  cl_wait_eof(cl);
}

static void test_fragment_400(void **state) {
  (void)state;
  client *cl = run(c_fragment, NULL);
  assert_int_equal(cl->nresp, 1);
  assert_true(strncmp(cl->resp[0], "HTTP/1.1 400 ", 13) == 0);
  assert_int_equal(cl->handled, 0);
  free(cl);
}

static void c_head_timeout(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET / HTTP/1.1\r\nHost: a\r\n"); /* and then nothing */
  cl_response(cl, false);
  cl_wait_eof(cl);
}

static void test_head_timeout_408(void **state) {
  (void)state;
  wh_http_limits lim;
  wh_http_limits_default(&lim);
  lim.head_timeout_ms = 150;
  client *cl = run(c_head_timeout, &lim);
  assert_int_equal(cl->nresp, 1);
  assert_true(strncmp(cl->resp[0], "HTTP/1.1 408 ", 13) == 0);
  assert_true(cl->eof);
  assert_int_equal(cl->handled, 0);
  free(cl);
}

static void c_idle_timeout(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  cl_response(cl, false);
  cl_wait_eof(cl); /* closed quietly at the idle deadline */
}

static void test_idle_timeout_closes(void **state) {
  (void)state;
  wh_http_limits lim;
  wh_http_limits_default(&lim);
  lim.idle_timeout_ms = 150;
  client *cl = run(c_idle_timeout, &lim);
  assert_int_equal(cl->nresp, 1);
  assert_true(cl->eof);
  assert_int_equal(cl->len, 0); /* no 408 on an idle connection */
  free(cl);
}

static void c_half_close(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET /hc HTTP/1.1\r\nHost: a\r\n\r\n");
  shutdown(cl->fd, SHUT_WR);
  cl_response(cl, false);
  cl_wait_eof(cl);
}

static void test_half_close_still_answered(void **state) {
  (void)state;
  client *cl = run(c_half_close, NULL);
  assert_int_equal(cl->nresp, 1);
  assert_non_null(strstr(cl->resp[0], "GET /hc "));
  assert_true(cl->eof);
  free(cl);
}

static void c_open_at_stop(client *cl) {
  cl_connect(cl);
  cl_sends(cl, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  cl_response(cl, false);
  cl_sends(cl, "GET / HTTP/1.1\r\n"); /* partial request left open at stop */
  cl->kept_fd = cl->fd;
  cl->fd = -1;
}

static void test_stop_with_open_connections(void **state) {
  (void)state;
  /* The client thread ends with a connection still open and a partial
   * request; stopping the server must free it (ASan checks). */
  client *cl = run(c_open_at_stop, NULL);
  assert_int_equal(cl->nresp, 1);
  assert_int_equal(cl->conns_at_stop, 1);
  close(cl->kept_fd);
  free(cl);
}

static void test_bind_error(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  char err[256] = "";
  assert_null(wh_http_server_start(&loop, "203.0.113.1", 0, NULL, handler, NULL, err, sizeof(err)));
  assert_non_null(strstr(err, "listen on 203.0.113.1"));
  assert_null(
      wh_http_server_start(&loop, "127.0.0.1", 70000, NULL, handler, NULL, err, sizeof(err)));
  assert_non_null(strstr(err, "invalid port"));
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_all_addresses(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  char err[256] = "";
  wh_http_server *s = wh_http_server_start(&loop, "", 0, NULL, handler, NULL, err, sizeof(err));
  assert_non_null(s);
  assert_true(wh_http_server_port(s) > 0);
  assert_int_equal(wh_http_server_connections(s), 0);
  wh_http_server_stop(s);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_simple_get),
      cmocka_unit_test(test_keepalive_two_requests),
      cmocka_unit_test(test_pipelined_in_order),
      cmocka_unit_test(test_head_no_body),
      cmocka_unit_test(test_garbage_400_and_close),
      cmocka_unit_test(test_huge_header_431),
      cmocka_unit_test(test_too_many_headers_431),
      cmocka_unit_test(test_missing_host_400),
      cmocka_unit_test(test_two_hosts_400),
      cmocka_unit_test(test_cl_and_te_400),
      cmocka_unit_test(test_error_discards_rest_of_pipeline),
      cmocka_unit_test(test_http10_keepalive_then_close),
      cmocka_unit_test(test_connection_close_honoured),
      cmocka_unit_test(test_handler_requests_close),
      cmocka_unit_test(test_body_too_large_413),
      cmocka_unit_test(test_chunked_body_too_large_413),
      cmocka_unit_test(test_chunked_body),
      cmocka_unit_test(test_expect_continue),
      cmocka_unit_test(test_204_has_no_body),
      cmocka_unit_test(test_absolute_form_target),
      cmocka_unit_test(test_fragment_400),
      cmocka_unit_test(test_head_timeout_408),
      cmocka_unit_test(test_idle_timeout_closes),
      cmocka_unit_test(test_half_close_still_answered),
      cmocka_unit_test(test_stop_with_open_connections),
      cmocka_unit_test(test_bind_error),
      cmocka_unit_test(test_all_addresses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
