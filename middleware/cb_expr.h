/* The circuitBreaker expression language, as vulcand/oxy's cbreaker reads it
 * (through vulcand/predicate and Go's expression parser):
 *
 *   NetworkErrorRatio() > 0.5
 *   ResponseCodeRatio(500, 600, 0, 600) > 0.25 || LatencyAtQuantileMS(50.0) > 100
 *   (RequestThreshold() > 10) && NetworkErrorRatio() >= 0.5
 *
 * `||` binds looser than `&&`, which binds looser than the comparisons
 * `< <= > >= == !=`. A comparison has a function on the left and a literal
 * on the right, of the function's type: NetworkErrorRatio and
 * ResponseCodeRatio are float-valued (compare with 0.5, not 1: oxy rejects
 * an integer literal there), LatencyAtQuantileMS and RequestThreshold are
 * integer-valued (compare with 100, not 100.0). Arguments are literals:
 * ResponseCodeRatio takes four integers, LatencyAtQuantileMS one float (a
 * percentile, 50.0). Anything else Go's parser accepts (!, arithmetic,
 * identifiers) oxy refuses, and so does this parser. */
#ifndef WH_MW_CB_EXPR_H
#define WH_MW_CB_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  WH_CB_NETWORK_ERROR_RATIO = 0, /* float */
  WH_CB_RESPONSE_CODE_RATIO,     /* float; args[0..3] */
  WH_CB_LATENCY_AT_QUANTILE_MS,  /* int; quantile */
  WH_CB_REQUEST_THRESHOLD        /* int */
} wh_cb_fn;

/* A metric the expression reads. */
typedef struct wh_cb_call {
  wh_cb_fn fn;
  int64_t args[4]; /* ResponseCodeRatio(startA, endA, startB, endB) */
  double quantile; /* LatencyAtQuantileMS, in percent (50.0) */
} wh_cb_call;

/* Returns the metric's current value (integer metrics as whole numbers). */
typedef double (*wh_cb_value_fn)(void *ctx, const wh_cb_call *call);

typedef struct wh_cb_expr wh_cb_expr;

typedef struct wh_cb_expr_error {
  size_t pos;    /* byte offset in the source where the problem is */
  char msg[192]; /* "col 5: expected operand, found ')'" */
} wh_cb_expr_error;

/* Parses src. Returns the expression (free with wh_cb_expr_free), or NULL
 * with *err filled (when err is not NULL): syntax or type error, or OOM. */
wh_cb_expr *wh_cb_expr_parse(const char *src, wh_cb_expr_error *err);
/* Evaluates e, asking value(ctx, call) for each metric it reaches; `&&` and
 * `||` short-circuit left to right as oxy's do. */
bool wh_cb_expr_eval(const wh_cb_expr *e, wh_cb_value_fn value, void *ctx);
/* Whether e reads the metric (lets the caller skip costly ones). */
bool wh_cb_expr_uses(const wh_cb_expr *e, wh_cb_fn fn);
void wh_cb_expr_free(wh_cb_expr *e);

#endif
