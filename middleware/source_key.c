#include "middleware/source_key.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "lib/core/err.h"
#include "lib/http/forwarded.h"

/* ---- which source ---- */

int wh_mw_source_spec_init(wh_mw_source_spec *s, const wh_mw_source_criterion *c,
                           const char **bad) {
  memset(s, 0, sizeof(*s));
  if (bad)
    *bad = NULL;
  if (!c)
    return 0;
  /* Same precedence as Traefik's IPStrategy.Get(): depth wins over
   * excludedIPs; ipv6Subnet applies to depth and the remote address only. */
  if (c->ip_strategy) {
    const wh_mw_ip_strategy *st = c->ip_strategy;
    int subnet = st->ipv6_subnet_set ? (int)st->ipv6_subnet : 0;
    if (st->depth > 0) {
      s->kind = WH_MW_SRC_DEPTH;
      s->depth = st->depth;
      s->ipv6_subnet = subnet;
    } else if (st->excluded_ips.n > 0) {
      const char *b = NULL;
      s->exclude = wh_ipset_parse(st->excluded_ips.v, st->excluded_ips.n, &b);
      if (!s->exclude) {
        if (bad)
          *bad = b;
        return b ? WH_EINVAL : WH_ENOMEM;
      }
      s->kind = WH_MW_SRC_POOL;
    } else {
      s->kind = WH_MW_SRC_REMOTE;
      s->ipv6_subnet = subnet;
    }
  } else if (c->request_header_name && *c->request_header_name) {
    if (!(s->header = strdup(c->request_header_name)))
      return WH_ENOMEM;
    s->kind = WH_MW_SRC_HEADER;
  } else if (c->request_host) {
    s->kind = WH_MW_SRC_HOST;
  }
  return 0;
}

void wh_mw_source_spec_free(wh_mw_source_spec *s) {
  wh_ipset_free(s->exclude);
  free(s->header);
  memset(s, 0, sizeof(*s));
}

/* Appends ip, reduced to the first address of its /subnet when it is an IPv6
 * address (Go: netip.Addr.Prefix; anything unparsable is kept as is). */
static int put_ip(wh_strbuf *out, const char *ip, size_t len, int subnet) {
  if (subnet > 0 && subnet <= 128 && len < INET6_ADDRSTRLEN && memchr(ip, ':', len)) {
    char buf[INET6_ADDRSTRLEN];
    memcpy(buf, ip, len);
    buf[len] = '\0';
    char *pct = strchr(buf, '%'); /* the prefix drops the zone */
    if (pct)
      *pct = '\0';
    struct in6_addr a;
    if (inet_pton(AF_INET6, buf, &a) == 1) {
      for (int i = 0; i < 16; i++) {
        int keep = subnet - i * 8;
        a.s6_addr[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
      }
      if (inet_ntop(AF_INET6, &a, buf, sizeof buf))
        return wh_strbuf_puts(out, buf);
    }
  }
  return wh_strbuf_append(out, ip, len);
}

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* The item [b, e) of a comma list, trimmed of white space. */
static void trim(const char **b, const char **e) {
  while (*b < *e && is_space(**b))
    (*b)++;
  while (*e > *b && is_space((*e)[-1]))
    (*e)--;
}

static const char *host_of(const wh_mw_exchange *x) {
  /* A headers middleware may have rewritten Host for the next handler. */
  for (size_t i = 0; i < x->set_headers.n; i++)
    if (strcasecmp(x->set_headers.keys[i], "Host") == 0 && x->set_headers.vals[i])
      return x->set_headers.vals[i];
  return x->req->host;
}

/* X-Forwarded-For as Traefik's middlewares see it: the entry point has
 * already deleted it for a peer outside forwardedHeaders.trustedIPs and
 * joined a trusted peer's several lines with ", " (forwardedheaders
 * rewrite). wharf's data plane does that only after the middlewares, so it
 * is done here; a value a middleware set (customRequestHeaders) wins. The
 * joined text goes to tmp when there are several lines. */
const char *wh_mw_xff_view(const wh_mw_exchange *x, wh_strbuf *tmp, bool *oom) {
  for (size_t i = 0; i < x->set_headers.n; i++)
    if (strcasecmp(x->set_headers.keys[i], "X-Forwarded-For") == 0)
      return x->set_headers.vals[i] ? x->set_headers.vals[i] : "";
  if (!x->fwd_trusted)
    return ""; /* HARDENING 19: an untrusted client's header says nothing */
  const char *first = NULL;
  size_t lines = 0;
  for (size_t i = 0; i < x->req->nheaders; i++) {
    if (strcasecmp(x->req->hdr_names[i], "X-Forwarded-For") != 0)
      continue;
    if (lines++ == 0) {
      first = x->req->hdr_values[i];
      continue;
    }
    if ((lines == 2 && wh_strbuf_puts(tmp, first) < 0) || wh_strbuf_puts(tmp, ", ") < 0 ||
        wh_strbuf_puts(tmp, x->req->hdr_values[i]) < 0) {
      *oom = true;
      return "";
    }
  }
  if (lines > 1)
    return wh_strbuf_cstr(tmp);
  return first ? first : "";
}

static int source_xff(const wh_mw_source_spec *s, const char *xff, wh_strbuf *out);

int wh_mw_source_get(const wh_mw_source_spec *s, const wh_mw_exchange *x, wh_strbuf *out) {
  if (s->kind == WH_MW_SRC_DEPTH || s->kind == WH_MW_SRC_POOL) {
    wh_strbuf tmp = {0};
    bool oom = false;
    const char *xff = wh_mw_xff_view(x, &tmp, &oom);
    int rc = oom ? WH_ENOMEM : source_xff(s, xff, out);
    wh_strbuf_free(&tmp);
    return rc;
  }
  /* wh_strbuf_append(out, "", 0) still allocates, so that an empty source
   * is a valid empty string rather than a NULL buffer. */
  switch (s->kind) {
  case WH_MW_SRC_REMOTE: {
    char ip[INET6_ADDRSTRLEN];
    wh_addr_ip_string((const struct sockaddr *)&x->req->peer, ip, sizeof ip);
    return put_ip(out, ip, strlen(ip), s->ipv6_subnet);
  }
  case WH_MW_SRC_DEPTH:
  case WH_MW_SRC_POOL:
    break; /* handled above */
  case WH_MW_SRC_HEADER: {
    const char *v = wh_mw_exchange_header(x, s->header);
    return wh_strbuf_puts(out, v ? v : "");
  }
  case WH_MW_SRC_HOST: {
    const char *h = host_of(x);
    return wh_strbuf_puts(out, h ? h : "");
  }
  }
  return WH_EINVAL;
}

/* Traefik's DepthStrategy and PoolStrategy over the X-Forwarded-For text. */
static int source_xff(const wh_mw_source_spec *s, const char *xff, wh_strbuf *out) {
  if (s->kind == WH_MW_SRC_DEPTH) {
    int64_t n = 1;
    for (const char *p = xff; *p; p++)
      n += *p == ',';
    if (n < s->depth)
      return wh_strbuf_append(out, "", 0);
    int64_t want = n - s->depth, i = 0;
    const char *b = xff;
    while (i < want) {
      if (*b++ == ',')
        i++;
    }
    const char *e = strchr(b, ',');
    if (!e)
      e = b + strlen(b);
    trim(&b, &e);
    return put_ip(out, b, (size_t)(e - b), s->ipv6_subnet);
  }
  /* the rightmost entry outside the pool */
  for (const char *end = xff + strlen(xff);;) {
    const char *b = end;
    while (b > xff && b[-1] != ',')
      b--;
    const char *ib = b, *ie = end;
    trim(&ib, &ie);
    if (ie > ib) {
      char ip[INET6_ADDRSTRLEN + 64];
      size_t len = (size_t)(ie - ib);
      bool excluded = false;
      if (len < sizeof ip) {
        memcpy(ip, ib, len);
        ip[len] = '\0';
        excluded = wh_ipset_contains_str(s->exclude, ip);
      }
      if (!excluded)
        return wh_strbuf_append(out, ib, len);
    }
    if (b == xff)
      break;
    end = b - 1;
  }
  return wh_strbuf_append(out, "", 0);
}

/* ---- fingerprints and hashing ---- */

uint64_t wh_mw_fp_bytes(uint64_t fp, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    fp ^= b[i];
    fp *= 0x100000001b3ULL;
  }
  return fp;
}

uint64_t wh_mw_fp_i64(uint64_t fp, int64_t v) {
  return wh_mw_fp_bytes(fp, &v, sizeof v);
}

uint64_t wh_mw_fp_str(uint64_t fp, const char *s) {
  if (!s)
    return wh_mw_fp_i64(fp, -1);
  size_t n = strlen(s);
  fp = wh_mw_fp_i64(fp, (int64_t)n);
  return wh_mw_fp_bytes(fp, s, n);
}

uint64_t wh_mw_source_fp(uint64_t fp, const wh_mw_source_criterion *c) {
  if (!c)
    return wh_mw_fp_i64(fp, 0);
  fp = wh_mw_fp_i64(fp, 1);
  const wh_mw_ip_strategy *st = c->ip_strategy;
  fp = wh_mw_fp_i64(fp, st != NULL);
  if (st) {
    fp = wh_mw_fp_i64(fp, st->depth);
    fp = wh_mw_fp_i64(fp, st->ipv6_subnet_set ? st->ipv6_subnet : -1);
    fp = wh_mw_fp_i64(fp, (int64_t)st->excluded_ips.n);
    for (size_t i = 0; i < st->excluded_ips.n; i++)
      fp = wh_mw_fp_str(fp, st->excluded_ips.v[i]);
  }
  fp = wh_mw_fp_str(fp, c->request_header_name);
  return wh_mw_fp_i64(fp, c->request_host);
}

static uint64_t sip_k0, sip_k1;
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

static void sip_init(void) {
  uint64_t k[2];
  if (getrandom(k, sizeof k, 0) != (ssize_t)sizeof k) {
    /* No entropy source: still better than a fixed key. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)&ts;
    k[1] = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&sip_k0;
  }
  sip_k0 = k[0];
  sip_k1 = k[1];
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
  do {                                                                                             \
    v0 += v1;                                                                                      \
    v1 = ROTL(v1, 13);                                                                             \
    v1 ^= v0;                                                                                      \
    v0 = ROTL(v0, 32);                                                                             \
    v2 += v3;                                                                                      \
    v3 = ROTL(v3, 16);                                                                             \
    v3 ^= v2;                                                                                      \
    v0 += v3;                                                                                      \
    v3 = ROTL(v3, 21);                                                                             \
    v3 ^= v0;                                                                                      \
    v2 += v1;                                                                                      \
    v1 = ROTL(v1, 17);                                                                             \
    v1 ^= v2;                                                                                      \
    v2 = ROTL(v2, 32);                                                                             \
  } while (0)

/* SipHash-1-3 */
uint64_t wh_mw_hash(const void *p, size_t n) {
  pthread_once(&sip_once, sip_init);
  const unsigned char *in = p;
  uint64_t v0 = 0x736f6d6570736575ULL ^ sip_k0, v1 = 0x646f72616e646f6dULL ^ sip_k1;
  uint64_t v2 = 0x6c7967656e657261ULL ^ sip_k0, v3 = 0x7465646279746573ULL ^ sip_k1;
  size_t left = n;
  for (; left >= 8; in += 8, left -= 8) {
    uint64_t m;
    memcpy(&m, in, 8);
    v3 ^= m;
    SIPROUND;
    v0 ^= m;
  }
  uint64_t b = (uint64_t)n << 56;
  for (size_t i = 0; i < left; i++)
    b |= (uint64_t)in[i] << (8 * i);
  v3 ^= b;
  SIPROUND;
  v0 ^= b;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- clock ---- */

typedef int64_t (*clock_fn)(void);
static _Atomic(clock_fn) test_clock;

int64_t wh_mw_clock_ns(void) {
  clock_fn f = atomic_load_explicit(&test_clock, memory_order_relaxed);
  if (f)
    return f();
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void wh_mw_clock_set(int64_t (*now_ns)(void)) {
  atomic_store(&test_clock, now_ns);
}

/* ---- keyed hash table ---- */

wh_mw_keynode *wh_mw_keytab_find(const wh_mw_keytab *t, const char *key, uint64_t hash) {
  if (!t->nheads)
    return NULL;
  for (wh_mw_keynode *n = t->heads[hash & (t->nheads - 1)]; n; n = n->hnext)
    if (n->hash == hash && strcmp(n->key, key) == 0)
      return n;
  return NULL;
}

int wh_mw_keytab_insert(wh_mw_keytab *t, wh_mw_keynode *n) {
  if (t->n >= t->nheads) {
    size_t nh = t->nheads ? t->nheads * 2 : 16;
    wh_mw_keynode **h = calloc(nh, sizeof(*h));
    if (!h)
      return WH_ENOMEM;
    for (size_t i = 0; i < t->nheads; i++) {
      for (wh_mw_keynode *c = t->heads[i], *next; c; c = next) {
        next = c->hnext;
        c->hnext = h[c->hash & (nh - 1)];
        h[c->hash & (nh - 1)] = c;
      }
    }
    free(t->heads);
    t->heads = h;
    t->nheads = nh;
  }
  wh_mw_keynode **head = &t->heads[n->hash & (t->nheads - 1)];
  n->hnext = *head;
  *head = n;
  t->n++;
  return 0;
}

void wh_mw_keytab_remove(wh_mw_keytab *t, wh_mw_keynode *n) {
  if (!t->nheads)
    return;
  for (wh_mw_keynode **p = &t->heads[n->hash & (t->nheads - 1)]; *p; p = &(*p)->hnext) {
    if (*p == n) {
      *p = n->hnext;
      n->hnext = NULL;
      t->n--;
      return;
    }
  }
}

void wh_mw_keytab_free(wh_mw_keytab *t) {
  free(t->heads);
  memset(t, 0, sizeof(*t));
}

/* ---- registry ---- */

/* Lookups (every request) share the read lock; only creating a state and the
 * sweep take the write lock. */
static pthread_rwlock_t reg_lock = PTHREAD_RWLOCK_INITIALIZER;
static wh_mw_state **reg_heads;
static size_t reg_nheads, reg_n;
static _Atomic int64_t reg_last_sweep;

#define REG_SWEEP_EVERY_NS (5LL * 1000000000LL)

static uint64_t reg_hash(const wh_mw_state_ops *ops, const char *name, uint64_t fp) {
  uint64_t h = wh_mw_hash(name, strlen(name));
  return h ^ (fp * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)(uintptr_t)ops;
}

static wh_mw_state *reg_find(const wh_mw_state_ops *ops, const char *name, uint64_t fp,
                             uint64_t h) {
  if (!reg_nheads)
    return NULL;
  for (wh_mw_state *s = reg_heads[h & (reg_nheads - 1)]; s; s = s->next)
    if (s->ops == ops && s->fp == fp && strcmp(s->name, name) == 0)
      return s;
  return NULL;
}

static void state_destroy(wh_mw_state *st) {
  char *name = st->name;
  st->ops->destroy(st);
  free(name);
}

static void sweep_locked(int64_t now) {
  for (size_t i = 0; i < reg_nheads; i++) {
    for (wh_mw_state **p = &reg_heads[i]; *p;) {
      wh_mw_state *s = *p;
      int64_t idle = now - atomic_load(&s->last_used);
      if (atomic_load(&s->refs) == 0 && idle > s->ops->keep_ns(s)) {
        *p = s->next;
        reg_n--;
        state_destroy(s);
      } else {
        p = &s->next;
      }
    }
  }
}

void wh_mw_state_sweep(void) {
  int64_t now = wh_mw_clock_ns();
  pthread_rwlock_wrlock(&reg_lock);
  sweep_locked(now);
  pthread_rwlock_unlock(&reg_lock);
  atomic_store(&reg_last_sweep, now);
}

static int reg_grow_locked(void) {
  size_t nh = reg_nheads ? reg_nheads * 2 : 64;
  wh_mw_state **h = calloc(nh, sizeof(*h));
  if (!h)
    return WH_ENOMEM;
  for (size_t i = 0; i < reg_nheads; i++) {
    for (wh_mw_state *s = reg_heads[i], *next; s; s = next) {
      next = s->next;
      uint64_t hh = reg_hash(s->ops, s->name, s->fp);
      s->next = h[hh & (nh - 1)];
      h[hh & (nh - 1)] = s;
    }
  }
  free(reg_heads);
  reg_heads = h;
  reg_nheads = nh;
  return 0;
}

wh_mw_state *wh_mw_state_get(const wh_mw_state_ops *ops, const char *name, uint64_t fp,
                             wh_mw_state_create_fn create, const void *ctx) {
  int64_t now = wh_mw_clock_ns();
  int64_t last = atomic_load(&reg_last_sweep);
  if (now - last >= REG_SWEEP_EVERY_NS &&
      atomic_compare_exchange_strong(&reg_last_sweep, &last, now))
    wh_mw_state_sweep();
  uint64_t h = reg_hash(ops, name, fp);
  pthread_rwlock_rdlock(&reg_lock);
  wh_mw_state *s = reg_find(ops, name, fp, h);
  if (s) {
    /* Under the read lock, so that a sweep cannot free it in between. */
    atomic_fetch_add(&s->refs, 1);
    atomic_store(&s->last_used, now);
  }
  pthread_rwlock_unlock(&reg_lock);
  if (s)
    return s;

  /* Built outside the lock: creation parses options. */
  wh_mw_state *fresh = create(ctx);
  if (!fresh)
    return NULL;
  fresh->name = strdup(name);
  if (!fresh->name) {
    fresh->ops->destroy(fresh);
    return NULL;
  }
  fresh->fp = fp;
  atomic_init(&fresh->refs, 1);
  atomic_init(&fresh->last_used, now);
  fresh->next = NULL;
  pthread_rwlock_wrlock(&reg_lock);
  s = reg_find(ops, name, fp, h);
  if (s) {
    /* Another worker created it meanwhile: use theirs. */
    atomic_fetch_add(&s->refs, 1);
    atomic_store(&s->last_used, now);
  } else if (reg_n >= reg_nheads && reg_grow_locked() < 0) {
    s = NULL;
  } else {
    wh_mw_state **head = &reg_heads[h & (reg_nheads - 1)];
    fresh->next = *head;
    *head = fresh;
    reg_n++;
    s = fresh;
    fresh = NULL;
  }
  pthread_rwlock_unlock(&reg_lock);
  if (fresh)
    state_destroy(fresh);
  return s;
}

void wh_mw_state_put(wh_mw_state *st) {
  if (!st)
    return;
  /* last_used is refreshed on release too: a long request keeps its state. */
  atomic_store(&st->last_used, wh_mw_clock_ns());
  atomic_fetch_sub(&st->refs, 1);
}
