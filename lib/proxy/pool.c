#include "lib/proxy/pool.h"

#include <stdlib.h>
#include <string.h>

typedef struct wh_pool_bucket {
  struct wh_pool_bucket *chain;
  wh_pool_entry *head; /* most recent first */
  wh_pool_entry *tail;
  size_t n;
  char key[];
} wh_pool_bucket;

static uint64_t hash_key(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return h;
}

void wh_pool_init(wh_pool *p) {
  memset(p, 0, sizeof(*p));
}

void wh_pool_free(wh_pool *p) {
  for (size_t i = 0; i < p->nslots; i++) {
    wh_pool_bucket *b = p->slots[i];
    while (b) {
      wh_pool_bucket *nx = b->chain;
      for (wh_pool_entry *e = b->head; e; e = e->next)
        e->bucket = NULL;
      free(b);
      b = nx;
    }
  }
  free(p->slots);
  memset(p, 0, sizeof(*p));
}

static wh_pool_bucket *find(const wh_pool *p, const char *key) {
  if (!p->nslots)
    return NULL;
  for (wh_pool_bucket *b = p->slots[hash_key(key) & (p->nslots - 1)]; b; b = b->chain)
    if (strcmp(b->key, key) == 0)
      return b;
  return NULL;
}

static bool grow(wh_pool *p) {
  size_t n = p->nslots ? p->nslots * 2 : 16;
  wh_pool_bucket **slots = calloc(n, sizeof(*slots));
  if (!slots)
    return false;
  for (size_t i = 0; i < p->nslots; i++) {
    wh_pool_bucket *b = p->slots[i];
    while (b) {
      wh_pool_bucket *nx = b->chain;
      size_t j = hash_key(b->key) & (n - 1);
      b->chain = slots[j];
      slots[j] = b;
      b = nx;
    }
  }
  free(p->slots);
  p->slots = slots;
  p->nslots = n;
  return true;
}

static void unlink_entry(wh_pool *p, wh_pool_entry *e) {
  wh_pool_bucket *b = e->bucket;
  if (e->prev)
    e->prev->next = e->next;
  else
    b->head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    b->tail = e->prev;
  e->prev = e->next = NULL;
  e->bucket = NULL;
  b->n--;
  p->nidle--;
}

wh_pool_entry *wh_pool_get(wh_pool *p, const char *key, uint64_t now_ms) {
  wh_pool_bucket *b = find(p, key);
  if (!b)
    return NULL;
  for (wh_pool_entry *e = b->head; e; e = e->next) {
    if (e->expires_ms > now_ms) {
      unlink_entry(p, e);
      return e;
    }
  }
  return NULL;
}

bool wh_pool_put(wh_pool *p, const char *key, wh_pool_entry *e, size_t cap, uint64_t now_ms,
                 uint64_t idle_ms) {
  if (cap == 0 || e->bucket)
    return false;
  wh_pool_bucket *b = find(p, key);
  if (!b) {
    /* Buckets stay once created: a backend's key is reused request after
     * request, and the table is per worker, so this is bounded by the
     * number of distinct backends seen. */
    if ((p->nbuckets + 1) * 4 > p->nslots * 3 && !grow(p))
      return false;
    size_t klen = strlen(key);
    b = calloc(1, sizeof(*b) + klen + 1);
    if (!b)
      return false;
    memcpy(b->key, key, klen + 1);
    size_t j = hash_key(key) & (p->nslots - 1);
    b->chain = p->slots[j];
    p->slots[j] = b;
    p->nbuckets++;
  }
  if (b->n >= cap)
    return false;
  e->bucket = b;
  e->prev = NULL;
  e->next = b->head;
  if (b->head)
    b->head->prev = e;
  else
    b->tail = e;
  b->head = e;
  b->n++;
  p->nidle++;
  e->expires_ms = idle_ms ? now_ms + idle_ms : UINT64_MAX;
  return true;
}

void wh_pool_remove(wh_pool *p, wh_pool_entry *e) {
  if (e && e->bucket)
    unlink_entry(p, e);
}

size_t wh_pool_expire(wh_pool *p, uint64_t now_ms, void (*close_fn)(wh_pool_entry *e, void *ctx),
                      void *ctx) {
  size_t n = 0;
  if (!p->nidle)
    return 0;
  for (size_t i = 0; i < p->nslots; i++) {
    for (wh_pool_bucket *b = p->slots[i]; b; b = b->chain) {
      /* Oldest entries are at the tail; deadlines are not strictly ordered
       * (idle timeouts may differ per transport), so look at all. */
      wh_pool_entry *e = b->tail;
      while (e) {
        wh_pool_entry *prev = e->prev;
        if (e->expires_ms <= now_ms) {
          unlink_entry(p, e);
          close_fn(e, ctx);
          n++;
        }
        e = prev;
      }
    }
  }
  return n;
}

size_t wh_pool_count(const wh_pool *p, const char *key) {
  const wh_pool_bucket *b = find(p, key);
  return b ? b->n : 0;
}
