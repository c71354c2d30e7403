#include "lib/http/headers.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/err.h"

static bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

static char *dup_n(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p)
    return NULL;
  if (n)
    memcpy(p, s, n);
  p[n] = '\0';
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
}

void wh_headers_clear(wh_headers *h) {
  for (size_t i = 0; i < h->n; i++) {
    free(h->v[i].name);
    free(h->v[i].value);
  }
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
  char *n = dup_n(name, nlen);
  char *v = dup_n(value, vlen);
  if (!n || !v) {
    free(n);
    free(v);
    return WH_ENOMEM;
  }
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
      free(h->v[i].name);
      free(h->v[i].value);
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
  char *n = dup_n(name, nlen);
  char *v = dup_n(value, vlen);
  if (!n || !v) {
    free(n);
    free(v);
    return WH_ENOMEM;
  }
  free(h->v[i].name);
  free(h->v[i].value);
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
