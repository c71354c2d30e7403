#include "middleware/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/err.h"
#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/http/exchange.h"
#include "middleware/option_check.h"
#include "middleware/source_key.h"

static int ratelimit_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_ratelimit_conf *c = obj;
  int n = 0;
  if (c->average < 0) {
    wh_mw_opt_error(errs, path, "average", "must be >= 0 (got %lld)", (long long)c->average);
    n++;
  }
  if (c->burst < 0) {
    wh_mw_opt_error(errs, path, "burst", "must be >= 0 (got %lld)", (long long)c->burst);
    n++;
  }
  if (c->period <= 0) {
    char buf[32];
    wh_duration_format(c->period, buf, sizeof buf);
    wh_mw_opt_error(errs, path, "period", "must be > 0 (got %s)", buf);
    n++;
  }
  return n ? WH_EINVAL : 0;
}

static const wh_field ratelimit_fields[] = {
    WH_MW_FIELD(wh_mw_ratelimit_conf, average, "average", WH_F_INT),
    WH_MW_FIELD(wh_mw_ratelimit_conf, period, "period", WH_F_DURATION, .dflt = "1s"),
    WH_MW_FIELD(wh_mw_ratelimit_conf, burst, "burst", WH_F_INT, .dflt = "1"),
    WH_MW_FIELD(wh_mw_ratelimit_conf, source_criterion, "sourceCriterion", WH_F_STRUCT_PTR,
                .sub = &wh_mw_schema_source_criterion),
};

static const wh_schema ratelimit_schema = {
    .name = "rateLimit",
    .size = sizeof(wh_mw_ratelimit_conf),
    .fields = ratelimit_fields,
    .nfields = WH_MW_NFIELDS(ratelimit_fields),
    .validate = ratelimit_validate,
};

/* ---- runtime: golang.org/x/time/rate semantics, one bucket per source ---- */

/* Traefik's maxSources; split over the shards so that each shard's lock
 * guards a bounded table. */
#define RL_SHARDS 16
#define RL_MAX_SOURCES 65536
#define RL_SHARD_CAP (RL_MAX_SOURCES / RL_SHARDS)

typedef struct rl_bucket {
  wh_mw_keynode kn;
  /* Every access pushes the expiry to now + ttl with one ttl for the whole
   * middleware, so the access order is also the expiry order: the oldest
   * bucket is the first to expire and the first to evict. */
  struct rl_bucket *older, *newer;
  double tokens;
  int64_t last_ns, expire_ns;
  char key[];
} rl_bucket;

typedef struct rl_shard {
  pthread_mutex_t mu;
  wh_mw_keytab tab;
  rl_bucket *oldest, *newest;
  char pad[64]; /* keeps neighbouring shard locks off one cache line */
} rl_shard;

typedef struct rl_state {
  wh_mw_state base;
  wh_mw_source_spec src;
  double rate, burst;   /* tokens per second, capacity */
  int64_t max_delay_ns; /* longest wait served as a delay rather than a 429 */
  int64_t ttl_ns;       /* idle time after which a source is forgotten */
  rl_shard shards[RL_SHARDS];
} rl_state;

static void lru_unlink(rl_shard *sh, rl_bucket *b) {
  if (b->older)
    b->older->newer = b->newer;
  else
    sh->oldest = b->newer;
  if (b->newer)
    b->newer->older = b->older;
  else
    sh->newest = b->older;
  b->older = b->newer = NULL;
}

static void lru_push(rl_shard *sh, rl_bucket *b) {
  b->older = sh->newest;
  b->newer = NULL;
  if (sh->newest)
    sh->newest->newer = b;
  else
    sh->oldest = b;
  sh->newest = b;
}

static void bucket_drop(rl_shard *sh, rl_bucket *b) {
  lru_unlink(sh, b);
  wh_mw_keytab_remove(&sh->tab, &b->kn);
  free(b);
}

static void rl_destroy(wh_mw_state *st) {
  rl_state *s = (rl_state *)st;
  for (int i = 0; i < RL_SHARDS; i++) {
    rl_shard *sh = &s->shards[i];
    while (sh->oldest)
      bucket_drop(sh, sh->oldest);
    wh_mw_keytab_free(&sh->tab);
    pthread_mutex_destroy(&sh->mu);
  }
  wh_mw_source_spec_free(&s->src);
  free(s);
}

static int64_t rl_keep_ns(const wh_mw_state *st) {
  /* Past the TTL every bucket would be fresh again anyway. */
  return ((const rl_state *)st)->ttl_ns + 1000000000LL;
}

static const wh_mw_state_ops rl_ops = {
    .kind = "rateLimit",
    .destroy = rl_destroy,
    .keep_ns = rl_keep_ns,
};

static double rl_rate(const wh_mw_ratelimit_conf *c) {
  wh_duration period = c->period > 0 ? c->period : WH_SEC;
  return (double)c->average * 1e9 / (double)period;
}

static wh_mw_state *rl_create(const void *ctx) {
  const wh_mw_ratelimit_conf *c = ctx;
  rl_state *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  const char *bad = NULL;
  int rc = wh_mw_source_spec_init(&s->src, c->source_criterion, &bad);
  if (rc < 0) {
    /* Validation rejects such entries first; log once, not per request. */
    static atomic_bool logged;
    if (bad && !atomic_exchange(&logged, true))
      wh_log_error("rateLimit: sourceCriterion.ipStrategy.excludedIPs: invalid entry \"%s\"", bad);
    free(s);
    return NULL;
  }
  s->base.ops = &rl_ops;
  s->rate = rl_rate(c);
  s->burst = c->burst < 1 ? 1.0 : (double)c->burst;
  /* Traefik: maxDelay 1s/(2*floor(rate)), capped at 500ms below 1/s (the
   * formula does not scale there); TTL 2s, or 1+int(1/rate)s for slow ones. */
  if (s->rate < 1) {
    s->max_delay_ns = 500000000LL;
    s->ttl_ns = (1 + (int64_t)(1 / s->rate)) * 1000000000LL;
  } else {
    s->max_delay_ns = 1000000000LL / ((int64_t)s->rate * 2);
    s->ttl_ns = 2000000000LL;
  }
  for (int i = 0; i < RL_SHARDS; i++)
    pthread_mutex_init(&s->shards[i].mu, NULL);
  return &s->base;
}

static uint64_t rl_fingerprint(const wh_mw_ratelimit_conf *c) {
  uint64_t fp = wh_mw_fp_str(WH_MW_FP_INIT, "rateLimit");
  fp = wh_mw_fp_i64(fp, c->average);
  fp = wh_mw_fp_i64(fp, c->period);
  fp = wh_mw_fp_i64(fp, c->burst);
  return wh_mw_source_fp(fp, c->source_criterion);
}

/* Takes a token for key if one is there now (0) or will be within
 * max_delay (the wait, > 0); otherwise takes nothing and returns the wait
 * negated (< 0). The bucket's TTL restarts either way, as Traefik's
 * ttlmap.Set precedes the reservation. */
static int64_t rl_reserve(rl_state *s, const char *key, size_t klen, int64_t now, bool *oom) {
  uint64_t h = wh_mw_hash(key, klen);
  rl_shard *sh = &s->shards[(h >> 32) % RL_SHARDS];
  pthread_mutex_lock(&sh->mu);
  while (sh->oldest && sh->oldest->expire_ns <= now)
    bucket_drop(sh, sh->oldest);
  rl_bucket *b = (rl_bucket *)wh_mw_keytab_find(&sh->tab, key, h);
  if (b) {
    lru_unlink(sh, b);
  } else {
    if (sh->tab.n >= RL_SHARD_CAP && sh->oldest)
      bucket_drop(sh, sh->oldest);
    b = malloc(sizeof(*b) + klen + 1);
    if (b) {
      memcpy(b->key, key, klen + 1);
      b->kn.key = b->key;
      b->kn.hash = h;
      b->kn.hnext = NULL;
      b->tokens = s->burst; /* starts full */
      b->last_ns = now;
      if (wh_mw_keytab_insert(&sh->tab, &b->kn) < 0) {
        free(b);
        b = NULL;
      }
    }
    if (!b) {
      pthread_mutex_unlock(&sh->mu);
      *oom = true;
      return 0;
    }
  }
  if (now > b->last_ns) {
    double t = b->tokens + (double)(now - b->last_ns) / 1e9 * s->rate;
    b->tokens = t > s->burst ? s->burst : t;
    b->last_ns = now;
  }
  int64_t wait = 0;
  if (b->tokens < 1) {
    /* Go: time.Duration(1e9 * tokens / rate), truncated */
    wait = (int64_t)(1e9 * ((1 - b->tokens) / s->rate));
  }
  if (wait <= s->max_delay_ns)
    b->tokens -= 1;
  else
    wait = -wait;
  b->expire_ns = now + s->ttl_ns;
  lru_push(sh, b);
  pthread_mutex_unlock(&sh->mu);
  return wait;
}

static void fail_500(wh_mw_exchange *x, const char *why) {
  static atomic_bool logged;
  if (!atomic_exchange(&logged, true))
    wh_log_error("rateLimit \"%s\": %s; answering 500", x->mw_name ? x->mw_name : "", why);
  wh_http_resp_free(x->resp);
  wh_http_resp_text(x->resp, 500, "Internal Server Error");
}

static int ratelimit_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_ratelimit_conf *c = cfg;
  if (c->average <= 0)
    return WH_MW_NEXT; /* rate.Inf: never limited */
  const char *name = x->mw_name ? x->mw_name : "";
  wh_mw_state *st = wh_mw_state_get(&rl_ops, name, rl_fingerprint(c), rl_create, c);
  if (!st) {
    fail_500(x, "cannot create the limiter state");
    return WH_MW_DONE;
  }
  rl_state *s = (rl_state *)st;
  wh_strbuf key = {0};
  bool oom = false;
  int64_t wait = 0;
  if (wh_mw_source_get(&s->src, x, &key) < 0)
    oom = true;
  else
    wait = rl_reserve(s, key.data, key.len, wh_mw_clock_ns(), &oom);
  wh_strbuf_free(&key);
  wh_mw_state_put(st);
  if (oom) {
    fail_500(x, "out of memory");
    return WH_MW_DONE;
  }
  if (wait > 0) {
    int64_t ms = (wait + 999999) / 1000000;
    if (ms > UINT32_MAX)
      ms = UINT32_MAX;
    if ((uint32_t)ms > x->delay_ms)
      x->delay_ms = (uint32_t)ms;
    return WH_MW_NEXT;
  }
  if (wait == 0)
    return WH_MW_NEXT;
  wait = -wait;
  char retry_after[32], retry_in[32];
  snprintf(retry_after, sizeof retry_after, "%.0f", ceil((double)wait / 1e9));
  wh_duration_format(wait, retry_in, sizeof retry_in);
  wh_http_resp_free(x->resp);
  if (wh_http_resp_text(x->resp, 429, "Too Many Requests") < 0 ||
      wh_http_resp_header(x->resp, "Retry-After", retry_after) < 0 ||
      wh_http_resp_header(x->resp, "X-Retry-In", retry_in) < 0) {
    /* Still a refusal, even if the headers could not all be added. */
    x->resp->status = 429;
  }
  return WH_MW_DONE;
}

const wh_mw_type wh_mw_ratelimit = {
    .on_request = ratelimit_on_request,
    .name = "rateLimit",
    .proto = WH_MW_HTTP,
    .schema = &ratelimit_schema,
};
