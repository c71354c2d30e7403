#include "middleware/inflightreq.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/err.h"
#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/http/exchange.h"
#include "middleware/option_check.h"
#include "middleware/source_key.h"

static int inflightreq_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_inflightreq_conf *c = obj;
  if (c->amount > 0)
    return 0;
  wh_mw_opt_error(errs, path, "amount", "must be > 0 (got %lld)", (long long)c->amount);
  return WH_EINVAL;
}

static const wh_field inflightreq_fields[] = {
    WH_MW_FIELD(wh_mw_inflightreq_conf, amount, "amount", WH_F_INT),
    WH_MW_FIELD(wh_mw_inflightreq_conf, source_criterion, "sourceCriterion", WH_F_STRUCT_PTR,
                .sub = &wh_mw_schema_source_criterion),
};

static const wh_schema inflightreq_schema = {
    .name = "inFlightReq",
    .size = sizeof(wh_mw_inflightreq_conf),
    .fields = inflightreq_fields,
    .nfields = WH_MW_NFIELDS(inflightreq_fields),
    .validate = inflightreq_validate,
};

/* ---- runtime: oxy connlimit, a counter per source ---- */

#define IF_SHARDS 16

struct if_state;

/* Exists only while its count is above zero, so the table is bounded by the
 * requests in flight. */
typedef struct if_node {
  wh_mw_keynode kn;
  struct if_state *st;
  unsigned shard;
  int64_t count;
  char key[];
} if_node;

typedef struct if_shard {
  pthread_mutex_t mu;
  wh_mw_keytab tab;
  char pad[64]; /* keeps neighbouring shard locks off one cache line */
} if_shard;

typedef struct if_state {
  wh_mw_state base;
  wh_mw_source_spec src;
  int64_t amount;
  if_shard shards[IF_SHARDS];
} if_state;

static void if_destroy(wh_mw_state *st) {
  /* Only called with no reference held, hence no node left. */
  if_state *s = (if_state *)st;
  for (int i = 0; i < IF_SHARDS; i++) {
    wh_mw_keytab_free(&s->shards[i].tab);
    pthread_mutex_destroy(&s->shards[i].mu);
  }
  wh_mw_source_spec_free(&s->src);
  free(s);
}

static int64_t if_keep_ns(const wh_mw_state *st) {
  (void)st;
  return 10LL * 1000000000LL; /* nothing to keep once idle; avoids churn */
}

static const wh_mw_state_ops if_ops = {
    .kind = "inFlightReq",
    .destroy = if_destroy,
    .keep_ns = if_keep_ns,
};

static wh_mw_state *if_create(const void *ctx) {
  const wh_mw_inflightreq_conf *c = ctx;
  if_state *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  const char *bad = NULL;
  if (wh_mw_source_spec_init(&s->src, c->source_criterion, &bad) < 0) {
    /* Validation rejects such entries first; log once, not per request. */
    static atomic_bool logged;
    if (bad && !atomic_exchange(&logged, true))
      wh_log_error("inFlightReq: sourceCriterion.ipStrategy.excludedIPs: invalid entry \"%s\"",
                   bad);
    free(s);
    return NULL;
  }
  s->base.ops = &if_ops;
  s->amount = c->amount;
  for (int i = 0; i < IF_SHARDS; i++)
    pthread_mutex_init(&s->shards[i].mu, NULL);
  return &s->base;
}

static uint64_t if_fingerprint(const wh_mw_inflightreq_conf *c) {
  uint64_t fp = wh_mw_fp_str(WH_MW_FP_INIT, "inFlightReq");
  fp = wh_mw_fp_i64(fp, c->amount);
  return wh_mw_source_fp(fp, c->source_criterion);
}

/* End of the exchange (any status, 0 = aborted): gives the slot back and
 * the state reference the slot held. */
static void if_release(void *arg, int status) {
  (void)status;
  if_node *n = arg;
  if_state *s = n->st;
  if_shard *sh = &s->shards[n->shard];
  pthread_mutex_lock(&sh->mu);
  if (--n->count == 0) {
    wh_mw_keytab_remove(&sh->tab, &n->kn);
    free(n);
  }
  pthread_mutex_unlock(&sh->mu);
  wh_mw_state_put(&s->base);
}

/* Takes a slot for key: the node (count already raised), NULL when the
 * source is at its limit (*oom false) or on OOM (*oom true). */
static if_node *if_acquire(if_state *s, const char *key, size_t klen, bool *oom) {
  uint64_t h = wh_mw_hash(key, klen);
  unsigned si = (unsigned)((h >> 32) % IF_SHARDS);
  if_shard *sh = &s->shards[si];
  pthread_mutex_lock(&sh->mu);
  if_node *n = (if_node *)wh_mw_keytab_find(&sh->tab, key, h);
  if (!n) {
    n = malloc(sizeof(*n) + klen + 1);
    if (n) {
      memcpy(n->key, key, klen + 1);
      n->kn.key = n->key;
      n->kn.hash = h;
      n->kn.hnext = NULL;
      n->st = s;
      n->shard = si;
      n->count = 0;
      if (wh_mw_keytab_insert(&sh->tab, &n->kn) < 0) {
        free(n);
        n = NULL;
      }
    }
    if (!n) {
      pthread_mutex_unlock(&sh->mu);
      *oom = true;
      return NULL;
    }
  }
  if (n->count >= s->amount) {
    if (n->count == 0) { /* amount < 1 never validates; do not leak the node */
      wh_mw_keytab_remove(&sh->tab, &n->kn);
      free(n);
    }
    n = NULL;
  } else {
    n->count++;
  }
  pthread_mutex_unlock(&sh->mu);
  return n;
}

static void fail_500(wh_mw_exchange *x, const char *why) {
  static atomic_bool logged;
  if (!atomic_exchange(&logged, true))
    wh_log_error("inFlightReq \"%s\": %s; answering 500", x->mw_name ? x->mw_name : "", why);
  wh_http_resp_free(x->resp);
  wh_http_resp_text(x->resp, 500, "Internal Server Error");
}

static int inflightreq_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_inflightreq_conf *c = cfg;
  const char *name = x->mw_name ? x->mw_name : "";
  wh_mw_state *st = wh_mw_state_get(&if_ops, name, if_fingerprint(c), if_create, c);
  if (!st) {
    fail_500(x, "cannot create the limiter state");
    return WH_MW_DONE;
  }
  if_state *s = (if_state *)st;
  wh_strbuf key = {0};
  bool oom = false;
  if_node *n = NULL;
  if (wh_mw_source_get(&s->src, x, &key) < 0)
    oom = true;
  else
    n = if_acquire(s, key.data, key.len, &oom);
  wh_strbuf_free(&key);
  if (n) {
    /* The slot (and the state reference) live until the exchange ends. */
    if (wh_mw_exchange_on_end(x, if_release, n) == 0)
      return WH_MW_NEXT;
    if_release(n, 0);
    fail_500(x, "out of memory");
    return WH_MW_DONE;
  }
  wh_mw_state_put(st);
  if (oom) {
    fail_500(x, "out of memory");
    return WH_MW_DONE;
  }
  wh_http_resp_free(x->resp);
  if (wh_http_resp_text(x->resp, 429, "Too Many Requests") < 0)
    x->resp->status = 429;
  return WH_MW_DONE;
}

const wh_mw_type wh_mw_inflightreq = {
    .on_request = inflightreq_on_request,
    .name = "inFlightReq",
    .proto = WH_MW_HTTP,
    .schema = &inflightreq_schema,
};
