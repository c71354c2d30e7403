/* Per-worker keep-alive pool of idle upstream connections, keyed by the
 * backend's "host:port". LIFO per key (the most recently used connection is
 * the warmest and the least likely to have been closed by the backend), a
 * cap per key, and an idle deadline per entry. The pool knows nothing about
 * sockets: it links wh_pool_entry records embedded in the caller's
 * connection objects, so it can be tested with fake entries. Single thread:
 * each worker owns one pool. */
#ifndef WH_PROXY_POOL_H
#define WH_PROXY_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wh_pool_bucket;

typedef struct wh_pool_entry {
  struct wh_pool_entry *prev, *next; /* within the bucket, most recent first */
  struct wh_pool_bucket *bucket;     /* NULL while not pooled */
  uint64_t expires_ms;               /* idle deadline */
} wh_pool_entry;

typedef struct wh_pool {
  struct wh_pool_bucket **slots; /* hash table, chained */
  size_t nslots;
  size_t nbuckets;
  size_t nidle; /* entries pooled, all keys */
} wh_pool;

void wh_pool_init(wh_pool *p);
/* Frees the table. Entries still pooled are unlinked, not closed: call
 * wh_pool_expire with now = UINT64_MAX first to close them. */
void wh_pool_free(wh_pool *p);

/* Pops the most recently pooled entry for key that has not expired by now_ms
 * (expired ones met on the way stay for wh_pool_expire). NULL when none. */
wh_pool_entry *wh_pool_get(wh_pool *p, const char *key, uint64_t now_ms);

/* Pools e (not pooled) under key with deadline now_ms + idle_ms. Returns false,
 * leaving e unpooled, when key already holds cap entries (the caller closes
 * it) or on OOM. cap 0 means "do not pool". */
bool wh_pool_put(wh_pool *p, const char *key, wh_pool_entry *e, size_t cap, uint64_t now_ms,
                 uint64_t idle_ms);

/* Unlinks a pooled entry (its connection closed or misbehaved). No-op when
 * e is not pooled. */
void wh_pool_remove(wh_pool *p, wh_pool_entry *e);

/* Unlinks every entry whose deadline is <= now_ms and hands each to
 * close_fn (which owns it from then on). Returns how many. */
size_t wh_pool_expire(wh_pool *p, uint64_t now_ms, void (*close_fn)(wh_pool_entry *e, void *ctx),
                      void *ctx);

/* Entries pooled under key. */
size_t wh_pool_count(const wh_pool *p, const char *key);

#endif
