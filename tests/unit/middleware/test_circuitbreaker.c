/* circuitBreaker: the expression language (middleware/cb_expr.c) and the
 * runtime (oxy cbreaker states over memmetrics' rolling windows) driven
 * through the request hook and its end callback, with a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/config/schema.h"
#include "lib/core/err.h"
#include "lib/http/exchange.h"
#include "lib/http/request.h"
#include "middleware/cb_expr.h"
#include "middleware/circuitbreaker.h"
#include "middleware/source_key.h"

#define MS 1000000LL
#define SEC 1000000000LL

/* ---- clock ---- */

static int64_t fake_now = 1000LL * SEC;
static int64_t auto_step; /* added on every read when set (thread test) */
static int64_t fake_clock(void) {
  if (__atomic_load_n(&auto_step, __ATOMIC_RELAXED))
    return __atomic_add_fetch(&fake_now, auto_step, __ATOMIC_RELAXED);
  return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}
static void advance(int64_t ns) {
  __atomic_add_fetch(&fake_now, ns, __ATOMIC_RELAXED);
}
/* Moves to the start of a second, so that window tests know their buckets. */
static void align_second(void) {
  int64_t n = __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
  __atomic_store_n(&fake_now, (n / SEC + 1) * SEC, __ATOMIC_RELAXED);
}

/* ---- parser harness ---- */

typedef struct fake_metrics {
  double v[4]; /* by wh_cb_fn */
  int calls[4];
  wh_cb_call last[4];
} fake_metrics;

static double fake_value(void *ctx, const wh_cb_call *call) {
  fake_metrics *m = ctx;
  m->calls[call->fn]++;
  m->last[call->fn] = *call;
  return m->v[call->fn];
}

static bool eval(const char *src, fake_metrics *m) {
  wh_cb_expr_error err;
  wh_cb_expr *e = wh_cb_expr_parse(src, &err);
  if (!e)
    print_message("parse failed: %s: %s\n", src, err.msg);
  assert_non_null(e);
  bool r = wh_cb_expr_eval(e, fake_value, m);
  wh_cb_expr_free(e);
  return r;
}

/* The expression fails to parse at pos with a message containing needle. */
static void bad(const char *src, size_t pos, const char *needle) {
  wh_cb_expr_error err;
  wh_cb_expr *e = wh_cb_expr_parse(src, &err);
  if (e || err.pos != pos || !strstr(err.msg, needle))
    print_message("expr [%s]: pos %zu msg [%s]; wanted pos %zu and [%s]\n", src, err.pos, err.msg,
                  pos, needle);
  assert_null(e);
  assert_int_equal(err.pos, pos);
  assert_non_null(strstr(err.msg, needle));
  char col[32];
  snprintf(col, sizeof col, "col %zu:", pos + 1);
  assert_non_null(strstr(err.msg, col));
}

/* ---- runtime harness ---- */

typedef struct rq {
  wh_http_req req;
  wh_http_resp resp;
  wh_mw_exchange x;
} rq;

static wh_mw_circuitbreaker_conf conf(const char *expr) {
  wh_mw_circuitbreaker_conf c = {
      .expression = (char *)expr,
      .check_period = 100 * MS,
      .fallback_duration = 10 * SEC,
      .recovery_duration = 10 * SEC,
      .response_code = 503,
  };
  return c;
}

/* Starts a request: 0 when the breaker lets it through (the end callback
 * is then pending), else the status it answered. */
static int begin(const wh_mw_circuitbreaker_conf *c, const char *mw, rq *r) {
  memset(r, 0, sizeof *r);
  r->req.method = "GET";
  r->req.target = "/";
  r->req.path = "/";
  r->req.host = "example.com";
  r->req.body = "";
  r->req.http_minor = 1;
  wh_http_resp_init(&r->resp);
  r->x.req = &r->req;
  r->x.resp = &r->resp;
  r->x.path = strdup("/");
  r->x.mw_name = mw;
  r->x.mw_provider = "file";
  r->x.level = 1;
  int rc = wh_mw_circuitbreaker.on_request(c, &r->x);
  if (rc == WH_MW_DONE) {
    assert_int_equal(r->x.nends, 0);
    return r->resp.status;
  }
  assert_int_equal(rc, WH_MW_NEXT);
  assert_int_equal(r->x.nends, 1);
  return 0;
}

/* Ends the request with the status the rest of the chain produced. */
static void end(rq *r, int status) {
  for (size_t i = 0; i < r->x.nends; i++)
    r->x.ends[i].fn(r->x.ends[i].arg, status);
  free(r->x.ends);
  r->x.ends = NULL;
  r->x.nends = 0;
  wh_mw_exchange_free(&r->x);
  wh_http_resp_free(&r->resp);
}

/* One whole request: the status the client gets (the backend's when the
 * breaker passes it on). */
static int run(const wh_mw_circuitbreaker_conf *c, const char *mw, int backend_status) {
  rq r;
  int s = begin(c, mw, &r);
  end(&r, backend_status);
  return s ? s : backend_status;
}

/* A request that takes latency_ns. */
static int run_slow(const wh_mw_circuitbreaker_conf *c, const char *mw, int status,
                    int64_t latency_ns) {
  rq r;
  int s = begin(c, mw, &r);
  advance(latency_ns);
  end(&r, status);
  return s ? s : status;
}

static int setup(void **state) {
  (void)state;
  wh_mw_clock_set(fake_clock);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  wh_mw_clock_set(NULL);
  return 0;
}

/* ---- parser ---- */

static void test_parse_every_function(void **state) {
  (void)state;
  fake_metrics m = {.v = {0.6, 0.3, 120, 11}};
  assert_true(eval("NetworkErrorRatio() > 0.5", &m));
  assert_int_equal(m.calls[WH_CB_NETWORK_ERROR_RATIO], 1);
  assert_true(eval("ResponseCodeRatio(500, 600, 0, 600) > 0.25", &m));
  const wh_cb_call *rc = &m.last[WH_CB_RESPONSE_CODE_RATIO];
  assert_int_equal(rc->args[0], 500);
  assert_int_equal(rc->args[1], 600);
  assert_int_equal(rc->args[2], 0);
  assert_int_equal(rc->args[3], 600);
  assert_true(eval("LatencyAtQuantileMS(99.9) > 100", &m));
  assert_true(m.last[WH_CB_LATENCY_AT_QUANTILE_MS].quantile > 99.89 &&
              m.last[WH_CB_LATENCY_AT_QUANTILE_MS].quantile < 99.91);
  assert_true(eval("RequestThreshold() > 10", &m));
  assert_false(eval("RequestThreshold() > 11", &m));
  assert_false(eval("LatencyAtQuantileMS(50.0) > 120", &m));
  /* Float spellings Go accepts. */
  assert_true(eval("NetworkErrorRatio() > .5", &m));
  assert_true(eval("NetworkErrorRatio() < 6e-1", &m) == false);
  assert_true(eval("NetworkErrorRatio() < 1.", &m));
  assert_true(eval(" \t(NetworkErrorRatio())\n>(0.5E0) ", &m));
}

static void test_parse_comparison_operators(void **state) {
  (void)state;
  fake_metrics m = {.v = {0.5, 0, 100, 0}};
  assert_true(eval("NetworkErrorRatio() == 0.5", &m));
  assert_false(eval("NetworkErrorRatio() != 0.5", &m));
  assert_true(eval("NetworkErrorRatio() <= 0.5", &m));
  assert_true(eval("NetworkErrorRatio() >= 0.5", &m));
  assert_false(eval("NetworkErrorRatio() < 0.5", &m));
  assert_false(eval("NetworkErrorRatio() > 0.5", &m));
  assert_true(eval("LatencyAtQuantileMS(50.0) == 100", &m));
  assert_true(eval("LatencyAtQuantileMS(50.0) != 101", &m));
  assert_true(eval("LatencyAtQuantileMS(50.0) < 101", &m));
  assert_true(eval("LatencyAtQuantileMS(50.0) <= 100", &m));
  assert_true(eval("LatencyAtQuantileMS(50.0) >= 100", &m));
  assert_false(eval("LatencyAtQuantileMS(50.0) > 100", &m));
}

static void test_parse_precedence_and_parentheses(void **state) {
  (void)state;
  /* A=true (NER 1 > 0.5), B=true (RT 5 > 1), C=false (RCR 0 > 0.5). */
  fake_metrics m = {.v = {1, 0, 0, 5}};
  /* && binds tighter: A || (B && C) is true, (A || B) && C false. */
  assert_true(eval("NetworkErrorRatio() > 0.5 || RequestThreshold() > 1 && "
                   "ResponseCodeRatio(500, 600, 0, 600) > 0.5",
                   &m));
  assert_false(eval("(NetworkErrorRatio() > 0.5 || RequestThreshold() > 1) && "
                    "ResponseCodeRatio(500, 600, 0, 600) > 0.5",
                    &m));
  /* C && B || A: (C && B) || A = true. */
  assert_true(eval("ResponseCodeRatio(500, 600, 0, 600) > 0.5 && RequestThreshold() > 1 || "
                   "NetworkErrorRatio() > 0.5",
                   &m));
  assert_false(eval("ResponseCodeRatio(500, 600, 0, 600) > 0.5 && (RequestThreshold() > 1 || "
                    "NetworkErrorRatio() > 0.5)",
                    &m));
  assert_true(eval("((((NetworkErrorRatio() > 0.5))))", &m));
}

static void test_parse_short_circuit(void **state) {
  (void)state;
  fake_metrics m = {.v = {0, 0, 0, 0}};
  assert_false(eval("RequestThreshold() > 10 && NetworkErrorRatio() > 0.5", &m));
  assert_int_equal(m.calls[WH_CB_REQUEST_THRESHOLD], 1);
  assert_int_equal(m.calls[WH_CB_NETWORK_ERROR_RATIO], 0);
  m.v[WH_CB_REQUEST_THRESHOLD] = 20;
  assert_true(eval("RequestThreshold() > 10 || NetworkErrorRatio() > 0.5", &m));
  assert_int_equal(m.calls[WH_CB_NETWORK_ERROR_RATIO], 0);
}

static void test_parse_uses(void **state) {
  (void)state;
  wh_cb_expr *e =
      wh_cb_expr_parse("NetworkErrorRatio() > 0.5 || LatencyAtQuantileMS(50.0) > 1", NULL);
  assert_non_null(e);
  assert_true(wh_cb_expr_uses(e, WH_CB_LATENCY_AT_QUANTILE_MS));
  assert_true(wh_cb_expr_uses(e, WH_CB_NETWORK_ERROR_RATIO));
  assert_false(wh_cb_expr_uses(e, WH_CB_REQUEST_THRESHOLD));
  wh_cb_expr_free(e);
}

static void test_parse_syntax_errors(void **state) {
  (void)state;
  bad("", 0, "expected operand, found EOF");
  bad("   ", 3, "expected operand, found EOF");
  bad("NetworkErrorRatio() >", 21, "expected operand, found EOF");
  bad("NetworkErrorRatio() > 0.5 &&", 28, "expected operand");
  bad("&& NetworkErrorRatio() > 0.5", 0, "expected operand, found '&&'");
  bad("(NetworkErrorRatio() > 0.5", 26, "expected ')'");
  bad("NetworkErrorRatio() > 0.5)", 25, "unexpected ')'");
  bad("NetworkErrorRatio() > 0.5 0.7", 26, "unexpected '0.7'");
  bad("NetworkErrorRatio() = 0.5", 20, "use ==");
  bad("NetworkErrorRatio() > 0.5 # x", 26, "illegal character '#'");
  bad("NetworkErrorRatio() > 0x1", 22, "invalid number literal");
  bad("NetworkErrorRatio() > 1e", 22, "invalid float literal");
  bad("NetworkErrorRatio() > 1.2.3", 22, "invalid float literal");
  bad("RequestThreshold() > 99999999999999999999", 21, "out of range");
  bad("NetworkErrorRatio() > \"0.5", 22, "not terminated");
  bad("NetworkErrorRatio(", 18, "must be literals, found EOF");
  bad("ResponseCodeRatio(500 600, 0, 600) > 0.5", 22, "expected ',' or ')'");
  char deep[200];
  memset(deep, '(', 100);
  strcpy(deep + 100, "NetworkErrorRatio() > 0.5");
  bad(deep, 64, "nested too deeply");
}

static void test_parse_unsupported_operators(void **state) {
  (void)state;
  bad("!(NetworkErrorRatio() > 0.5)", 0, "operator ! is not supported");
  bad("NetworkErrorRatio() > -0.5", 22, "operator - is not supported");
  bad("NetworkErrorRatio() + 0.1 > 0.5", 20, "operator + is not supported");
  bad("NetworkErrorRatio() > 0.5 & RequestThreshold() > 1", 26, "operator & is not supported");
  bad("NetworkErrorRatio() > 0.5 | RequestThreshold() > 1", 26, "operator | is not supported");
}

static void test_parse_function_errors(void **state) {
  (void)state;
  bad("Foo() > 0.5", 0, "unsupported function Foo");
  bad("networkErrorRatio() > 0.5", 0, "unsupported function networkErrorRatio");
  bad("NetworkErrorRatio > 0.5", 0, "NetworkErrorRatio is not defined");
  bad("NetworkErrorRatio(1) > 0.5", 18, "takes no argument");
  bad("RequestThreshold(1.0) > 1", 17, "takes no argument");
  bad("ResponseCodeRatio(500, 600, 0) > 0.5", 0, "takes 4 integer arguments");
  bad("ResponseCodeRatio(500.0, 600, 0, 600) > 0.5", 18, "argument 1 of ResponseCodeRatio");
  bad("ResponseCodeRatio(500, 600, 0, \"600\") > 0.5", 31, "argument 4 of ResponseCodeRatio");
  bad("ResponseCodeRatio(500, 600, 0, RequestThreshold()) > 0.5", 31, "must be literals");
  bad("LatencyAtQuantileMS() > 1", 0, "takes 1 float argument");
  /* oxy's function takes a float64: 50 is refused, 50.0 is needed. */
  bad("LatencyAtQuantileMS(50) > 100", 20, "must be a float literal like 50.0");
}

static void test_parse_type_errors(void **state) {
  (void)state;
  /* Float-valued functions compare with float literals only (oxy). */
  bad("NetworkErrorRatio() > 1", 22, "compares with a float literal");
  bad("ResponseCodeRatio(500, 600, 0, 600) >= 0", 39, "compares with a float literal");
  bad("NetworkErrorRatio() > '0.5'", 22, "not a string literal");
  /* Integer-valued ones with integer literals only. */
  bad("LatencyAtQuantileMS(50.0) > 100.5", 28, "compares with an integer literal");
  bad("RequestThreshold() > 1.0", 21, "compares with an integer literal");
  bad("0.5 < NetworkErrorRatio()", 0, "left side of < must be a function");
  bad("RequestThreshold() > 1 == RequestThreshold() > 2", 0, "left side of ==");
  bad("NetworkErrorRatio() > RequestThreshold()", 22, "not an integer-valued function");
  bad("NetworkErrorRatio() && RequestThreshold() > 1", 0, "both sides of && must be conditions");
  bad("RequestThreshold() > 1 || 0.5", 26, "both sides of || must be conditions");
  bad("NetworkErrorRatio()", 0, "must be a condition");
  bad("(0.5)", 0, "must be a condition");
}

static void test_validate_reports_bad_expression(void **state) {
  (void)state;
  const wh_schema *s = wh_mw_circuitbreaker.schema;
  wh_mw_circuitbreaker_conf *c = wh_schema_new(s);
  assert_non_null(c);
  c->expression = strdup("NetworkErrorRatio() > 1");
  wh_errlist errs;
  wh_errlist_init(&errs);
  assert_int_not_equal(s->validate(c, "http.middlewares.cb.circuitBreaker", &errs), 0);
  assert_int_equal(errs.n, 1);
  assert_non_null(strstr(errs.items[0], "http.middlewares.cb.circuitBreaker.expression"));
  assert_non_null(strstr(errs.items[0], "NetworkErrorRatio() > 1"));
  assert_non_null(strstr(errs.items[0], "col 23"));
  wh_errlist_free(&errs);
  free(c->expression);
  c->expression = strdup("LatencyAtQuantileMS(50.0) > 100 || NetworkErrorRatio() > 0.5");
  wh_errlist_init(&errs);
  assert_int_equal(s->validate(c, "http.middlewares.cb.circuitBreaker", &errs), 0);
  assert_int_equal(errs.n, 0);
  wh_errlist_free(&errs);
  wh_schema_destroy(s, c);
}

/* ---- state machine ---- */

static void test_trips_on_network_error_ratio(void **state) {
  (void)state;
  wh_mw_circuitbreaker_conf c = conf("NetworkErrorRatio() > 0.5");
  const char *mw = "ner@file";
  /* 200, 502: ratio 0 then 0.5 (checks are 100ms apart). */
  assert_int_equal(run(&c, mw, 200), 200);
  advance(150 * MS);
  assert_int_equal(run(&c, mw, 502), 502);
  advance(150 * MS);
  assert_int_equal(run(&c, mw, 200), 200); /* 1/3 */
  advance(150 * MS);
  assert_int_equal(run(&c, mw, 504), 504); /* 2/4 = 0.5: not > 0.5 */
  advance(150 * MS);
  assert_int_equal(run(&c, mw, 502), 502); /* 3/5: trips */
  rq r;
  assert_int_equal(begin(&c, mw, &r), 503);
  assert_string_equal(wh_strbuf_cstr(&r.resp.body), "Service Unavailable");
  assert_non_null(wh_http_resp_get_header(&r.resp, "Content-Type"));
  end(&r, 503);
  /* Other middleware names have their own breaker. */
  assert_int_equal(run(&c, "other@file", 200), 200);
}

static void test_fallback_response_code(void **state) {
  (void)state;
  wh_mw_circuitbreaker_conf c = conf("NetworkErrorRatio() > 0.5");
  c.response_code = 429;
  assert_int_equal(run(&c, "code429@file", 502), 502);
  rq r;
  assert_int_equal(begin(&c, "code429@file", &r), 429);
  assert_string_equal(wh_strbuf_cstr(&r.resp.body), "Too Many Requests");
  end(&r, 0);
}

static void test_fallback_duration_then_recovery_starts(void **state) {
  (void)state;
  wh_mw_circuitbreaker_conf c = conf("NetworkErrorRatio() > 0.5");
  c.fallback_duration = 2 * SEC;
  const char *mw = "fbdur@file";
  assert_int_equal(run(&c, mw, 502), 502); /* trips now: until = now + 2s */
  advance(2 * SEC - 1);
  assert_int_equal(run(&c, mw, 200), 503);
  advance(1);
  /* Recovering from here: the ratio controller starts at 0 and denies the
   * first request. */
  assert_int_equal(run(&c, mw, 200), 503);
  advance(1 * SEC); /* target 0.05: one allowed of 2 would be 0.5 */
  assert_int_equal(run(&c, mw, 200), 503);
}

static void test_recovery_ratio_ramps_linearly(void **state) {
  (void)state;
  wh_mw_circuitbreaker_conf c = conf("NetworkErrorRatio() > 0.5");
  c.fallback_duration = 1 * SEC;
  c.recovery_duration = 10 * SEC;
  const char *mw = "ramp@file";
  assert_int_equal(run(&c, mw, 502), 502);
  advance(1 * SEC); /* recovery starts with the next request */
  int allowed = 0, half = 0;
  for (int i = 0; i < 1000; i++) {
    /* Allowed requests succeed, so the breaker never trips again. */
    if (run(&c, mw, 200) == 200)
      allowed++;
    if (i == 499)
      half = allowed;
    advance(10 * MS);
  }
  /* The allowed share tracks 0.5 * elapsed / recoveryDuration: about 0.25
   * of the first half, 0.5 of the whole. */
  assert_in_range(half, 120, 128);
  assert_in_range(allowed, 495, 501);
  /* recoveryDuration has passed: standby, everything goes through. */
  advance(100 * MS);
  for (int i = 0; i < 20; i++)
    assert_int_equal(run(&c, mw, 200), 200);
}

static void test_back_to_standby_after_recovery(void **state) {
  (void)state;
  wh_mw_circuitbreaker_conf c = conf("NetworkErrorRatio() > 0.5");
  c.fallback_duration = 1 * SEC;
  c.recovery_duration = 1 * SEC;
  const char *mw = "standby@file";
  assert_int_equal(run(&c, mw, 502), 502);
  advance(1 * SEC);
  assert_int_equal(run(&c, mw, 200), 503); /* recovering */
  advance(1 * SEC + 1);
  assert_int_equal(run(&c, mw, 200), 200); /* past recovery: standby */
  for (int i = 0; i < 10; i++)
    assert_int_equal(run(&c, mw, 200), 200);
}

static void test_trips_again_during_recovery(void **state) {
  (void)state;
  wh_mw_circuitbreaker_conf c = conf("NetworkErrorRatio() > 0.5");
  c.fallback_duration = 1 * SEC;
  c.recovery_duration = 2 * SEC;
  const char *mw = "retrip@file";
  assert_int_equal(run(&c, mw, 502), 502);
  advance(1 * SEC);
  assert_int_equal(run(&c, mw, 200), 503); /* recovery starts */
  advance(1 * SEC);                        /* target ratio 0.25 */
  /* Denied until one more allowed request keeps the share under 0.25
   * (1 allowed of 5); that one fails again: tripped anew. */
  int denied = 0;
  while (run(&c, mw, 502) == 503)
    denied++;
  assert_int_equal(denied, 3); /* 1 + 3 denied, then 1/(1+4) = 0.2 < 0.25 */
  advance(500 * MS);           /* well within the new fallbackDuration */
  for (int i = 0; i < 5; i++)
    assert_int_equal(run(&c, mw, 200), 503);
}

static void test_check_period_limits_checks(void **state) {
  (void)state;
  wh_mw_circuitbreaker_conf c = conf("NetworkErrorRatio() > 0.5");
  c.check_period = 1 * SEC;
  const char *mw = "period@file";
  assert_int_equal(run(&c, mw, 200), 200); /* checked: next check in 1s */
  for (int i = 0; i < 5; i++)
    assert_int_equal(run(&c, mw, 502), 502); /* not checked yet */
  advance(1 * SEC);
  assert_int_equal(run(&c, mw, 502), 502); /* still not: strictly after */
  advance(1);
  assert_int_equal(run(&c, mw, 502), 502); /* checked: 7/8, tripped */
  assert_int_equal(run(&c, mw, 200), 503);
}

static void test_zero_durations_use_defaults(void **state) {
  (void)state;
  wh_mw_circuitbreaker_conf c = conf("NetworkErrorRatio() > 0.5");
  c.check_period = 0;
  c.fallback_duration = 0;
  c.recovery_duration = 0;
  const char *mw = "zero@file";
  assert_int_equal(run(&c, mw, 502), 502);
  advance(10 * SEC - 1); /* oxy's default fallbackDuration: 10s */
  assert_int_equal(run(&c, mw, 200), 503);
}

static void test_network_error_ratio_rolling_window(void **state) {
  (void)state;
  wh_mw_circuitbreaker_conf c = conf("NetworkErrorRatio() > 0.5");
  c.check_period = 5 * SEC;
  align_second();
  /* The errors are 9.5 s old at the check: still inside the window of 10
   * buckets of 1 s (3 errors of 5). */
  assert_int_equal(run(&c, "win-in@file", 200), 200); /* first check, next in 5 s */
  for (int i = 0; i < 3; i++)
    assert_int_equal(run(&c, "win-in@file", 502), 502);
  advance(9500 * MS);
  assert_int_equal(run(&c, "win-in@file", 200), 200); /* 3/5 > 0.5 */
  assert_int_equal(run(&c, "win-in@file", 200), 503);

  /* The same checked 10.5 s later: the errors' second has left the window,
   * which holds this one 200 only. */
  align_second();
  assert_int_equal(run(&c, "win-out@file", 200), 200);
  for (int i = 0; i < 3; i++)
    assert_int_equal(run(&c, "win-out@file", 502), 502);
  advance(10500 * MS);
  assert_int_equal(run(&c, "win-out@file", 200), 200);
  assert_int_equal(run(&c, "win-out@file", 200), 200);
}

static void test_response_code_ratio(void **state) {
  (void)state;
  wh_mw_circuitbreaker_conf c = conf("ResponseCodeRatio(500, 600, 0, 600) > 0.5");
  c.check_period = 1; /* check at every response the clock moved for */
  const char *mw = "rcr@file";
  int seq[] = {200, 500, 200, 503}; /* ratio 0, 1/2, 1/3, 2/4: never > 0.5 */
  /* The 500 first would trip at once (1/1): start with a 200. */
  for (size_t i = 0; i < 4; i++) {
    advance(10);
    assert_int_equal(run(&c, mw, seq[i]), seq[i]);
  }
  advance(10);
  assert_int_equal(run(&c, mw, 599), 599); /* 3/5 */
  advance(10);
  assert_int_equal(run(&c, mw, 200), 503);

  /* Ranges are [from, to): 600 is not in [500, 600), 499 not in [500, ...). */
  wh_mw_circuitbreaker_conf c2 = conf("ResponseCodeRatio(500, 600, 0, 700) > 0.1");
  c2.check_period = 1;
  advance(10);
  assert_int_equal(run(&c2, "rcr2@file", 600), 600);
  advance(10);
  assert_int_equal(run(&c2, "rcr2@file", 499), 499);
  advance(10);
  assert_int_equal(run(&c2, "rcr2@file", 200), 200);

  /* Nothing in the divisor range: the ratio is 0, not a division by 0. */
  wh_mw_circuitbreaker_conf c3 = conf("ResponseCodeRatio(500, 600, 600, 700) < 0.1");
  advance(10);
  assert_int_equal(run(&c3, "rcr3@file", 500), 500);
  assert_int_equal(run(&c3, "rcr3@file", 200), 503);
}

static void test_aborted_counts_as_499(void **state) {
  (void)state;
  wh_mw_circuitbreaker_conf c = conf("ResponseCodeRatio(499, 500, 0, 600) > 0.5");
  rq r;
  assert_int_equal(begin(&c, "abort@file", &r), 0);
  end(&r, 0);
  assert_int_equal(run(&c, "abort@file", 200), 503);
  /* An exchange freed without its end (its owner gone) reports 0 too. */
  wh_mw_circuitbreaker_conf c2 = conf("NetworkErrorRatio() > 0.5 || RequestThreshold() > 0");
  assert_int_equal(begin(&c2, "abort2@file", &r), 0);
  wh_mw_exchange_free(&r.x);
  wh_http_resp_free(&r.resp);
  assert_int_equal(run(&c2, "abort2@file", 200), 503);
}

static void test_latency_at_quantile(void **state) {
  (void)state;
  /* HDR histogram, 2 significant figures: 50 ms reads back as 50, 300 ms as
   * 301 (highest value of its bucket, 299008..301055 µs). */
  wh_mw_circuitbreaker_conf c = conf("RequestThreshold() >= 3 && LatencyAtQuantileMS(50.0) == 50");
  c.check_period = 1;
  for (int i = 0; i < 3; i++)
    assert_int_equal(run_slow(&c, "lat50@file", 200, 50 * MS), 200);
  assert_int_equal(run(&c, "lat50@file", 200), 503);

  wh_mw_circuitbreaker_conf c2 = conf("RequestThreshold() >= 5 && LatencyAtQuantileMS(50.0) > 100");
  c2.check_period = 1;
  const char *mw = "lat-median@file";
  for (int i = 0; i < 3; i++)
    assert_int_equal(run_slow(&c2, mw, 200, 50 * MS), 200);
  for (int i = 0; i < 2; i++)
    assert_int_equal(run_slow(&c2, mw, 200, 300 * MS), 200); /* median still 50 */
  for (int i = 0; i < 2; i++)
    assert_int_equal(run_slow(&c2, mw, 200, 300 * MS), 200); /* 4/7 slow: trips on the last */
  assert_int_equal(run(&c2, mw, 200), 503);

  wh_mw_circuitbreaker_conf c3 =
      conf("RequestThreshold() >= 4 && LatencyAtQuantileMS(75.0) == 301");
  c3.check_period = 1;
  for (int i = 0; i < 3; i++)
    assert_int_equal(run_slow(&c3, "lat-q@file", 200, 1 * MS), 200);
  assert_int_equal(run_slow(&c3, "lat-q@file", 200, 300 * MS), 200); /* p75: 3rd of 4, 1 ms */
  assert_int_equal(run_slow(&c3, "lat-q@file", 200, 300 * MS), 200); /* 4th of 5: slow */
  assert_int_equal(run(&c3, "lat-q@file", 200), 503);
}

static void test_request_threshold(void **state) {
  (void)state;
  wh_mw_circuitbreaker_conf c = conf("RequestThreshold() > 3 && NetworkErrorRatio() > 0.5");
  c.check_period = 1;
  const char *mw = "thr@file";
  for (int i = 0; i < 3; i++) {
    advance(10);
    assert_int_equal(run(&c, mw, 502), 502); /* 100% errors, too few requests */
  }
  advance(10);
  assert_int_equal(run(&c, mw, 502), 502);
  assert_int_equal(run(&c, mw, 200), 503);
}

static void test_trip_resets_metrics(void **state) {
  (void)state;
  wh_mw_circuitbreaker_conf c = conf("RequestThreshold() > 2");
  c.check_period = 1;
  c.fallback_duration = 1 * SEC;
  c.recovery_duration = 1 * SEC;
  const char *mw = "reset@file";
  for (int i = 0; i < 3; i++) {
    advance(10);
    run(&c, mw, 200);
  }
  assert_int_equal(run(&c, mw, 200), 503);
  advance(1 * SEC);
  assert_int_equal(run(&c, mw, 200), 503); /* recovery starts, denied */
  advance(1 * SEC + 1);
  /* Standby again. The three requests before the trip are gone from the
   * counters: the third from now trips, not the first. */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(run(&c, mw, 200), 200);
    advance(10);
  }
  assert_int_equal(run(&c, mw, 200), 503);
}

typedef struct thr_arg {
  const wh_mw_circuitbreaker_conf *c;
  int passed;
} thr_arg;

static void *hammer(void *p) {
  thr_arg *a = p;
  for (int i = 0; i < 500; i++) {
    rq r;
    if (begin(a->c, "threads@file", &r) == 0)
      a->passed++;
    end(&r, 200);
  }
  return NULL;
}

static void test_shared_across_threads(void **state) {
  (void)state;
  /* Only the sum of all threads' requests reaches 2000. */
  wh_mw_circuitbreaker_conf c = conf("RequestThreshold() >= 2000");
  c.check_period = 1;
  __atomic_store_n(&auto_step, 1000, __ATOMIC_RELAXED); /* 1 µs per clock read */
  pthread_t t[4];
  thr_arg a[4];
  for (int i = 0; i < 4; i++) {
    a[i] = (thr_arg){&c, 0};
    assert_int_equal(pthread_create(&t[i], NULL, hammer, &a[i]), 0);
  }
  int passed = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    passed += a[i].passed;
  }
  __atomic_store_n(&auto_step, 0, __ATOMIC_RELAXED);
  assert_int_equal(passed, 2000);
  assert_int_equal(run(&c, "threads@file", 200), 503);
}

static void test_reload_keeps_state_change_resets(void **state) {
  (void)state;
  char *e1 = strdup("NetworkErrorRatio() > 0.5");
  wh_mw_circuitbreaker_conf a = conf(e1);
  assert_int_equal(run(&a, "reload@file", 502), 502);
  assert_int_equal(run(&a, "reload@file", 200), 503);
  /* A reload with the same options (another copy): still tripped. */
  char *e2 = strdup("NetworkErrorRatio() > 0.5");
  wh_mw_circuitbreaker_conf b = conf(e2);
  assert_int_equal(run(&b, "reload@file", 200), 503);
  /* Changed options: a fresh breaker in standby. */
  wh_mw_circuitbreaker_conf d = conf(e2);
  d.fallback_duration = 20 * SEC;
  assert_int_equal(run(&d, "reload@file", 200), 200);
  free(e1);
  free(e2);
}

static void test_end_after_state_dropped_from_registry(void **state) {
  (void)state;
  char *e = strdup("NetworkErrorRatio() > 0.5");
  wh_mw_circuitbreaker_conf c = conf(e);
  rq r;
  assert_int_equal(begin(&c, "late@file", &r), 0);
  free(e); /* the configuration is gone (reload) */
  /* Long idle: a sweep would drop an unreferenced state, not this one. */
  advance(3600 * SEC);
  wh_mw_state_sweep();
  end(&r, 502); /* must not touch freed memory (ASan) */
  advance(3600 * SEC);
  wh_mw_state_sweep(); /* now it goes */
  c = conf("NetworkErrorRatio() > 0.5");
  assert_int_equal(run(&c, "late@file", 200), 200); /* fresh */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_every_function),
      cmocka_unit_test(test_parse_comparison_operators),
      cmocka_unit_test(test_parse_precedence_and_parentheses),
      cmocka_unit_test(test_parse_short_circuit),
      cmocka_unit_test(test_parse_uses),
      cmocka_unit_test(test_parse_syntax_errors),
      cmocka_unit_test(test_parse_unsupported_operators),
      cmocka_unit_test(test_parse_function_errors),
      cmocka_unit_test(test_parse_type_errors),
      cmocka_unit_test(test_validate_reports_bad_expression),
      cmocka_unit_test(test_trips_on_network_error_ratio),
      cmocka_unit_test(test_fallback_response_code),
      cmocka_unit_test(test_fallback_duration_then_recovery_starts),
      cmocka_unit_test(test_recovery_ratio_ramps_linearly),
      cmocka_unit_test(test_back_to_standby_after_recovery),
      cmocka_unit_test(test_trips_again_during_recovery),
      cmocka_unit_test(test_check_period_limits_checks),
      cmocka_unit_test(test_zero_durations_use_defaults),
      cmocka_unit_test(test_network_error_ratio_rolling_window),
      cmocka_unit_test(test_response_code_ratio),
      cmocka_unit_test(test_aborted_counts_as_499),
      cmocka_unit_test(test_latency_at_quantile),
      cmocka_unit_test(test_request_threshold),
      cmocka_unit_test(test_trip_resets_metrics),
      cmocka_unit_test(test_shared_across_threads),
      cmocka_unit_test(test_reload_keeps_state_change_resets),
      cmocka_unit_test(test_end_after_state_dropped_from_registry),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
