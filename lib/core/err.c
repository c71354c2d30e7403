#include "lib/core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wh_errlist_init(wh_errlist *l) {
  memset(l, 0, sizeof(*l));
}

void wh_errlist_free(wh_errlist *l) {
  if (!l)
    return;
  for (size_t i = 0; i < l->n; i++)
    free(l->items[i]);
  free(l->items);
  memset(l, 0, sizeof(*l));
}

static void push(wh_errlist *l, char *s) {
  if (!s)
    return;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4;
    char **items = realloc(l->items, cap * sizeof(*items));
    if (!items) {
      free(s);
      return;
    }
    l->items = items;
    l->cap = cap;
  }
  l->items[l->n++] = s;
}

void wh_errlist_addv(wh_errlist *l, const char *fmt, va_list ap) {
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0)
    return;
  push(l, s);
}

void wh_errlist_add(wh_errlist *l, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  wh_errlist_addv(l, fmt, ap);
  va_end(ap);
}

void wh_errlist_extend(wh_errlist *dst, const wh_errlist *src, const char *prefix) {
  for (size_t i = 0; src && i < src->n; i++) {
    if (prefix)
      wh_errlist_add(dst, "%s%s", prefix, src->items[i]);
    else
      wh_errlist_add(dst, "%s", src->items[i]);
  }
}

void wh_errlist_copy(wh_errlist *dst, const wh_errlist *src) {
  wh_errlist_extend(dst, src, NULL);
}
