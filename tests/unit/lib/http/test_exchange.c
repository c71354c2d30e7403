/* lib/http/exchange.c: request header changes as the next handler sees them,
 * and response edits applied in wrapping order (the outermost middleware's
 * last), with each operation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/http/exchange.h"
#include "lib/http/headers.h"

static char *names[] = {"Accept", "X-Old"};
static char *values[] = {"text/html", "1"};

static void init(wh_mw_exchange *x, wh_http_req *req) {
  memset(x, 0, sizeof(*x));
  memset(req, 0, sizeof(*req));
  req->nheaders = 2;
  req->hdr_names = names;
  req->hdr_values = values;
  x->req = req;
}

static void test_request_header_view(void **state) {
  (void)state;
  wh_mw_exchange x;
  wh_http_req req;
  init(&x, &req);
  assert_string_equal(wh_mw_exchange_header(&x, "accept"), "text/html");
  assert_int_equal(wh_mw_exchange_set_header(&x, "Accept", "*/*"), 0);
  assert_string_equal(wh_mw_exchange_header(&x, "ACCEPT"), "*/*");
  assert_int_equal(wh_mw_exchange_set_header(&x, "X-Old", NULL), 0); /* removed */
  assert_null(wh_mw_exchange_header(&x, "X-Old"));
  assert_int_equal(wh_mw_exchange_set_header(&x, "X-New", "v"), 0);
  assert_string_equal(wh_mw_exchange_header(&x, "x-new"), "v");
  assert_int_equal(x.set_headers.n, 3);
  wh_mw_exchange_free(&x);
}

/* Two middlewares set the same header: the outer one (level 1) wins. */
static void test_outermost_set_wins(void **state) {
  (void)state;
  wh_mw_exchange x;
  wh_http_req req;
  init(&x, &req);
  x.level = 1;
  wh_mw_exchange_resp(&x, WH_RESP_SET, "X-Frame-Options", "DENY");
  x.level = 2;
  wh_mw_exchange_resp(&x, WH_RESP_SET, "X-Frame-Options", "SAMEORIGIN");
  wh_mw_exchange_resp(&x, WH_RESP_DEL, "Server", NULL);
  wh_headers h;
  wh_headers_init(&h);
  wh_headers_add_cstr(&h, "Server", "backend");
  wh_headers_add_cstr(&h, "X-Frame-Options", "ALLOW");
  wh_resp_edits_apply(x.edits, x.nedits, &h);
  assert_string_equal(wh_headers_get(&h, "X-Frame-Options"), "DENY");
  assert_null(wh_headers_get(&h, "Server"));
  wh_headers_free(&h);
  wh_mw_exchange_free(&x);
}

static void test_append_default_add(void **state) {
  (void)state;
  wh_mw_exchange x;
  wh_http_req req;
  init(&x, &req);
  x.level = 1;
  wh_mw_exchange_resp(&x, WH_RESP_APPEND, "Vary", "Origin");
  wh_mw_exchange_resp(&x, WH_RESP_APPEND, "Vary", "accept-encoding"); /* already listed */
  wh_mw_exchange_resp(&x, WH_RESP_DEFAULT, "Cache-Control", "no-store");
  wh_mw_exchange_resp(&x, WH_RESP_DEFAULT, "Content-Type", "text/plain");
  wh_mw_exchange_resp(&x, WH_RESP_ADD, "Set-Cookie", "b=2");
  wh_headers h;
  wh_headers_init(&h);
  wh_headers_add_cstr(&h, "Vary", "Accept-Encoding");
  wh_headers_add_cstr(&h, "Content-Type", "application/json");
  wh_headers_add_cstr(&h, "Set-Cookie", "a=1");
  wh_resp_edits_apply(x.edits, x.nedits, &h);
  assert_string_equal(wh_headers_get(&h, "Vary"), "Accept-Encoding, Origin");
  assert_string_equal(wh_headers_get(&h, "Cache-Control"), "no-store");
  assert_string_equal(wh_headers_get(&h, "Content-Type"), "application/json");
  assert_int_equal(wh_headers_count(&h, "Set-Cookie"), 2);
  wh_headers_free(&h);
  wh_mw_exchange_free(&x);
}

static void test_del_cookie_keeps_the_others(void **state) {
  (void)state;
  wh_mw_exchange x;
  wh_http_req req;
  init(&x, &req);
  x.level = 1;
  wh_mw_exchange_resp(&x, WH_RESP_DEL_COOKIE, "Set-Cookie", "session");
  wh_mw_exchange_resp(&x, WH_RESP_ADD, "Set-Cookie", "session=auth; Path=/");
  wh_headers h;
  wh_headers_init(&h);
  wh_headers_add_cstr(&h, "Set-Cookie", "theme=dark");
  wh_headers_add_cstr(&h, "Set-Cookie", "session=backend");
  wh_headers_add_cstr(&h, "Set-Cookie", "sessionid=other");
  wh_resp_edits_apply(x.edits, x.nedits, &h);
  const char *want[] = {"theme=dark", "sessionid=other", "session=auth; Path=/"};
  size_t k = 0;
  for (size_t i = 0; i < h.n; i++)
    if (strcmp(h.v[i].name, "Set-Cookie") == 0) {
      assert_true(k < 3);
      assert_string_equal(h.v[i].value, want[k++]);
    }
  assert_int_equal(k, 3);
  wh_headers_free(&h);
  wh_mw_exchange_free(&x);
}

static void test_local_response_edits(void **state) {
  (void)state;
  wh_mw_exchange x;
  wh_http_req req;
  init(&x, &req);
  x.level = 1;
  wh_mw_exchange_resp(&x, WH_RESP_SET, "Strict-Transport-Security", "max-age=60");
  wh_http_resp r;
  wh_http_resp_init(&r);
  wh_http_resp_text(&r, 429, "Too Many Requests");
  wh_resp_edits_apply_local(x.edits, x.nedits, &r);
  assert_string_equal(wh_http_resp_get_header(&r, "Strict-Transport-Security"), "max-age=60");
  assert_non_null(wh_http_resp_get_header(&r, "Content-Type"));
  wh_http_resp_free(&r);
  wh_mw_exchange_free(&x);
}

static int ended;
static int ended_status;
static void on_end(void *arg, int status) {
  ended += *(int *)arg;
  ended_status = status;
}

/* End callbacks the data plane did not take over run as aborted. */
static void test_unclaimed_end_callbacks_run_as_aborted(void **state) {
  (void)state;
  wh_mw_exchange x;
  wh_http_req req;
  init(&x, &req);
  int one = 1;
  ended = 0;
  ended_status = -1;
  assert_int_equal(wh_mw_exchange_on_end(&x, on_end, &one), 0);
  wh_mw_exchange_free(&x);
  assert_int_equal(ended, 1);
  assert_int_equal(ended_status, 0);
}

static void test_suspend_without_a_data_plane(void **state) {
  (void)state;
  wh_mw_exchange x;
  wh_http_req req;
  init(&x, &req);
  assert_null(wh_mw_exchange_suspend(&x));
  wh_mw_exchange_free(&x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_header_view),
      cmocka_unit_test(test_outermost_set_wins),
      cmocka_unit_test(test_append_default_add),
      cmocka_unit_test(test_del_cookie_keeps_the_others),
      cmocka_unit_test(test_local_response_edits),
      cmocka_unit_test(test_unclaimed_end_callbacks_run_as_aborted),
      cmocka_unit_test(test_suspend_without_a_data_plane),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
