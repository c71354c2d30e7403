#include "lib/observe/metrics_store.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/config/runtime.h"
#include "lib/core/log.h"

/* What a label set counts. The *_REQ kinds carry the request counters and
 * the duration histogram; *_HDR exist only with headerLabels, because
 * Traefik adds the header labels to requests_total alone. */
typedef enum {
  K_EP_REQ = 0,
  K_EP_HDR,
  K_EP_TLS,
  K_RT_REQ,
  K_RT_HDR,
  K_RT_TLS,
  K_SVC_REQ,
  K_SVC_HDR,
  K_SVC_TLS,
  K_SVC_RETRIES,
  K_COUNT
} kind;

/* value indexes of a *_REQ entry; the others have only V_COUNT */
enum { V_COUNT = 0, V_REQ_BYTES, V_RESP_BYTES, V_SUM_NS, V_BUCKETS };

#define MAX_LABELS 8 /* base labels of a kind, before header labels */

typedef struct kind_def {
  const char *names[MAX_LABELS]; /* in the order record() fills the values */
  size_t n;
  bool req, hdr; /* *_REQ / *_HDR */
} kind_def;

static const kind_def kind_defs[K_COUNT] = {
    [K_EP_REQ] = {{"code", "method", "protocol", "entrypoint"}, 4, true, false},
    [K_EP_HDR] = {{"code", "method", "protocol", "entrypoint"}, 4, false, true},
    [K_EP_TLS] = {{"tls_version", "tls_cipher", "entrypoint"}, 3, false, false},
    [K_RT_REQ] = {{"code", "method", "protocol", "router", "service"}, 5, true, false},
    [K_RT_HDR] = {{"code", "method", "protocol", "router", "service"}, 5, false, true},
    [K_RT_TLS] = {{"tls_version", "tls_cipher", "router", "service"}, 4, false, false},
    [K_SVC_REQ] = {{"code", "method", "protocol", "service"}, 4, true, false},
    [K_SVC_HDR] = {{"code", "method", "protocol", "service"}, 4, false, true},
    [K_SVC_TLS] = {{"tls_version", "tls_cipher", "service"}, 3, false, false},
    [K_SVC_RETRIES] = {{"service"}, 1, false, false},
};

typedef struct entry {
  struct entry *next;
  /* its router or service left the configuration: MARKED by a scrape, which
   * still shows it, then SHOWN, and the owning worker unlinks it at its next
   * tick (the worker is the only one reading the chains without the lock) */
  _Atomic unsigned char gone;
  uint64_t hash;
  char *key; /* kind byte, then each value NUL-terminated */
  size_t keylen;
  char *labels; /* rendered: name="value",... sorted by name */
  _Atomic uint64_t v[];
} entry;

typedef struct slot {
  pthread_mutex_t mu; /* links entries in (worker) and walks them (scraper) */
  entry **heads;
  size_t mask, n;
  wh_strbuf scratch; /* the worker's key under construction */
  _Atomic uint64_t dropped;
  _Atomic int64_t *conns;    /* per entry point */
  _Atomic bool prune_needed; /* a scrape marked entries obsolete */
} slot;

/* one rendered label name order per kind: indexes into the kind's values */
typedef struct kind_order {
  const char **names; /* base names then header label names */
  size_t n;
  size_t *perm; /* perm[i]: the value index printed i-th */
} kind_order;

/* Sorted, owned names. */
typedef struct name_set {
  char **v;
  size_t n;
} name_set;

struct wh_metrics_store {
  const wh_prometheus *cfg;
  const wh_static_config *stat;
  bool ep, rt, svc, internals;
  double *buckets; /* upper bounds in seconds, sorted, without +Inf */
  size_t nbuckets;
  const char **hdr_names, **hdr_keys; /* headerLabels accepted: label, header */
  size_t nhdr;
  kind_order orders[K_COUNT];
  size_t nep;
  slot *slots;
  int nslots;
  _Atomic uint64_t reloads, reload_failures;
  _Atomic int64_t last_success;
  atomic_flag cap_logged;
  /* the routers and services of the configuration in use (sorted copies),
   * NULL until the first one: series of others are dropped after a scrape */
  pthread_mutex_t live_mu;
  name_set *live_routers, *live_services;
};

/* ---- helpers ---- */

/* Single writer per slot: a relaxed load and store, no locked instruction. */
static inline void add_u64(_Atomic uint64_t *p, uint64_t d) {
  atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + d, memory_order_relaxed);
}

static uint64_t hash_bytes(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
  return h;
}

void wh_metrics_label_value(wh_strbuf *b, const char *v) {
  for (const char *s = v; *s;) {
    size_t run = strcspn(s, "\\\"\n");
    wh_strbuf_append(b, s, run);
    s += run;
    if (!*s)
      break;
    wh_strbuf_puts(b, *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : "\\n");
    s++;
  }
}

/* The shortest decimal that reads back as d, like Go's 'g' with precision
 * -1 (bucket bounds "0.1", "5"; sums). */
static void put_float(wh_strbuf *b, double d) {
  if (isinf(d)) {
    wh_strbuf_puts(b, d > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (isnan(d)) {
    wh_strbuf_puts(b, "NaN");
    return;
  }
  char buf[40];
  for (int p = 1; p <= 17; p++) {
    snprintf(buf, sizeof(buf), "%.*g", p, d);
    if (strtod(buf, NULL) == d)
      break;
  }
  wh_strbuf_puts(b, buf);
}

static bool valid_label_name(const char *s) {
  if (!s || !*s || (s[0] == '_' && s[1] == '_'))
    return false;
  for (const char *p = s; *p; p++) {
    bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_';
    if (!alpha && !(p > s && *p >= '0' && *p <= '9'))
      return false;
  }
  return true;
}

static bool valid_utf8(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    size_t n = *p < 0x80             ? 0
               : (*p & 0xe0) == 0xc0 ? 1
               : (*p & 0xf0) == 0xe0 ? 2
               : (*p & 0xf8) == 0xf0 ? 3
                                     : 9;
    if (n == 9 || (n == 1 && *p < 0xc2))
      return false;
    uint32_t cp = n ? *p & (0x3f >> n) : *p;
    for (size_t i = 1; i <= n; i++) {
      if ((p[i] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
      return false;
    p += n + 1;
  }
  return true;
}

/* Traefik's getMethod: the HTTP verbs pass, anything else would let a
 * client create label values at will. */
static const char *method_label(const char *m) {
  static const char *const verbs[] = {"GET",     "HEAD",    "POST",  "PUT",   "DELETE",
                                      "CONNECT", "OPTIONS", "TRACE", "PATCH", "PRI"};
  if (!m)
    return "EXTENSION_METHOD";
  for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
    if (strcmp(m, verbs[i]) == 0)
      return verbs[i];
  if (!valid_utf8(m))
    return "NON_UTF8_HTTP_METHOD";
  return "EXTENSION_METHOD";
}

static const char *protocol_label(wh_xproto p) {
  switch (p) {
  case WH_XPROTO_WEBSOCKET:
    return "websocket";
  case WH_XPROTO_SSE:
    return "sse";
  case WH_XPROTO_GRPC:
    return "grpc";
  case WH_XPROTO_GRPC_WEB:
    return "grpc-web";
  default:
    return "http";
  }
}

/* Traefik reports a gRPC exchange's Grpc-Status header (codes.Unknown = 2
 * when absent or not a code; the status is usually in trailers, hence
 * mostly 2 there too). */
static int grpc_code(const wh_xrec *r) {
  const char *s = r->grpc_status;
  if (!s || !*s)
    return 2;
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || v < 0 || v > 16 || s[0] < '0' || s[0] > '9')
    return 2;
  return (int)v;
}

/* ---- construction ---- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int init_buckets(wh_metrics_store *m) {
  static const double dflt[] = {0.1, 0.3, 1.2, 5.0};
  const double *src = m->cfg && m->cfg->buckets.n ? m->cfg->buckets.v : dflt;
  size_t n = m->cfg && m->cfg->buckets.n ? m->cfg->buckets.n : 4;
  m->buckets = calloc(n ? n : 1, sizeof(double));
  if (!m->buckets)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (!isnan(src[i]) && !isinf(src[i]))
      m->buckets[m->nbuckets++] = src[i];
  qsort(m->buckets, m->nbuckets, sizeof(double), cmp_double);
  size_t k = 0;
  for (size_t i = 0; i < m->nbuckets; i++)
    if (k == 0 || m->buckets[i] != m->buckets[k - 1])
      m->buckets[k++] = m->buckets[i];
  m->nbuckets = k;
  return 0;
}

static bool is_base_name(const char *s) {
  static const char *const base[] = {"code",    "method",      "protocol",   "entrypoint", "router",
                                     "service", "tls_version", "tls_cipher", "le"};
  for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
    if (strcmp(s, base[i]) == 0)
      return true;
  return false;
}

static int init_headers(wh_metrics_store *m) {
  const wh_strmap *h = m->cfg ? &m->cfg->header_labels : NULL;
  if (!h || !h->n)
    return 0;
  m->hdr_names = calloc(h->n, sizeof(char *));
  m->hdr_keys = calloc(h->n, sizeof(char *));
  if (!m->hdr_names || !m->hdr_keys)
    return -1;
  for (size_t i = 0; i < h->n; i++) {
    if (!valid_label_name(h->keys[i]) || is_base_name(h->keys[i]) || !h->vals[i] || !*h->vals[i]) {
      wh_log_warn("metrics.prometheus.headerLabels: ignoring label %s (not a usable label name "
                  "or no header)",
                  h->keys[i]);
      continue;
    }
    bool dup = false;
    for (size_t j = 0; j < m->nhdr; j++)
      dup = dup || strcmp(m->hdr_names[j], h->keys[i]) == 0;
    if (dup)
      continue;
    m->hdr_names[m->nhdr] = h->keys[i];
    m->hdr_keys[m->nhdr++] = h->vals[i];
  }
  return 0;
}

/* Label names print sorted, as Prometheus' Go client prints them. */
static int init_orders(wh_metrics_store *m) {
  for (int k = 0; k < K_COUNT; k++) {
    kind_order *o = &m->orders[k];
    const kind_def *d = &kind_defs[k];
    o->n = d->n + (d->hdr ? m->nhdr : 0);
    o->names = calloc(o->n, sizeof(char *));
    o->perm = calloc(o->n, sizeof(size_t));
    if (!o->names || !o->perm)
      return -1;
    for (size_t i = 0; i < o->n; i++) {
      o->names[i] = i < d->n ? d->names[i] : m->hdr_names[i - d->n];
      o->perm[i] = i;
    }
    for (size_t i = 1; i < o->n; i++)
      for (size_t j = i; j > 0 && strcmp(o->names[o->perm[j - 1]], o->names[o->perm[j]]) > 0; j--) {
        size_t t = o->perm[j];
        o->perm[j] = o->perm[j - 1];
        o->perm[j - 1] = t;
      }
  }
  return 0;
}

static void name_set_free(name_set *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
  free(s);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool name_set_has(const name_set *s, const char *name) {
  return bsearch(&name, s->v, s->n, sizeof(char *), cmp_str) != NULL;
}

/* The names of the elements of kind in rt, sorted; NULL on OOM. */
static name_set *name_set_of(const wh_runtime *rt, wh_kind which) {
  const wh_rt_list *l = &rt->elems[which];
  name_set *s = calloc(1, sizeof(*s));
  if (!s || !(s->v = calloc(l->n ? l->n : 1, sizeof(char *)))) {
    free(s);
    return NULL;
  }
  for (size_t i = 0; i < l->n; i++) {
    if (!(s->v[i] = strdup(l->v[i]->name))) {
      name_set_free(s);
      return NULL;
    }
    s->n++;
  }
  qsort(s->v, s->n, sizeof(char *), cmp_str);
  return s;
}

wh_metrics_store *wh_metrics_store_new(const wh_prometheus *cfg, const wh_static_config *stat,
                                       int nworkers) {
  wh_metrics_store *m = calloc(1, sizeof(*m));
  if (!m)
    return NULL;
  m->cfg = cfg;
  m->stat = stat;
  m->ep = cfg ? cfg->add_entry_points_labels : true;
  m->rt = cfg ? cfg->add_routers_labels : false;
  m->svc = cfg ? cfg->add_services_labels : true;
  m->internals = stat && stat->metrics && stat->metrics->add_internals;
  m->nep = stat ? stat->entry_points.n : 0;
  m->nslots = nworkers > 0 ? nworkers : 1;
  atomic_flag_clear(&m->cap_logged);
  pthread_mutex_init(&m->live_mu, NULL);
  if (init_buckets(m) || init_headers(m) || init_orders(m))
    goto fail;
  m->slots = calloc((size_t)m->nslots, sizeof(slot));
  if (!m->slots)
    goto fail;
  for (int i = 0; i < m->nslots; i++) {
    slot *s = &m->slots[i];
    pthread_mutex_init(&s->mu, NULL);
    s->mask = 63;
    s->heads = calloc(s->mask + 1, sizeof(entry *));
    s->conns = calloc(m->nep ? m->nep : 1, sizeof(*s->conns));
    if (!s->heads || !s->conns) {
      m->nslots = i + 1;
      goto fail;
    }
  }
  return m;
fail:
  wh_metrics_store_free(m);
  return NULL;
}

void wh_metrics_store_free(wh_metrics_store *m) {
  if (!m)
    return;
  for (int i = 0; m->slots && i < m->nslots; i++) {
    slot *s = &m->slots[i];
    for (size_t b = 0; s->heads && b <= s->mask; b++)
      for (entry *e = s->heads[b], *next; e; e = next) {
        next = e->next;
        free(e->key);
        free(e->labels);
        free(e);
      }
    free(s->heads);
    free(s->conns);
    wh_strbuf_free(&s->scratch);
    pthread_mutex_destroy(&s->mu);
  }
  free(m->slots);
  for (int k = 0; k < K_COUNT; k++) {
    free(m->orders[k].names);
    free(m->orders[k].perm);
  }
  free(m->hdr_names);
  free(m->hdr_keys);
  free(m->buckets);
  name_set_free(m->live_routers);
  name_set_free(m->live_services);
  pthread_mutex_destroy(&m->live_mu);
  free(m);
}

/* ---- removed routers and services ---- */

enum { GONE_NO = 0, GONE_MARKED, GONE_SHOWN };

void wh_metrics_store_live(wh_metrics_store *m, const wh_runtime *rt) {
  if (!m || !rt)
    return;
  name_set *r = name_set_of(rt, WH_KIND_HTTP_ROUTER);
  name_set *s = name_set_of(rt, WH_KIND_HTTP_SERVICE);
  if (!r || !s) {
    name_set_free(r);
    name_set_free(s);
    return; /* out of memory: nothing is dropped this time */
  }
  pthread_mutex_lock(&m->live_mu);
  name_set * or = m->live_routers, *os = m->live_services;
  m->live_routers = r;
  m->live_services = s;
  pthread_mutex_unlock(&m->live_mu);
  name_set_free(or);
  name_set_free(os);
}

/* The value of the label `name` in an entry's key, NULL when the kind has
 * no such label. */
static const char *key_value(const entry *e, const char *name) {
  const kind_def *d = &kind_defs[(unsigned char)e->key[0] - 'A'];
  const char *p = e->key + 1, *end = e->key + e->keylen;
  for (size_t i = 0; i < d->n && p < end; i++) {
    if (strcmp(d->names[i], name) == 0)
      return p;
    p += strlen(p) + 1;
  }
  return NULL;
}

/* Before a scrape gathers: marks the entries of routers and services the
 * configuration no longer has (Traefik drops their series after their next
 * scrape). */
static void mark_gone(wh_metrics_store *m) {
  pthread_mutex_lock(&m->live_mu);
  if (!m->live_routers) {
    pthread_mutex_unlock(&m->live_mu);
    return;
  }
  for (int i = 0; i < m->nslots; i++) {
    slot *s = &m->slots[i];
    pthread_mutex_lock(&s->mu);
    for (size_t b = 0; b <= s->mask; b++)
      for (entry *e = s->heads[b]; e; e = e->next) {
        if (atomic_load_explicit(&e->gone, memory_order_relaxed) != GONE_NO)
          continue;
        const char *r = key_value(e, "router"), *sv = key_value(e, "service");
        if ((r && !name_set_has(m->live_routers, r)) ||
            (!r && sv && !name_set_has(m->live_services, sv)))
          atomic_store_explicit(&e->gone, GONE_MARKED, memory_order_relaxed);
      }
    pthread_mutex_unlock(&s->mu);
  }
  pthread_mutex_unlock(&m->live_mu);
}

/* After the scrape wrote them: the marked entries may go. */
static void shown_gone(wh_metrics_store *m) {
  for (int i = 0; i < m->nslots; i++) {
    slot *s = &m->slots[i];
    bool any = false;
    pthread_mutex_lock(&s->mu);
    for (size_t b = 0; b <= s->mask; b++)
      for (entry *e = s->heads[b]; e; e = e->next)
        if (atomic_load_explicit(&e->gone, memory_order_relaxed) == GONE_MARKED) {
          atomic_store_explicit(&e->gone, GONE_SHOWN, memory_order_relaxed);
          any = true;
        }
    pthread_mutex_unlock(&s->mu);
    if (any)
      atomic_store_explicit(&s->prune_needed, true, memory_order_release);
  }
}

void wh_metrics_store_tick(wh_metrics_store *m, int worker) {
  if (!m || worker < 0 || worker >= m->nslots)
    return;
  slot *s = &m->slots[worker];
  if (!atomic_exchange_explicit(&s->prune_needed, false, memory_order_acquire))
    return;
  pthread_mutex_lock(&s->mu);
  for (size_t b = 0; b <= s->mask; b++)
    for (entry **pp = &s->heads[b]; *pp;) {
      entry *e = *pp;
      if (atomic_load_explicit(&e->gone, memory_order_relaxed) != GONE_SHOWN) {
        pp = &e->next;
        continue;
      }
      *pp = e->next;
      s->n--;
      free(e->key);
      free(e->labels);
      free(e);
    }
  pthread_mutex_unlock(&s->mu);
}

/* ---- recording ---- */

static size_t nvalues(const wh_metrics_store *m, kind k) {
  return kind_defs[k].req ? V_BUCKETS + m->nbuckets + 1 : 1;
}

static char *render_labels(const wh_metrics_store *m, kind k, const char *key, size_t keylen) {
  const kind_order *o = &m->orders[k];
  const char *vals[MAX_LABELS + 64];
  const char **vp = o->n <= sizeof(vals) / sizeof(vals[0]) ? vals : calloc(o->n, sizeof(char *));
  if (!vp)
    return NULL;
  const char *p = key + 1;
  for (size_t i = 0; i < o->n && p < key + keylen; i++) {
    vp[i] = p;
    p += strlen(p) + 1;
  }
  wh_strbuf b = {0};
  for (size_t i = 0; i < o->n; i++) {
    wh_strbuf_printf(&b, "%s%s=\"", i ? "," : "", o->names[o->perm[i]]);
    wh_metrics_label_value(&b, vp[o->perm[i]]);
    wh_strbuf_putc(&b, '"');
  }
  if (vp != vals)
    free(vp);
  return wh_strbuf_take(&b);
}

static void grow(slot *s) {
  size_t nmask = s->mask * 2 + 1;
  entry **nh = calloc(nmask + 1, sizeof(entry *));
  if (!nh)
    return; /* longer chains, still correct */
  for (size_t b = 0; b <= s->mask; b++)
    for (entry *e = s->heads[b], *next; e; e = next) {
      next = e->next;
      e->next = nh[e->hash & nmask];
      nh[e->hash & nmask] = e;
    }
  free(s->heads);
  s->heads = nh;
  s->mask = nmask;
}

/* The entry for the key in s->scratch, created when new; NULL when the cap
 * is reached or on OOM (the observation is then dropped). */
static entry *lookup(wh_metrics_store *m, slot *s, kind k) {
  const char *key = s->scratch.data;
  size_t keylen = s->scratch.len;
  if (!key)
    return NULL;
  uint64_t h = hash_bytes(key, keylen);
  /* only this worker links entries in, so reading the chains unlocked is
   * safe here */
  for (entry *e = s->heads[h & s->mask]; e; e = e->next)
    if (e->hash == h && e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
      return e;
  if (s->n >= WH_METRICS_MAX_LABEL_SETS) {
    add_u64(&s->dropped, 1);
    if (!atomic_flag_test_and_set(&m->cap_logged))
      wh_log_warn("metrics: more than %d label sets on one worker; new label sets are not "
                  "counted (see wharf_metrics_label_sets_dropped_total). Check "
                  "metrics.prometheus.headerLabels",
                  WH_METRICS_MAX_LABEL_SETS);
    return NULL;
  }
  size_t nv = nvalues(m, k);
  entry *e = calloc(1, sizeof(*e) + nv * sizeof(e->v[0]));
  if (!e)
    return NULL;
  e->hash = h;
  e->keylen = keylen;
  e->key = malloc(keylen);
  if (e->key)
    memcpy(e->key, key, keylen);
  e->labels = e->key ? render_labels(m, k, key, keylen) : NULL;
  if (!e->labels) {
    free(e->key);
    free(e);
    return NULL;
  }
  pthread_mutex_lock(&s->mu);
  if (s->n + 1 > (s->mask + 1) * 2)
    grow(s);
  e->next = s->heads[h & s->mask];
  s->heads[h & s->mask] = e;
  s->n++;
  pthread_mutex_unlock(&s->mu);
  return e;
}

static void key_start(slot *s, kind k) {
  s->scratch.len = 0;
  wh_strbuf_putc(&s->scratch, (char)('A' + k));
}

static void key_add(slot *s, const char *v) {
  v = v ? v : "";
  wh_strbuf_append(&s->scratch, v, strlen(v) + 1);
}

static void key_headers(const wh_metrics_store *m, slot *s, const wh_xrec *r) {
  for (size_t i = 0; i < m->nhdr; i++)
    key_add(s, r->req_headers ? wh_headers_get(r->req_headers, m->hdr_keys[i]) : "");
}

typedef struct obs {
  const char *code, *method, *proto;
  size_t bucket;
  uint64_t ns;
} obs;

static void count_req(wh_metrics_store *m, slot *s, kind k, const obs *o, const wh_xrec *r) {
  entry *e = lookup(m, s, k);
  if (!e)
    return;
  add_u64(&e->v[V_COUNT], 1);
  add_u64(&e->v[V_REQ_BYTES], r->req_bytes);
  add_u64(&e->v[V_RESP_BYTES], r->resp_bytes);
  add_u64(&e->v[V_SUM_NS], o->ns);
  add_u64(&e->v[V_BUCKETS + o->bucket], 1);
}

static void count_one(wh_metrics_store *m, slot *s, kind k, uint64_t n) {
  entry *e = lookup(m, s, k);
  if (e)
    add_u64(&e->v[V_COUNT], n);
}

/* One scope (entry point, router or service): requests, header-labelled
 * requests_total and TLS. base: the scope's own label values. */
static void record_scope(wh_metrics_store *m, slot *s, kind req, const obs *o, const wh_xrec *r,
                         const char *const *base, size_t nbase) {
  key_start(s, req);
  key_add(s, o->code);
  key_add(s, o->method);
  key_add(s, o->proto);
  for (size_t i = 0; i < nbase; i++)
    key_add(s, base[i]);
  count_req(m, s, req, o, r);
  if (m->nhdr) {
    key_start(s, (kind)(req + 1));
    key_add(s, o->code);
    key_add(s, o->method);
    key_add(s, o->proto);
    for (size_t i = 0; i < nbase; i++)
      key_add(s, base[i]);
    key_headers(m, s, r);
    count_one(m, s, (kind)(req + 1), 1);
  }
  if (r->tls) {
    key_start(s, (kind)(req + 2));
    key_add(s, r->tls_version);
    key_add(s, r->tls_cipher);
    for (size_t i = 0; i < nbase; i++)
      key_add(s, base[i]);
    count_one(m, s, (kind)(req + 2), 1);
  }
}

void wh_metrics_store_record(wh_metrics_store *m, int worker, const wh_xrec *r) {
  if (!m || !r || worker < 0 || worker >= m->nslots)
    return;
  if (r->internal && !m->internals)
    return;
  slot *s = &m->slots[worker];
  char code[16];
  bool grpc = r->protocol == WH_XPROTO_GRPC || r->protocol == WH_XPROTO_GRPC_WEB;
  snprintf(code, sizeof(code), "%d", grpc ? grpc_code(r) : r->status);
  obs o = {code, method_label(r->method), protocol_label(r->protocol), m->nbuckets, r->duration_ns};
  double secs = (double)r->duration_ns / 1e9;
  for (size_t i = 0; i < m->nbuckets; i++)
    if (secs <= m->buckets[i]) {
      o.bucket = i;
      break;
    }
  if (m->ep) {
    const char *base[] = {r->entrypoint};
    record_scope(m, s, K_EP_REQ, &o, r, base, 1);
  }
  if (m->rt && r->router) {
    const char *base[] = {r->router, r->service};
    record_scope(m, s, K_RT_REQ, &o, r, base, 2);
  }
  if (m->svc && r->service) {
    const char *base[] = {r->service};
    record_scope(m, s, K_SVC_REQ, &o, r, base, 1);
    if (r->retries) {
      key_start(s, K_SVC_RETRIES);
      key_add(s, r->service);
      count_one(m, s, K_SVC_RETRIES, r->retries);
    }
  }
}

void wh_metrics_store_conn(wh_metrics_store *m, int worker, size_t ep_index, int delta) {
  if (!m || worker < 0 || worker >= m->nslots || ep_index >= m->nep)
    return;
  _Atomic int64_t *c = &m->slots[worker].conns[ep_index];
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + delta,
                        memory_order_relaxed);
}

void wh_metrics_store_reload(wh_metrics_store *m, bool success) {
  if (!m)
    return;
  atomic_fetch_add_explicit(&m->reloads, 1, memory_order_relaxed);
  if (success)
    atomic_store_explicit(&m->last_success, (int64_t)time(NULL), memory_order_relaxed);
  else
    atomic_fetch_add_explicit(&m->reload_failures, 1, memory_order_relaxed);
}

/* ---- exposition ---- */

/* One label set summed over the workers. */
typedef struct agg {
  const char *labels; /* owned by an entry, which lives as long as the store */
  uint64_t *v;
} agg;

typedef struct agg_list {
  agg *items;
  uint64_t *vals;
  size_t n, nv;
} agg_list;

static int cmp_agg(const void *a, const void *b) {
  return strcmp(((const agg *)a)->labels, ((const agg *)b)->labels);
}

static int gather(wh_metrics_store *m, kind k, agg_list *out) {
  memset(out, 0, sizeof(*out));
  out->nv = nvalues(m, k);
  char tag = (char)('A' + k);
  size_t cap = 0;
  for (int i = 0; i < m->nslots; i++) {
    slot *s = &m->slots[i];
    pthread_mutex_lock(&s->mu);
    for (size_t b = 0; b <= s->mask; b++)
      for (entry *e = s->heads[b]; e; e = e->next) {
        if (e->key[0] != tag)
          continue;
        if (out->n == cap) {
          size_t ncap = cap ? cap * 2 : 16;
          agg *ni = realloc(out->items, ncap * sizeof(agg));
          uint64_t *nvals = ni ? realloc(out->vals, ncap * out->nv * sizeof(uint64_t)) : NULL;
          if (ni)
            out->items = ni;
          if (!nvals) {
            pthread_mutex_unlock(&s->mu);
            return -1;
          }
          out->vals = nvals;
          cap = ncap;
        }
        uint64_t *v = out->vals + out->n * out->nv;
        for (size_t j = 0; j < out->nv; j++)
          v[j] = atomic_load_explicit(&e->v[j], memory_order_relaxed);
        out->items[out->n++].labels = e->labels;
      }
    pthread_mutex_unlock(&s->mu);
  }
  /* the value pointers only now: vals moved while it grew */
  for (size_t i = 0; i < out->n; i++)
    out->items[i].v = out->vals + i * out->nv;
  if (out->n)
    qsort(out->items, out->n, sizeof(agg), cmp_agg);
  size_t w = 0;
  for (size_t i = 0; i < out->n; i++) {
    if (w && strcmp(out->items[w - 1].labels, out->items[i].labels) == 0) {
      for (size_t j = 0; j < out->nv; j++)
        out->items[w - 1].v[j] += out->items[i].v[j];
    } else {
      out->items[w++] = out->items[i];
    }
  }
  out->n = w;
  return 0;
}

static void agg_free(agg_list *l) {
  free(l->items);
  free(l->vals);
}

static void family_head(wh_strbuf *b, const char *name, const char *help, const char *type) {
  wh_strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter_family(wh_strbuf *b, const char *name, const char *help, const agg_list *l,
                           size_t vi) {
  if (!l->n)
    return;
  family_head(b, name, help, "counter");
  for (size_t i = 0; i < l->n; i++)
    wh_strbuf_printf(b, "%s{%s} %llu\n", name, l->items[i].labels,
                     (unsigned long long)l->items[i].v[vi]);
}

static void histogram_family(const wh_metrics_store *m, wh_strbuf *b, const char *name,
                             const char *help, const agg_list *l) {
  if (!l->n)
    return;
  family_head(b, name, help, "histogram");
  for (size_t i = 0; i < l->n; i++) {
    const agg *a = &l->items[i];
    uint64_t cum = 0;
    for (size_t j = 0; j <= m->nbuckets; j++) {
      cum += a->v[V_BUCKETS + j];
      wh_strbuf_printf(b, "%s_bucket{%s,le=\"", name, a->labels);
      put_float(b, j < m->nbuckets ? m->buckets[j] : INFINITY);
      wh_strbuf_printf(b, "\"} %llu\n", (unsigned long long)cum);
    }
    wh_strbuf_printf(b, "%s_sum{%s} ", name, a->labels);
    put_float(b, (double)a->v[V_SUM_NS] / 1e9);
    wh_strbuf_printf(b, "\n%s_count{%s} %llu\n", name, a->labels,
                     (unsigned long long)a->v[V_COUNT]);
  }
}

typedef struct scope_text {
  const char *prefix; /* "traefik_entrypoint_" */
  const char *reqs, *tls, *dur, *req_bytes, *resp_bytes;
} scope_text;

/* Traefik's HELP texts, verbatim. */
static const scope_text scope_texts[3] = {
    {"traefik_entrypoint_",
     "How many HTTP requests processed on an entrypoint, partitioned by status code, protocol, "
     "and method.",
     "How many HTTP requests with TLS processed on an entrypoint, partitioned by TLS Version and "
     "TLS cipher Used.",
     "How long it took to process the request on an entrypoint, partitioned by status code, "
     "protocol, and method.",
     "The total size of requests in bytes handled by an entrypoint, partitioned by status code, "
     "protocol, and method.",
     "The total size of responses in bytes handled by an entrypoint, partitioned by status code, "
     "protocol, and method."},
    {"traefik_router_",
     "How many HTTP requests are processed on a router, partitioned by service, status code, "
     "protocol, and method.",
     "How many HTTP requests with TLS are processed on a router, partitioned by service, TLS "
     "Version, and TLS cipher Used.",
     "How long it took to process the request on a router, partitioned by service, status code, "
     "protocol, and method.",
     "The total size of requests in bytes handled by a router, partitioned by service, status "
     "code, protocol, and method.",
     "The total size of responses in bytes handled by a router, partitioned by service, status "
     "code, protocol, and method."},
    {"traefik_service_",
     "How many HTTP requests processed on a service, partitioned by status code, protocol, and "
     "method.",
     "How many HTTP requests with TLS processed on a service, partitioned by TLS version and TLS "
     "cipher.",
     "How long it took to process the request on a service, partitioned by status code, "
     "protocol, and method.",
     "The total size of requests in bytes received by a service, partitioned by status code, "
     "protocol, and method.",
     "The total size of responses in bytes returned by a service, partitioned by status code, "
     "protocol, and method."},
};

/* The five families of a scope, in name order: request_duration_seconds,
 * requests_bytes_total, requests_tls_total, requests_total,
 * responses_bytes_total; retries_total after them for services. */
static void write_scope(wh_metrics_store *m, wh_strbuf *b, int scope) {
  kind req = (kind)(K_EP_REQ + 3 * scope);
  const scope_text *t = &scope_texts[scope];
  agg_list lr = {0}, lh = {0}, lt = {0};
  if (gather(m, req, &lr) || (m->nhdr && gather(m, (kind)(req + 1), &lh)) ||
      gather(m, (kind)(req + 2), &lt)) {
    /* OOM: say nothing rather than wrong totals */
    agg_free(&lr);
    agg_free(&lh);
    agg_free(&lt);
    return;
  }
  char name[96];
  snprintf(name, sizeof(name), "%srequest_duration_seconds", t->prefix);
  histogram_family(m, b, name, t->dur, &lr);
  snprintf(name, sizeof(name), "%srequests_bytes_total", t->prefix);
  counter_family(b, name, t->req_bytes, &lr, V_REQ_BYTES);
  snprintf(name, sizeof(name), "%srequests_tls_total", t->prefix);
  counter_family(b, name, t->tls, &lt, V_COUNT);
  snprintf(name, sizeof(name), "%srequests_total", t->prefix);
  counter_family(b, name, t->reqs, m->nhdr ? &lh : &lr, V_COUNT);
  snprintf(name, sizeof(name), "%sresponses_bytes_total", t->prefix);
  counter_family(b, name, t->resp_bytes, &lr, V_RESP_BYTES);
  agg_free(&lr);
  agg_free(&lh);
  agg_free(&lt);
  if (scope == 2) {
    agg_list lx;
    if (gather(m, K_SVC_RETRIES, &lx) == 0)
      counter_family(b, "traefik_service_retries_total",
                     "How many request retries happened on a service.", &lx, V_COUNT);
    agg_free(&lx);
  }
}

static void write_open_conns(wh_metrics_store *m, wh_strbuf *b) {
  bool head = false;
  for (size_t i = 0; m->stat && i < m->nep; i++) {
    const wh_entrypoint *ep = m->stat->entry_points.vals[i];
    if (ep && ep->is_udp)
      continue;
    int64_t sum = 0;
    for (int w = 0; w < m->nslots; w++)
      sum += atomic_load_explicit(&m->slots[w].conns[i], memory_order_relaxed);
    if (!head)
      family_head(b, "traefik_open_connections",
                  "How many open connections exist, by entryPoint and protocol", "gauge");
    head = true;
    wh_strbuf_puts(b, "traefik_open_connections{entrypoint=\"");
    wh_metrics_label_value(b, m->stat->entry_points.keys[i]);
    wh_strbuf_printf(b, "\",protocol=\"TCP\"} %lld\n", (long long)(sum < 0 ? 0 : sum));
  }
}

void wh_metrics_store_write(wh_metrics_store *m, wh_strbuf *out) {
  if (!m || !out)
    return;
  family_head(out, "traefik_config_last_reload_success", "Last config reload success", "gauge");
  wh_strbuf_printf(out, "traefik_config_last_reload_success %lld\n",
                   (long long)atomic_load_explicit(&m->last_success, memory_order_relaxed));
  family_head(out, "traefik_config_reloads_total", "Config reloads", "counter");
  wh_strbuf_printf(out, "traefik_config_reloads_total %llu\n",
                   (unsigned long long)atomic_load(&m->reloads));
  mark_gone(m);
  if (m->ep)
    write_scope(m, out, 0);
  write_open_conns(m, out);
  if (m->rt)
    write_scope(m, out, 1);
  if (m->svc)
    write_scope(m, out, 2);
  shown_gone(m);

  family_head(out, "wharf_config_reloads_failure_total",
              "Configuration builds that failed (the previous configuration stayed in use).",
              "counter");
  wh_strbuf_printf(out, "wharf_config_reloads_failure_total %llu\n",
                   (unsigned long long)atomic_load(&m->reload_failures));
  uint64_t sets = 0, dropped = 0;
  for (int i = 0; i < m->nslots; i++) {
    pthread_mutex_lock(&m->slots[i].mu);
    sets += m->slots[i].n;
    pthread_mutex_unlock(&m->slots[i].mu);
    dropped += atomic_load_explicit(&m->slots[i].dropped, memory_order_relaxed);
  }
  family_head(out, "wharf_metrics_label_sets",
              "Label sets held by the request metrics, summed over the workers.", "gauge");
  wh_strbuf_printf(out, "wharf_metrics_label_sets %llu\n", (unsigned long long)sets);
  family_head(out, "wharf_metrics_label_sets_dropped_total",
              "Observations not counted because a worker reached its label set cap.", "counter");
  wh_strbuf_printf(out, "wharf_metrics_label_sets_dropped_total %llu\n",
                   (unsigned long long)dropped);
}
