#include "lib/lb/lb.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/lb/health_store.h"
#include "lib/lb/sticky.h"
#include "lib/lb/wrr.h"

/* One WRR state per worker, padded so that workers do not share cache lines. */
typedef struct wrr_slot {
  wh_lb_wrr w;
  char pad[64];
} wrr_slot;

struct wh_lb {
  char *service;
  wh_lb_server *servers; /* shuffled at build */
  wh_health_cell **cells;
  double *inv_weight;
  size_t n;
  int nworkers;
  wrr_slot *slots; /* nworkers + 1: the last one is shared, behind shared_mu */
  pthread_mutex_t shared_mu;
  wh_health_store *store; /* a reference */
  /* sticky */
  char *cookie_name;
  wh_cookie cookie; /* borrowed strings copied: path, domain, same_site */
  char (*legacy)[17];
  /* passive */
  bool passive;
  int64_t max_failed;
  int64_t window_ms;
};

static int64_t default_clock(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t (*lb_clock)(void) = default_clock;

void wh_lb_set_clock(int64_t (*now_ms)(void)) {
  lb_clock = now_ms ? now_ms : default_clock;
}

/* scheme://host[:port][/path][?query]; the configuration layer validated
 * the syntax already, this only splits it. */
static int parse_url(wh_lb_server *s, const char *url) {
  s->url = wh_strdup(url);
  if (!s->url)
    return WH_ENOMEM;
  const char *sep = strstr(url, "://");
  if (!sep || sep == url)
    return WH_EINVAL;
  s->scheme = wh_strndup(url, (size_t)(sep - url));
  if (!s->scheme)
    return WH_ENOMEM;
  wh_str_lower(s->scheme);
  int dport;
  if (strcmp(s->scheme, "http") == 0 || strcmp(s->scheme, "h2c") == 0)
    dport = 80;
  else if (strcmp(s->scheme, "https") == 0)
    dport = 443;
  else
    return WH_EINVAL;
  const char *auth = sep + 3;
  size_t alen = strcspn(auth, "/?#");
  if (alen == 0)
    return WH_EINVAL;
  const char *host = auth, *port = NULL;
  size_t hl;
  bool v6 = false;
  if (*auth == '[') {
    const char *rb = memchr(auth, ']', alen);
    if (!rb || rb == auth + 1)
      return WH_EINVAL;
    host = auth + 1;
    hl = (size_t)(rb - host);
    v6 = true;
    if (rb + 1 < auth + alen) {
      if (rb[1] != ':')
        return WH_EINVAL;
      port = rb + 2;
    }
  } else {
    const char *colon = memchr(auth, ':', alen);
    hl = colon ? (size_t)(colon - auth) : alen;
    if (hl == 0)
      return WH_EINVAL;
    if (colon)
      port = colon + 1;
  }
  s->port = dport;
  if (port) {
    size_t pl = (size_t)(auth + alen - port);
    long v = 0;
    if (pl == 0 || pl > 5)
      return WH_EINVAL;
    for (size_t i = 0; i < pl; i++) {
      if (port[i] < '0' || port[i] > '9')
        return WH_EINVAL;
      v = v * 10 + (port[i] - '0');
    }
    if (v < 1 || v > 65535)
      return WH_EINVAL;
    s->port = (int)v;
  }
  s->host = wh_strndup(host, hl);
  if (!s->host)
    return WH_ENOMEM;
  s->hostport =
      v6 ? wh_asprintf("[%s]:%d", s->host, s->port) : wh_asprintf("%s:%d", s->host, s->port);
  const char *rest = auth + alen;
  s->path = *rest == '/' ? wh_strndup(rest, strcspn(rest, "?#")) : wh_strdup("");
  if (s->hostport && strcmp(s->scheme, "https") != 0)
    s->pool_key = wh_strdup(s->hostport);
  return s->hostport && s->path && (s->pool_key || strcmp(s->scheme, "https") == 0) ? 0 : WH_ENOMEM;
}

int wh_lb_server_parse(wh_lb_server *s, const char *url) {
  memset(s, 0, sizeof(*s));
  return url ? parse_url(s, url) : WH_EINVAL;
}

static void free_server(wh_lb_server *s) {
  free(s->url);
  free(s->scheme);
  free(s->host);
  free(s->hostport);
  free(s->path);
  free(s->pool_key);
  free(s->cookie_value);
}

void wh_lb_server_clear(wh_lb_server *s) {
  if (s)
    free_server(s);
}

void wh_lb_free(wh_lb *lb) {
  if (!lb)
    return;
  for (size_t i = 0; i < lb->n; i++) {
    free_server(&lb->servers[i]);
    if (lb->cells)
      wh_health_store_release(lb->store, lb->cells[i]);
  }
  if (lb->slots) {
    for (int i = 0; i <= lb->nworkers; i++)
      wh_lb_wrr_free(&lb->slots[i].w);
    pthread_mutex_destroy(&lb->shared_mu);
  }
  free(lb->slots);
  free(lb->servers);
  free(lb->cells);
  free(lb->inv_weight);
  free(lb->legacy);
  free(lb->cookie_name);
  free(lb->cookie.path);
  free(lb->cookie.domain);
  free(lb->cookie.same_site);
  wh_health_store_free(lb->store);
  free(lb->service);
  free(lb);
}

/* splitmix64: a seed per balancer is enough; the shuffle only has to spread
 * the first picks of many proxies over different servers. */
static uint64_t next_rand(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void shuffle(wh_lb_server *v, size_t n) {
  static _Atomic uint64_t counter;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                  atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed) * 7919u;
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)(next_rand(&seed) % i);
    wh_lb_server t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}

wh_lb *wh_lb_new(const char *service, const wh_lb_service *cfg, int nworkers,
                 wh_health_store *store, wh_errlist *errs) {
  wh_lb *lb = calloc(1, sizeof(*lb));
  if (!lb)
    return NULL;
  lb->service = wh_strdup(service ? service : "");
  lb->nworkers = nworkers > 0 ? nworkers : 1;
  /* Without a shared store the balancer keeps private cells (tests, tools). */
  lb->store = store ? wh_health_store_ref(store) : wh_health_store_new();
  size_t cap = cfg ? cfg->servers.n : 0;
  lb->servers = calloc(cap ? cap : 1, sizeof(*lb->servers));
  if (!lb->service || !lb->store || !lb->servers)
    goto oom;
  const wh_server *sv = cfg ? cfg->servers.items : NULL;
  for (size_t i = 0; i < cap; i++) {
    int64_t w = sv[i].weight_set ? sv[i].weight : 1;
    if (w <= 0)
      continue; /* Traefik leaves weight-0 servers out of the balancer */
    if (!sv[i].url || !*sv[i].url) {
      wh_errlist_add(errs, "service %s: server %zu has no url", lb->service, i);
      goto fail;
    }
    wh_lb_server *s = &lb->servers[lb->n++];
    s->weight = w > 1000000 ? 1000000 : (int)w;
    int rc = parse_url(s, sv[i].url);
    if (rc == WH_ENOMEM)
      goto oom;
    if (rc) {
      wh_errlist_add(errs, "service %s: invalid server URL \"%s\"", lb->service, sv[i].url);
      goto fail;
    }
  }
  shuffle(lb->servers, lb->n);
  lb->cells = calloc(lb->n ? lb->n : 1, sizeof(*lb->cells));
  lb->inv_weight = calloc(lb->n ? lb->n : 1, sizeof(*lb->inv_weight));
  lb->legacy = calloc(lb->n ? lb->n : 1, sizeof(*lb->legacy));
  if (!lb->cells || !lb->inv_weight || !lb->legacy)
    goto oom;
  for (size_t i = 0; i < lb->n; i++) {
    lb->cells[i] = wh_health_store_acquire(lb->store, lb->service, lb->servers[i].url);
    if (!lb->cells[i])
      goto oom;
    lb->servers[i].up = &lb->cells[i]->up;
    lb->inv_weight[i] = 1.0 / (double)lb->servers[i].weight;
    wh_lb_sticky_legacy_value(lb->servers[i].url, lb->legacy[i]);
  }
  lb->slots = calloc((size_t)lb->nworkers + 1, sizeof(*lb->slots));
  if (!lb->slots)
    goto oom;
  pthread_mutex_init(&lb->shared_mu, NULL);
  for (int i = 0; i <= lb->nworkers; i++)
    if (wh_lb_wrr_init(&lb->slots[i].w, lb->inv_weight, lb->n) != 0)
      goto oom;
  if (cfg && cfg->sticky && cfg->sticky->cookie) {
    /* sha256 values only for sticky balancers: hashing pulls in OpenSSL's
     * digest tables, megabytes a plain balancer does not need resident. */
    for (size_t i = 0; i < lb->n; i++) {
      lb->servers[i].cookie_value = malloc(17);
      if (!lb->servers[i].cookie_value)
        goto oom;
      wh_lb_sticky_value(lb->servers[i].url, lb->servers[i].cookie_value);
    }
    const wh_cookie *c = cfg->sticky->cookie;
    lb->cookie_name = wh_lb_sticky_name(c->name, lb->service);
    lb->cookie = *c;
    lb->cookie.name = NULL;
    lb->cookie.path = wh_strdup(c->path);
    lb->cookie.domain = wh_strdup(c->domain);
    lb->cookie.same_site = wh_strdup(c->same_site);
    if (!lb->cookie_name || (c->path && !lb->cookie.path) || (c->domain && !lb->cookie.domain) ||
        (c->same_site && !lb->cookie.same_site))
      goto oom;
  }
  if (cfg && cfg->passive_health_check) {
    const wh_passive_health_check *p = cfg->passive_health_check;
    lb->passive = true;
    lb->max_failed = p->max_failed_attempts > 0 ? p->max_failed_attempts : 1;
    lb->window_ms = p->failure_window > 0 ? p->failure_window / WH_MS : 10000;
    if (lb->window_ms <= 0)
      lb->window_ms = 1;
  }
  return lb;
oom:
  wh_errlist_add(errs, "service %s: out of memory", service ? service : "");
fail:
  wh_lb_free(lb);
  return NULL;
}

size_t wh_lb_nservers(const wh_lb *lb) {
  return lb ? lb->n : 0;
}

const wh_lb_server *wh_lb_server_at(const wh_lb *lb, size_t i) {
  return lb && i < lb->n ? &lb->servers[i] : NULL;
}

const char *wh_lb_cookie_name(const wh_lb *lb) {
  return lb ? lb->cookie_name : NULL;
}

bool wh_lb_server_up(const wh_lb_server *s) {
  return s && s->up && atomic_load_explicit(s->up, memory_order_relaxed) != 0;
}

typedef struct avail_ctx {
  const wh_lb *lb;
  int64_t now; /* -1 until needed */
} avail_ctx;

static bool available(void *arg, size_t i) {
  avail_ctx *a = arg;
  const wh_health_cell *c = a->lb->cells[i];
  if (!atomic_load_explicit(&c->up, memory_order_relaxed))
    return false;
  if (!a->lb->passive)
    return true;
  int64_t until = atomic_load_explicit(&c->fenced_until_ms, memory_order_relaxed);
  if (until == 0)
    return true;
  if (a->now < 0)
    a->now = lb_clock();
  return a->now >= until;
}

bool wh_lb_server_available(const wh_lb *lb, const wh_lb_server *s) {
  if (!lb || !s || s < lb->servers || s >= lb->servers + lb->n)
    return false;
  avail_ctx a = {lb, -1};
  return available(&a, (size_t)(s - lb->servers));
}

static long wrr_pick(wh_lb *lb, int worker, avail_ctx *a) {
  if (worker >= 0 && worker < lb->nworkers)
    return wh_lb_wrr_next(&lb->slots[worker].w, lb->inv_weight, available, a);
  pthread_mutex_lock(&lb->shared_mu);
  long i = wh_lb_wrr_next(&lb->slots[lb->nworkers].w, lb->inv_weight, available, a);
  pthread_mutex_unlock(&lb->shared_mu);
  return i;
}

const wh_lb_server *wh_lb_pick(wh_lb *lb, int worker, const char *cookie_header,
                               char **set_cookie) {
  if (set_cookie)
    *set_cookie = NULL;
  if (!lb || lb->n == 0)
    return NULL;
  avail_ctx a = {lb, -1};
  if (lb->cookie_name && cookie_header) {
    size_t vl = 0;
    const char *v = wh_lb_cookie_get(cookie_header, lb->cookie_name, &vl);
    for (size_t i = 0; v && i < lb->n; i++) {
      bool current = vl == 16 && memcmp(v, lb->servers[i].cookie_value, 16) == 0;
      bool legacy = !current && vl == strlen(lb->legacy[i]) && memcmp(v, lb->legacy[i], vl) == 0;
      if (!current && !legacy)
        continue;
      if (!available(&a, i))
        break; /* the named server is down: fall back to WRR and re-stick */
      if (legacy && set_cookie)
        *set_cookie =
            wh_lb_sticky_set_cookie(lb->cookie_name, lb->servers[i].cookie_value, &lb->cookie);
      return &lb->servers[i];
    }
  }
  long i = wrr_pick(lb, worker, &a);
  if (i < 0)
    return NULL;
  if (lb->cookie_name && set_cookie)
    *set_cookie =
        wh_lb_sticky_set_cookie(lb->cookie_name, lb->servers[i].cookie_value, &lb->cookie);
  return &lb->servers[i];
}

void wh_lb_report(wh_lb *lb, const wh_lb_server *server, bool failure) {
  if (!lb || !lb->passive || !failure || !server || server < lb->servers ||
      server >= lb->servers + lb->n)
    return;
  size_t i = (size_t)(server - lb->servers);
  wh_health_cell *c = lb->cells[i];
  int64_t now = lb_clock();
  bool fenced = false;
  pthread_mutex_lock(&c->mu);
  if (c->failures == 0 || now - c->window_start_ms >= lb->window_ms) {
    c->window_start_ms = now;
    c->failures = 0;
  }
  if (++c->failures >= lb->max_failed) {
    atomic_store_explicit(&c->fenced_until_ms, now + lb->window_ms, memory_order_relaxed);
    c->failures = 0;
    fenced = true;
  }
  pthread_mutex_unlock(&c->mu);
  if (fenced)
    wh_log_warn("service %s: server %s fenced for %lldms after %lld failed attempt(s)", lb->service,
                server->url, (long long)lb->window_ms, (long long)lb->max_failed);
}

int wh_lb_set_tls_id(wh_lb *lb, const char *id) {
  for (size_t i = 0; i < lb->n; i++) {
    wh_lb_server *s = &lb->servers[i];
    if (strcmp(s->scheme, "https") != 0)
      continue;
    free(s->pool_key);
    s->pool_key = wh_asprintf("%s@%s", id, s->hostport);
    if (!s->pool_key)
      return WH_ENOMEM;
  }
  return 0;
}
