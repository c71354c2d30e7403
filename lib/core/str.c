#include "lib/core/str.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/err.h"

static int reserve(wh_strbuf *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap)
    return WH_OK;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + extra + 1)
    cap *= 2;
  char *d = realloc(b->data, cap);
  if (!d)
    return WH_ENOMEM;
  b->data = d;
  b->cap = cap;
  return WH_OK;
}

int wh_strbuf_reserve(wh_strbuf *b, size_t extra) {
  return reserve(b, extra);
}

int wh_strbuf_append(wh_strbuf *b, const char *s, size_t n) {
  if (reserve(b, n) != WH_OK)
    return WH_ENOMEM;
  if (n)
    memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
  return WH_OK;
}

int wh_strbuf_puts(wh_strbuf *b, const char *s) {
  return wh_strbuf_append(b, s, strlen(s));
}

int wh_strbuf_putc(wh_strbuf *b, char c) {
  return wh_strbuf_append(b, &c, 1);
}

int wh_strbuf_printf(wh_strbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || reserve(b, (size_t)n) != WH_OK) {
    va_end(ap2);
    return n < 0 ? WH_EINVAL : WH_ENOMEM;
  }
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  b->len += (size_t)n;
  return WH_OK;
}

char *wh_strbuf_take(wh_strbuf *b) {
  char *d = b->data ? b->data : strdup("");
  memset(b, 0, sizeof(*b));
  return d;
}

void wh_strbuf_free(wh_strbuf *b) {
  free(b->data);
  memset(b, 0, sizeof(*b));
}

const char *wh_strbuf_cstr(const wh_strbuf *b) {
  return b->data ? b->data : "";
}

char *wh_strdup(const char *s) {
  return s ? strdup(s) : NULL;
}

/* strndup semantics without reading past n: spans from parsers are not
 * NUL-terminated, and ASan's strict_string_checks (on in the test build)
 * rightly objects to strndup scanning them with strlen. */
char *wh_strndup(const char *s, size_t n) {
  if (!s)
    return NULL;
  const char *nul = memchr(s, '\0', n);
  size_t len = nul ? (size_t)(nul - s) : n;
  char *d = malloc(len + 1);
  if (!d)
    return NULL;
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

char *wh_asprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0)
    s = NULL;
  va_end(ap);
  return s;
}

void wh_str_setf(char **dst, const char *fmt, ...) {
  if (!dst)
    return;
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0)
    s = NULL;
  va_end(ap);
  free(*dst);
  *dst = s;
}

bool wh_streq(const char *a, const char *b) {
  if (!a || !b)
    return a == b;
  return strcmp(a, b) == 0;
}

bool wh_strcaseeq(const char *a, const char *b) {
  if (!a || !b)
    return a == b;
  return strcasecmp(a, b) == 0;
}

bool wh_str_has_prefix(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool wh_str_has_caseprefix(const char *s, const char *prefix) {
  return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

bool wh_str_has_casesuffix(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

void wh_str_lower(char *s) {
  for (; s && *s; s++)
    *s = (char)tolower((unsigned char)*s);
}

size_t wh_str_distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  /* Two rows are enough; names are short, but cap to avoid quadratic blowups
   * on hostile input. */
  if (n > 256 || m > 256)
    return n > m ? n : m;
  size_t prev[257], cur[257];
  for (size_t j = 0; j <= m; j++)
    prev[j] = j;
  for (size_t i = 1; i <= n; i++) {
    cur[0] = i;
    for (size_t j = 1; j <= m; j++) {
      size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
      size_t best = prev[j] + 1;
      if (cur[j - 1] + 1 < best)
        best = cur[j - 1] + 1;
      if (prev[j - 1] + cost < best)
        best = prev[j - 1] + cost;
      cur[j] = best;
    }
    memcpy(prev, cur, (m + 1) * sizeof(size_t));
  }
  return prev[m];
}

const char *wh_str_suggest(const char *word, const char *const *candidates, size_t n) {
  size_t len = strlen(word);
  size_t limit = len / 3 > 2 ? len / 3 : 2;
  const char *best = NULL;
  size_t best_d = (size_t)-1;
  for (size_t i = 0; i < n; i++) {
    if (!candidates[i])
      continue;
    size_t d = wh_str_distance(word, candidates[i]);
    if (d < best_d) {
      best_d = d;
      best = candidates[i];
    }
  }
  return best_d <= limit ? best : NULL;
}

int wh_str_split(const char *s, char sep, char ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (!s)
    return WH_OK;
  size_t cap = 0;
  char **v = NULL;
  const char *p = s;
  for (;;) {
    const char *e = strchr(p, sep);
    const char *end = e ? e : p + strlen(p);
    const char *a = p, *z = end;
    while (a < z && isspace((unsigned char)*a))
      a++;
    while (z > a && isspace((unsigned char)z[-1]))
      z--;
    if (z > a) {
      if (*n == cap) {
        cap = cap ? cap * 2 : 4;
        char **nv = realloc(v, cap * sizeof(*nv));
        if (!nv)
          goto oom;
        v = nv;
      }
      v[*n] = strndup(a, (size_t)(z - a));
      if (!v[*n])
        goto oom;
      (*n)++;
    }
    if (!e)
      break;
    p = e + 1;
  }
  *out = v;
  return WH_OK;
oom:
  wh_strv_free(v, *n);
  *n = 0;
  return WH_ENOMEM;
}

void wh_strv_free(char **v, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

bool wh_header_is_credential(const char *name) {
  static const char *const names[] = {"Authorization", "Proxy-Authorization", "Cookie",
                                      "Set-Cookie"};
  if (!name)
    return false;
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (wh_strcaseeq(name, names[i]))
      return true;
  return false;
}

size_t wh_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned char c = s[0];
  size_t len;
  uint32_t v, min;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if ((c & 0xe0) == 0xc0) {
    len = 2, v = c & 0x1f, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3, v = c & 0x0f, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    v = (v << 6) | (s[i] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
    return 0;
  *cp = v;
  return len;
}
