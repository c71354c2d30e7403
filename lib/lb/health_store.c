#include "lib/lb/health_store.h"

#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"

struct wh_health_store {
  atomic_int refs;
  pthread_mutex_t mu;
  wh_health_cell **buckets;
  size_t nbuckets, count;
};

static size_t key_hash(const char *service, const char *url) {
  /* FNV-1a over "service\0url" */
  uint64_t h = 1469598103934665603ull;
  for (const char *p = service; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  h = (h ^ 0xffu) * 1099511628211ull;
  for (const char *p = url; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return (size_t)h;
}

wh_health_store *wh_health_store_new(void) {
  wh_health_store *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  s->nbuckets = 64;
  s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
  if (!s->buckets) {
    free(s);
    return NULL;
  }
  atomic_init(&s->refs, 1);
  pthread_mutex_init(&s->mu, NULL);
  return s;
}

wh_health_store *wh_health_store_ref(wh_health_store *s) {
  if (s)
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  return s;
}

static void free_cell(wh_health_cell *c) {
  pthread_mutex_destroy(&c->mu);
  free(c->service);
  free(c->url);
  free(c);
}

/* Drops a reference; the creator's wh_health_store_free is one of them. */
void wh_health_store_free(wh_health_store *s) {
  if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
    return;
  /* Every holder released its cells before dropping its store reference, so
   * the table is normally empty here; free leftovers anyway. */
  for (size_t i = 0; i < s->nbuckets; i++) {
    wh_health_cell *c = s->buckets[i];
    while (c) {
      wh_health_cell *next = c->next;
      free_cell(c);
      c = next;
    }
  }
  pthread_mutex_destroy(&s->mu);
  free(s->buckets);
  free(s);
}

static void grow(wh_health_store *s) {
  size_t nb = s->nbuckets * 2;
  wh_health_cell **b = calloc(nb, sizeof(*b));
  if (!b)
    return; /* longer chains, still correct */
  for (size_t i = 0; i < s->nbuckets; i++) {
    wh_health_cell *c = s->buckets[i];
    while (c) {
      wh_health_cell *next = c->next;
      c->next = b[c->hash & (nb - 1)];
      b[c->hash & (nb - 1)] = c;
      c = next;
    }
  }
  free(s->buckets);
  s->buckets = b;
  s->nbuckets = nb;
}

wh_health_cell *wh_health_store_acquire(wh_health_store *s, const char *service, const char *url) {
  if (!s || !service || !url)
    return NULL;
  size_t h = key_hash(service, url);
  pthread_mutex_lock(&s->mu);
  for (wh_health_cell *c = s->buckets[h & (s->nbuckets - 1)]; c; c = c->next) {
    if (c->hash == h && strcmp(c->service, service) == 0 && strcmp(c->url, url) == 0) {
      c->refs++;
      pthread_mutex_unlock(&s->mu);
      return c;
    }
  }
  wh_health_cell *c = calloc(1, sizeof(*c));
  if (c) {
    c->service = wh_strdup(service);
    c->url = wh_strdup(url);
  }
  if (!c || !c->service || !c->url) {
    if (c) {
      free(c->service);
      free(c->url);
      free(c);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
  }
  atomic_init(&c->up, 1);
  atomic_init(&c->fenced_until_ms, 0);
  pthread_mutex_init(&c->mu, NULL);
  c->hash = h;
  c->refs = 1;
  if (s->count + 1 > s->nbuckets * 2)
    grow(s);
  c->next = s->buckets[h & (s->nbuckets - 1)];
  s->buckets[h & (s->nbuckets - 1)] = c;
  s->count++;
  pthread_mutex_unlock(&s->mu);
  return c;
}

void wh_health_store_release(wh_health_store *s, wh_health_cell *c) {
  if (!s || !c)
    return;
  pthread_mutex_lock(&s->mu);
  if (--c->refs > 0) {
    pthread_mutex_unlock(&s->mu);
    return;
  }
  wh_health_cell **pp = &s->buckets[c->hash & (s->nbuckets - 1)];
  while (*pp && *pp != c)
    pp = &(*pp)->next;
  if (*pp)
    *pp = c->next;
  s->count--;
  pthread_mutex_unlock(&s->mu);
  free_cell(c);
}

size_t wh_health_store_count(wh_health_store *s) {
  pthread_mutex_lock(&s->mu);
  size_t n = s->count;
  pthread_mutex_unlock(&s->mu);
  return n;
}
