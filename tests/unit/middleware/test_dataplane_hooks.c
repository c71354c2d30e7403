/* The hooks of the middlewares whose work the data plane does (compress,
 * retry, buffering, errors): what each asks of the exchange, from a
 * configuration built directly. The data plane's side is tested end to end
 * in tests/integration/test_mw_{compress,retry,buffering,errors}.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/core/duration.h"
#include "lib/http/compressor.h"
#include "lib/http/exchange.h"
#include "lib/http/request.h"
#include "middleware/buffering.h"
#include "middleware/compress.h"
#include "middleware/errors.h"
#include "middleware/retry.h"

typedef struct tx {
  wh_http_req req;
  wh_http_resp resp;
  wh_mw_exchange x;
  char *names[4], *values[4];
} tx;

static void tx_init(tx *t, const char *method, const char *ae) {
  memset(t, 0, sizeof(*t));
  t->req.method = method;
  t->req.target = "/p?q=1";
  t->req.path = "/p";
  t->req.host = "a.example";
  if (ae) {
    t->names[0] = "Accept-Encoding";
    t->values[0] = (char *)ae;
    t->req.nheaders = 1;
  }
  t->req.hdr_names = t->names;
  t->req.hdr_values = t->values;
  wh_http_resp_init(&t->resp);
  t->x.req = &t->req;
  t->x.resp = &t->resp;
  t->x.path = strdup("/p");
  t->x.mw_name = "m@file";
  t->x.mw_provider = "file";
}

static void tx_free(tx *t) {
  wh_mw_exchange_free(&t->x);
  wh_http_resp_free(&t->resp);
}

static char *enc_list[] = {"gzip", "br", "zstd"};

static wh_mw_compress_conf compress_conf(void) {
  wh_mw_compress_conf c;
  memset(&c, 0, sizeof(c));
  c.encodings.v = enc_list;
  c.encodings.n = 3;
  c.min_response_body_bytes = 1024;
  return c;
}

static int negotiated(const wh_mw_compress_conf *c, const char *method, const char *ae) {
  tx t;
  tx_init(&t, method, ae);
  assert_int_equal(wh_mw_compress.on_request(c, &t.x), WH_MW_NEXT);
  int e = t.x.compress_enc;
  tx_free(&t);
  return e;
}

static void test_compress_negotiation(void **state) {
  (void)state;
  wh_mw_compress_conf c = compress_conf();
  assert_int_equal(negotiated(&c, "GET", "gzip"), WH_ENC_GZIP);
  assert_int_equal(negotiated(&c, "GET", "br"), WH_ENC_BR);
  assert_int_equal(negotiated(&c, "GET", "zstd, br, gzip"), WH_ENC_GZIP); /* server order */
  assert_int_equal(negotiated(&c, "GET", "gzip;q=0.2, br;q=0.8"), WH_ENC_BR);
  assert_int_equal(negotiated(&c, "GET", "gzip;q=0, br;q=0"), WH_ENC_NONE);
  assert_int_equal(negotiated(&c, "GET", "deflate, identity"), WH_ENC_NONE);
  assert_int_equal(negotiated(&c, "GET", "*"), WH_ENC_GZIP);
  assert_int_equal(negotiated(&c, "GET", " GZIP ; q=1.0 "), WH_ENC_GZIP);
  assert_int_equal(negotiated(&c, "GET", NULL), WH_ENC_NONE); /* no header, no default */
  assert_int_equal(negotiated(&c, "HEAD", "gzip"), WH_ENC_NONE);
  c.default_encoding = "br";
  assert_int_equal(negotiated(&c, "GET", NULL), WH_ENC_BR);
  assert_int_equal(negotiated(&c, "GET", "*"), WH_ENC_BR);
  char *only_zstd[] = {"zstd"};
  c.encodings.v = only_zstd;
  c.encodings.n = 1;
  c.default_encoding = NULL;
  assert_int_equal(negotiated(&c, "GET", "gzip, br"), WH_ENC_NONE); /* not configured */
  assert_int_equal(negotiated(&c, "GET", "gzip, zstd;q=0.1"), WH_ENC_ZSTD);
}

static void test_compress_hands_over_its_rules(void **state) {
  (void)state;
  wh_mw_compress_conf c = compress_conf();
  c.min_response_body_bytes = 77;
  tx t;
  tx_init(&t, "GET", "gzip");
  wh_mw_compress.on_request(&c, &t.x);
  assert_int_equal(t.x.compress_min_bytes, 77);
  assert_ptr_equal(t.x.compress_exclude, &c.excluded_content_types);
  tx_free(&t);
}

static void test_retry_budget(void **state) {
  (void)state;
  wh_mw_retry_conf c = {.attempts = 4, .initial_interval = 250 * WH_MS};
  tx t;
  tx_init(&t, "GET", NULL);
  assert_int_equal(wh_mw_retry.on_request(&c, &t.x), WH_MW_NEXT);
  assert_int_equal(t.x.retry_attempts, 4);
  assert_int_equal(t.x.retry_interval_ms, 250);
  wh_mw_retry_conf smaller = {.attempts = 2};
  wh_mw_retry.on_request(&smaller, &t.x); /* the larger budget stays */
  assert_int_equal(t.x.retry_attempts, 4);
  tx_free(&t);
}

static void test_buffering_limits(void **state) {
  (void)state;
  wh_mw_buffering_conf c = {.max_request_body_bytes = 1000, .max_response_body_bytes = 5000};
  tx t;
  tx_init(&t, "POST", NULL);
  assert_int_equal(wh_mw_buffering.on_request(&c, &t.x), WH_MW_NEXT);
  assert_true(t.x.buffer_req);
  assert_int_equal(t.x.buffer_req_max, 1000);
  assert_int_equal(t.x.buffer_resp_max, 5000);
  wh_mw_buffering_conf tighter = {.max_request_body_bytes = 10};
  wh_mw_buffering.on_request(&tighter, &t.x); /* the smallest limit wins */
  assert_int_equal(t.x.buffer_req_max, 10);
  assert_int_equal(t.x.buffer_resp_max, 5000);
  tx_free(&t);
}

static void test_buffering_retry_expression_fails_closed(void **state) {
  (void)state;
  wh_mw_buffering_conf c = {.retry_expression = "IsNetworkError() && Attempts() < 2"};
  tx t;
  tx_init(&t, "GET", NULL);
  assert_int_equal(wh_mw_buffering.on_request(&c, &t.x), WH_MW_DONE);
  assert_int_equal(t.resp.status, 500);
  assert_false(t.x.buffer_req);
  tx_free(&t);
}

static void test_errors_rules(void **state) {
  (void)state;
  char *st[] = {"500-599"};
  wh_mw_errors_conf c;
  memset(&c, 0, sizeof(c));
  c.status.v = st;
  c.status.n = 1;
  c.service = "pages";
  c.query = "/{status}.html";
  tx t;
  tx_init(&t, "GET", NULL);
  assert_int_equal(wh_mw_errors.on_request(&c, &t.x), WH_MW_NEXT);
  assert_string_equal(t.x.errors_service, "pages@file"); /* the middleware's provider */
  assert_string_equal(t.x.errors_query, "/{status}.html");
  assert_ptr_equal(t.x.errors_status, &c.status);
  c.service = "pages@docker";
  c.query = NULL;
  wh_mw_errors.on_request(&c, &t.x); /* the inner one replaces the outer */
  assert_string_equal(t.x.errors_service, "pages@docker");
  assert_string_equal(t.x.errors_query, "/");
  tx_free(&t); /* frees errors_service */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_compress_negotiation),
      cmocka_unit_test(test_compress_hands_over_its_rules),
      cmocka_unit_test(test_retry_budget),
      cmocka_unit_test(test_buffering_limits),
      cmocka_unit_test(test_buffering_retry_expression_fails_closed),
      cmocka_unit_test(test_errors_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
