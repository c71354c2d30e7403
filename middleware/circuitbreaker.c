#include "middleware/circuitbreaker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/err.h"
#include "lib/core/log.h"
#include "lib/http/exchange.h"
#include "middleware/cb_expr.h"
#include "middleware/option_check.h"
#include "middleware/source_key.h"

static int circuitbreaker_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_circuitbreaker_conf *c = obj;
  int n = wh_mw_check_required(errs, path, "expression", c->expression);
  if (!n) {
    /* Parsed here so that a bad expression disables the middleware (and its
     * routers) with a message at load time, as cbreaker.New fails in
     * Traefik, rather than at the first request. */
    wh_cb_expr_error err;
    wh_cb_expr *e = wh_cb_expr_parse(c->expression, &err);
    if (!e) {
      wh_mw_opt_error(errs, path, "expression", "invalid expression \"%s\": %s", c->expression,
                      err.msg);
      n++;
    }
    wh_cb_expr_free(e);
  }
  n += wh_mw_check_status_code(errs, path, "responseCode", c->response_code, false);
  return n ? WH_EINVAL : 0;
}

#define CB(member, name, type, ...)                                                                \
  WH_MW_FIELD(wh_mw_circuitbreaker_conf, member, name, type, __VA_ARGS__)

static const wh_field circuitbreaker_fields[] = {
    CB(expression, "expression", WH_F_STRING),
    CB(check_period, "checkPeriod", WH_F_DURATION, .dflt = "100ms"),
    CB(fallback_duration, "fallbackDuration", WH_F_DURATION, .dflt = "10s"),
    CB(recovery_duration, "recoveryDuration", WH_F_DURATION, .dflt = "10s"),
    CB(response_code, "responseCode", WH_F_INT, .dflt = "503"),
};

static const wh_schema circuitbreaker_schema = {
    .name = "circuitBreaker",
    .size = sizeof(wh_mw_circuitbreaker_conf),
    .fields = circuitbreaker_fields,
    .nfields = WH_MW_NFIELDS(circuitbreaker_fields),
    .validate = circuitbreaker_validate,
};

/* ---- runtime: vulcand/oxy v2 cbreaker over memmetrics.RTMetrics ---- */

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL

/* memmetrics' RollingCounter: 10 buckets of 1 s, indexed by the second. */
#define CTR_BUCKETS 10

typedef struct cb_counter {
  int64_t v[CTR_BUCKETS];
  int64_t last_s; /* second of the last increment; meaningful when used */
  bool used;
} cb_counter;

static int64_t floor_s(int64_t ns) {
  return ns >= 0 ? ns / NS_PER_S : -((-ns + NS_PER_S - 1) / NS_PER_S);
}

static size_t ctr_bucket(int64_t s) {
  int64_t b = s % CTR_BUCKETS;
  return (size_t)(b < 0 ? b + CTR_BUCKETS : b);
}

/* Zeroes the buckets of the seconds elapsed since the last increment. */
static void ctr_cleanup(cb_counter *c, int64_t now_ns) {
  int64_t now_s = floor_s(now_ns);
  for (int i = 0; i < CTR_BUCKETS; i++) {
    int64_t cp = now_s - i;
    if (c->used && cp <= c->last_s)
      break;
    c->v[ctr_bucket(cp)] = 0;
  }
}

static void ctr_inc(cb_counter *c, int64_t now_ns) {
  ctr_cleanup(c, now_ns);
  int64_t s = floor_s(now_ns);
  c->v[ctr_bucket(s)]++;
  c->last_s = s;
  c->used = true;
}

static int64_t ctr_count(cb_counter *c, int64_t now_ns) {
  ctr_cleanup(c, now_ns);
  int64_t sum = 0;
  for (int i = 0; i < CTR_BUCKETS; i++)
    sum += c->v[i];
  return sum;
}

/* memmetrics' RollingHDRHistogram: 6 HDR histograms (1 µs..1 h, 2
 * significant figures) of which the current one changes when 10 s have
 * passed since the last change, at the next record (one step at a time,
 * however long the pause: oxy's quirk, kept). Geometry of hdrhistogram-go
 * for those parameters: 256 sub-buckets (magnitude 8, half 128), unit
 * magnitude 0, 25 buckets, hence (25 + 1) * 128 counts. */
#define H_SUBS 6
#define H_PERIOD_NS (10 * NS_PER_S)
#define H_HALF_MAG 7
#define H_HALF 128
#define H_SUB_COUNT 256
#define H_LEN ((25 + 1) * H_HALF)

typedef struct cb_hist {
  uint32_t counts[H_SUBS][H_LEN];
  int idx;
  int64_t last_roll;
  bool rolled; /* false: last_roll is Go's zero time, before anything */
} cb_hist;

static int h_bucket_index(int64_t v) {
  int pow2ceil = 64 - __builtin_clzll((uint64_t)v | (H_SUB_COUNT - 1));
  return pow2ceil - (H_HALF_MAG + 1);
}

static int64_t h_value_from_flat(int idx) {
  int bucket = (idx >> H_HALF_MAG) - 1;
  int sub = (idx & (H_HALF - 1)) + H_HALF;
  if (bucket < 0) {
    sub -= H_HALF;
    bucket = 0;
  }
  return (int64_t)sub << bucket;
}

static int64_t h_highest_equivalent(int64_t v) {
  int bucket = h_bucket_index(v);
  int64_t sub = v >> bucket;
  int64_t lowest = sub << bucket;
  int adj = bucket + (sub >= H_SUB_COUNT ? 1 : 0);
  return lowest + ((int64_t)1 << adj) - 1;
}

static void h_reset(cb_hist *h, int64_t now) {
  memset(h->counts, 0, sizeof h->counts);
  h->idx = 0;
  h->last_roll = now;
  h->rolled = true;
}

static void h_record(cb_hist *h, int64_t latency_ns, int64_t now) {
  if (!h->rolled || now - h->last_roll >= H_PERIOD_NS) {
    h->idx = (h->idx + 1) % H_SUBS;
    memset(h->counts[h->idx], 0, sizeof h->counts[h->idx]);
    h->last_roll = now;
    h->rolled = true;
  }
  int64_t us = latency_ns / 1000;
  if (us < 0)
    return;
  int bucket = h_bucket_index(us);
  int idx = ((bucket + 1) << H_HALF_MAG) + (int)((us >> bucket) - H_HALF);
  if (idx < 0 || idx >= H_LEN)
    return; /* beyond the trackable range: hdrhistogram refuses it */
  if (h->counts[h->idx][idx] < UINT32_MAX)
    h->counts[h->idx][idx]++;
}

/* ValueAtQuantile over the merged sub-histograms, in µs. */
static int64_t h_value_at_quantile(const cb_hist *h, double q) {
  uint64_t total = 0;
  for (int s = 0; s < H_SUBS; s++)
    for (int i = 0; i < H_LEN; i++)
      total += h->counts[s][i];
  if (!total)
    return 0;
  if (q > 100)
    q = 100;
  if (q < 0)
    q = 0;
  int64_t want = (int64_t)((q / 100) * (double)total + 0.5);
  if (want < 1)
    want = 1;
  int64_t acc = 0;
  for (int i = 0; i < H_LEN; i++) {
    for (int s = 0; s < H_SUBS; s++)
      acc += h->counts[s][i];
    if (acc >= want) {
      int64_t v = h_value_from_flat(i);
      return q == 0 ? v : h_highest_equivalent(v);
    }
  }
  return 0;
}

typedef struct cb_code {
  int code;
  cb_counter ctr;
} cb_code;

enum { CB_STANDBY = 0, CB_TRIPPED, CB_RECOVERING };

typedef struct cb_state {
  wh_mw_state base;
  pthread_mutex_t mu;
  wh_cb_expr *expr;
  int64_t check_ns, fallback_ns, recovery_ns;
  /* cbreaker */
  int state;
  int64_t until;
  int64_t next_check; /* oxy's lastCheck: now + checkPeriod at the last check */
  bool checked;
  /* ratioController of the current recovery */
  int64_t rc_start;
  int64_t rc_allowed, rc_denied;
  /* RTMetrics */
  cb_counter total, net_errors;
  cb_code *codes;
  size_t ncodes, capcodes;
  cb_hist *hist; /* only when the expression reads latencies */
  int64_t now;   /* clock of the evaluation in progress */
} cb_state;

typedef struct cb_rec {
  cb_state *st;
  int64_t start;
} cb_rec;

static void metrics_reset(cb_state *s, int64_t now) {
  memset(&s->total, 0, sizeof s->total);
  memset(&s->net_errors, 0, sizeof s->net_errors);
  s->ncodes = 0;
  if (s->hist)
    h_reset(s->hist, now);
}

static void metrics_record(cb_state *s, int status, int64_t latency_ns, int64_t now) {
  ctr_inc(&s->total, now);
  /* oxy counts a "network error" from the status alone: 502 and 504, which
   * is what the proxy answers when it could not reach the backend or it
   * timed out. wharf's data plane does not tell its own 502/504 from a
   * backend's either, so a backend answering 502/504 counts the same. */
  if (status == 502 || status == 504)
    ctr_inc(&s->net_errors, now);
  cb_code *c = NULL;
  for (size_t i = 0; i < s->ncodes; i++)
    if (s->codes[i].code == status)
      c = &s->codes[i];
  if (!c) {
    if (s->ncodes == s->capcodes) {
      size_t cap = s->capcodes ? 2 * s->capcodes : 8;
      cb_code *nc = realloc(s->codes, cap * sizeof *nc);
      if (nc) {
        s->codes = nc;
        s->capcodes = cap;
      }
    }
    if (s->ncodes < s->capcodes) {
      c = &s->codes[s->ncodes++];
      memset(c, 0, sizeof *c);
      c->code = status;
    }
  }
  if (c)
    ctr_inc(&c->ctr, now);
  if (s->hist)
    h_record(s->hist, latency_ns, now);
}

static double metric_value(void *ctx, const wh_cb_call *call) {
  cb_state *s = ctx;
  switch (call->fn) {
  case WH_CB_NETWORK_ERROR_RATIO: {
    int64_t total = ctr_count(&s->total, s->now);
    return total ? (double)ctr_count(&s->net_errors, s->now) / (double)total : 0;
  }
  case WH_CB_RESPONSE_CODE_RATIO: {
    int64_t a = 0, b = 0;
    for (size_t i = 0; i < s->ncodes; i++) {
      int64_t code = s->codes[i].code;
      int64_t n = ctr_count(&s->codes[i].ctr, s->now);
      if (code >= call->args[0] && code < call->args[1])
        a += n;
      if (code >= call->args[2] && code < call->args[3])
        b += n;
    }
    return b ? (double)a / (double)b : 0;
  }
  case WH_CB_LATENCY_AT_QUANTILE_MS:
    return s->hist ? (double)(h_value_at_quantile(s->hist, call->quantile) / 1000) : 0;
  case WH_CB_REQUEST_THRESHOLD:
    return (double)ctr_count(&s->total, s->now);
  }
  return 0;
}

/* ratioController.allowRequest: lets requests through so that the allowed
 * share follows 0.5 * elapsed / recoveryDuration. */
static bool rc_allow(cb_state *s, int64_t now) {
  double target = 0.5 / (double)s->recovery_ns * (double)(now - s->rc_start);
  double would = (double)(s->rc_allowed + 1) / (double)(s->rc_allowed + 1 + s->rc_denied);
  if (would < target) {
    s->rc_allowed++;
    return true;
  }
  s->rc_denied++;
  return false;
}

/* CircuitBreaker.activateFallback (lock held). *recovered tells the caller
 * to log the return to standby once the lock is released. */
static bool cb_fallback(cb_state *s, int64_t now, bool *recovered) {
  switch (s->state) {
  case CB_STANDBY:
    return false;
  case CB_TRIPPED:
    if (now < s->until)
      return true;
    s->state = CB_RECOVERING;
    s->until = now + s->recovery_ns;
    s->rc_start = now;
    s->rc_allowed = s->rc_denied = 0;
    /* fallthrough */
  case CB_RECOVERING:
    if (now > s->until) {
      s->state = CB_STANDBY;
      *recovered = true;
      return false;
    }
    return !rc_allow(s, now);
  }
  return false;
}

/* CircuitBreaker.checkAndSet (lock held), after each recorded response.
 * Returns whether it tripped the breaker. */
static bool cb_check(cb_state *s, int64_t now) {
  if (s->checked && now <= s->next_check)
    return false;
  s->checked = true;
  s->next_check = now + s->check_ns;
  if (s->state == CB_TRIPPED)
    return false;
  s->now = now;
  if (!wh_cb_expr_eval(s->expr, metric_value, s))
    return false;
  s->state = CB_TRIPPED;
  s->until = now + s->fallback_ns;
  metrics_reset(s, now);
  return true;
}

static void cb_destroy(wh_mw_state *st) {
  cb_state *s = (cb_state *)st;
  pthread_mutex_destroy(&s->mu);
  wh_cb_expr_free(s->expr);
  free(s->codes);
  free(s->hist);
  free(s);
}

static int64_t cb_keep_ns(const wh_mw_state *st) {
  /* Past this idle time a tripped breaker would have recovered and every
   * metric window (the histogram's is 60 s) would be empty. */
  const cb_state *s = (const cb_state *)st;
  return s->fallback_ns + s->recovery_ns + H_SUBS * H_PERIOD_NS;
}

static const wh_mw_state_ops cb_ops = {
    .kind = "circuitBreaker",
    .destroy = cb_destroy,
    .keep_ns = cb_keep_ns,
};

/* Traefik passes a duration to oxy only when it is > 0; oxy's defaults
 * apply otherwise. */
static int64_t dur_or(wh_duration d, int64_t dflt) {
  return d > 0 ? (int64_t)d : dflt;
}

static wh_mw_state *cb_create(const void *ctx) {
  const wh_mw_circuitbreaker_conf *c = ctx;
  cb_state *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->expr = wh_cb_expr_parse(c->expression, NULL);
  if (!s->expr) {
    free(s);
    return NULL;
  }
  if (wh_cb_expr_uses(s->expr, WH_CB_LATENCY_AT_QUANTILE_MS) &&
      !(s->hist = calloc(1, sizeof *s->hist))) {
    wh_cb_expr_free(s->expr);
    free(s);
    return NULL;
  }
  s->base.ops = &cb_ops;
  s->check_ns = dur_or(c->check_period, 100 * NS_PER_MS);
  s->fallback_ns = dur_or(c->fallback_duration, 10 * NS_PER_S);
  s->recovery_ns = dur_or(c->recovery_duration, 10 * NS_PER_S);
  pthread_mutex_init(&s->mu, NULL);
  return &s->base;
}

static uint64_t cb_fingerprint(const wh_mw_circuitbreaker_conf *c) {
  uint64_t fp = wh_mw_fp_str(WH_MW_FP_INIT, "circuitBreaker");
  fp = wh_mw_fp_str(fp, c->expression);
  fp = wh_mw_fp_i64(fp, c->check_period);
  fp = wh_mw_fp_i64(fp, c->fallback_duration);
  fp = wh_mw_fp_i64(fp, c->recovery_duration);
  return wh_mw_fp_i64(fp, c->response_code);
}

/* End of a request the breaker let through: its outcome feeds the metrics,
 * then the expression is checked (at most once per checkPeriod). Runs
 * possibly after a reload: the record holds a state reference. */
static void cb_end(void *arg, int status) {
  cb_rec *r = arg;
  cb_state *s = r->st;
  /* No status was sent (the client left first): Traefik's proxy records
   * 499, its "client closed request". */
  if (status == 0)
    status = 499;
  pthread_mutex_lock(&s->mu);
  int64_t now = wh_mw_clock_ns();
  metrics_record(s, status, now - r->start, now);
  bool tripped = cb_check(s, now);
  pthread_mutex_unlock(&s->mu);
  if (tripped)
    wh_log_warn("circuitBreaker \"%s\": expression holds, tripped for %lld ms", s->base.name,
                (long long)(s->fallback_ns / 1000000));
  wh_mw_state_put(&s->base);
  free(r);
}

static void log_once(const wh_mw_exchange *x, const char *why) {
  static atomic_bool logged;
  if (!atomic_exchange(&logged, true))
    wh_log_error("circuitBreaker \"%s\": %s", x->mw_name ? x->mw_name : "", why);
}

static int circuitbreaker_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_circuitbreaker_conf *c = cfg;
  /* One breaker per router and middleware, as Traefik builds the
   * middleware for each router that uses it. */
  char name[512];
  snprintf(name, sizeof(name), "%s|%s", x->router_name ? x->router_name : "",
           x->mw_name ? x->mw_name : "");
  wh_mw_state *st = wh_mw_state_get(&cb_ops, name, cb_fingerprint(c), cb_create, c);
  if (!st) {
    /* Fail closed: an expression that does not parse never validates, so
     * this is OOM. */
    log_once(x, "cannot create the breaker state; answering 500");
    wh_http_resp_free(x->resp);
    wh_http_resp_text(x->resp, 500, "Internal Server Error");
    return WH_MW_DONE;
  }
  cb_state *s = (cb_state *)st;
  pthread_mutex_lock(&s->mu);
  int64_t now = wh_mw_clock_ns();
  bool recovered = false;
  bool fallback = cb_fallback(s, now, &recovered);
  pthread_mutex_unlock(&s->mu);
  if (recovered)
    wh_log_info("circuitBreaker \"%s\": recovered, back to standby", s->base.name);
  if (fallback) {
    wh_mw_state_put(st);
    int code = (int)c->response_code;
    const char *text = wh_http_status_reason(code);
    /* Go's http.StatusText is "" for a code it does not name. */
    if (strcmp(text, "Unknown") == 0)
      text = "";
    wh_http_resp_free(x->resp);
    wh_http_resp_text(x->resp, code, text);
    return WH_MW_DONE;
  }
  cb_rec *r = malloc(sizeof *r);
  if (r) {
    r->st = s;
    r->start = now;
    if (wh_mw_exchange_on_end(x, cb_end, r) == 0)
      return WH_MW_NEXT;
    free(r);
  }
  /* The request still goes through, unobserved: the breaker's metrics
   * miss one outcome, which is better than failing it. */
  log_once(x, "out of memory: a response goes unrecorded");
  wh_mw_state_put(st);
  return WH_MW_NEXT;
}

const wh_mw_type wh_mw_circuitbreaker = {
    .name = "circuitBreaker",
    .proto = WH_MW_HTTP,
    .schema = &circuitbreaker_schema,
    .on_request = circuitbreaker_on_request,
};
