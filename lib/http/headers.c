#include "lib/http/headers.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/err.h"

static bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

/* Arena blocks. Fields are appended and never freed one by one (a removed
 * field's bytes stay until the list is cleared); cleared blocks go to a small
 * per-thread cache, so a worker reuses the same few blocks for every request
 * while idle connections keep none. */
typedef struct wh_hblock {
  struct wh_hblock *next;
  size_t used, cap;
  char data[];
} wh_hblock;

#define HBLOCK_SIZE 4096
#define HBLOCK_CACHE_MAX 64

static _Thread_local wh_hblock *block_cache;
static _Thread_local size_t block_cache_n;

/* A thread's cached blocks are freed when it exits (a key destructor runs
 * for threads that set a non-NULL value). */
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_destroy(void *unused) {
  (void)unused;
  while (block_cache) {
    wh_hblock *next = block_cache->next;
    free(block_cache);
    block_cache = next;
  }
  block_cache_n = 0;
}

static void cache_key_init(void) {
  pthread_key_create(&cache_key, cache_destroy);
}

/* Frees the calling thread's cache now (the main thread never "exits" for
 * key destructors; leak checkers would see its blocks). */
void wh_headers_thread_cleanup(void) {
  cache_destroy(NULL);
}

static wh_hblock *block_new(size_t need) {
  if (need <= HBLOCK_SIZE && block_cache) {
    wh_hblock *b = block_cache;
    block_cache = b->next;
    block_cache_n--;
    b->next = NULL;
    b->used = 0;
    return b;
  }
  size_t cap = need > HBLOCK_SIZE ? need : HBLOCK_SIZE;
  wh_hblock *b = malloc(sizeof(*b) + cap);
  if (!b)
    return NULL;
  b->next = NULL;
  b->used = 0;
  b->cap = cap;
  return b;
}

static void blocks_release(wh_hblock *b) {
  while (b) {
    wh_hblock *next = b->next;
    if (b->cap == HBLOCK_SIZE && block_cache_n < HBLOCK_CACHE_MAX) {
      if (!block_cache) {
        pthread_once(&cache_once, cache_key_init);
        pthread_setspecific(cache_key, (void *)1);
      }
      b->next = block_cache;
      block_cache = b;
      block_cache_n++;
    } else {
      free(b);
    }
    b = next;
  }
}

static char *dup_n(wh_headers *h, const char *s, size_t n) {
  wh_hblock *b = h->cur;
  if (!b || b->cap - b->used < n + 1) {
    wh_hblock *nb = block_new(n + 1);
    if (!nb)
      return NULL;
    if (b)
      b->next = nb;
    else
      h->first = nb;
    h->cur = b = nb;
  }
  char *p = b->data + b->used;
  if (n)
    memcpy(p, s, n);
  p[n] = '\0';
  b->used += n + 1;
  return p;
}

/* Compares a stored name with a NUL-terminated one without strlen on every
 * field: most fields differ in length and are rejected at once. */
static bool name_eq(const wh_header *f, const char *name, size_t nlen) {
  return f->name_len == nlen && strncasecmp(f->name, name, nlen) == 0;
}

void wh_headers_init(wh_headers *h) {
  h->v = NULL;
  h->n = h->cap = 0;
  h->first = h->cur = NULL;
}

void wh_headers_clear(wh_headers *h) {
  blocks_release(h->first);
  h->first = h->cur = NULL;
  h->n = 0;
}

void wh_headers_free(wh_headers *h) {
  wh_headers_clear(h);
  free(h->v);
  wh_headers_init(h);
}

static int reserve_one(wh_headers *h) {
  if (h->n < h->cap)
    return WH_OK;
  size_t cap = h->cap ? h->cap * 2 : 16;
  if (cap < h->cap || cap > SIZE_MAX / sizeof(wh_header))
    return WH_ENOMEM;
  wh_header *v = realloc(h->v, cap * sizeof(wh_header));
  if (!v)
    return WH_ENOMEM;
  h->v = v;
  h->cap = cap;
  return WH_OK;
}

int wh_headers_add(wh_headers *h, const char *name, size_t nlen, const char *value, size_t vlen) {
  if (!name)
    return WH_EINVAL;
  if (!value)
    value = "", vlen = 0;
  while (vlen && is_ows(*value))
    value++, vlen--;
  while (vlen && is_ows(value[vlen - 1]))
    vlen--;
  if (reserve_one(h) != WH_OK)
    return WH_ENOMEM;
  char *n = dup_n(h, name, nlen);
  char *v = n ? dup_n(h, value, vlen) : NULL;
  if (!n || !v)
    return WH_ENOMEM;
  h->v[h->n++] = (wh_header){.name = n, .value = v, .name_len = nlen, .value_len = vlen};
  return WH_OK;
}

int wh_headers_add_cstr(wh_headers *h, const char *name, const char *value) {
  if (!name)
    return WH_EINVAL;
  return wh_headers_add(h, name, strlen(name), value, value ? strlen(value) : 0);
}

/* Removes matching fields at index >= from, keeping the others in order. */
static size_t remove_from(wh_headers *h, size_t from, const char *name, size_t nlen) {
  size_t out = from, removed = 0;
  for (size_t i = from; i < h->n; i++) {
    if (name_eq(&h->v[i], name, nlen)) {
      removed++;
      continue;
    }
    h->v[out++] = h->v[i];
  }
  h->n = out;
  return removed;
}

int wh_headers_set(wh_headers *h, const char *name, const char *value) {
  if (!name)
    return WH_EINVAL;
  size_t nlen = strlen(name);
  size_t i = 0;
  while (i < h->n && !name_eq(&h->v[i], name, nlen))
    i++;
  if (i == h->n)
    return wh_headers_add_cstr(h, name, value);

  /* Replace in place so the field keeps the position of its first
   * occurrence; allocate before touching anything so OOM leaves h as it was. */
  if (!value)
    value = "";
  size_t vlen = strlen(value);
  while (vlen && is_ows(*value))
    value++, vlen--;
  while (vlen && is_ows(value[vlen - 1]))
    vlen--;
  char *n = dup_n(h, name, nlen);
  char *v = n ? dup_n(h, value, vlen) : NULL;
  if (!n || !v)
    return WH_ENOMEM;
  h->v[i] = (wh_header){.name = n, .value = v, .name_len = nlen, .value_len = vlen};
  remove_from(h, i + 1, name, nlen);
  return WH_OK;
}

size_t wh_headers_remove(wh_headers *h, const char *name) {
  if (!name)
    return 0;
  return remove_from(h, 0, name, strlen(name));
}

const char *wh_headers_get(const wh_headers *h, const char *name) {
  if (!name)
    return NULL;
  size_t nlen = strlen(name);
  for (size_t i = 0; i < h->n; i++)
    if (name_eq(&h->v[i], name, nlen))
      return h->v[i].value;
  return NULL;
}

size_t wh_headers_count(const wh_headers *h, const char *name) {
  if (!name)
    return 0;
  size_t nlen = strlen(name), c = 0;
  for (size_t i = 0; i < h->n; i++)
    c += name_eq(&h->v[i], name, nlen);
  return c;
}

bool wh_header_value_has_token(const char *value, size_t vlen, const char *token, size_t tlen) {
  if (!value || !token || tlen == 0)
    return false;
  const char *p = value, *end = value + vlen;
  while (p < end) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *e = comma ? comma : end;
    const char *s = p;
    while (s < e && is_ows(*s))
      s++;
    const char *t = e;
    while (t > s && is_ows(t[-1]))
      t--;
    if ((size_t)(t - s) == tlen && strncasecmp(s, token, tlen) == 0)
      return true;
    p = comma ? comma + 1 : end;
  }
  return false;
}

bool wh_headers_has_token(const wh_headers *h, const char *name, const char *token) {
  if (!name || !token || !*token)
    return false;
  size_t nlen = strlen(name), tlen = strlen(token);
  for (size_t i = 0; i < h->n; i++)
    if (name_eq(&h->v[i], name, nlen) &&
        wh_header_value_has_token(h->v[i].value, h->v[i].value_len, token, tlen))
      return true;
  return false;
}
