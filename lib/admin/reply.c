#include "lib/admin/reply.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"

void wh_api_reply_json(wh_http_resp *resp, int status, cJSON *j) {
  resp->status = status;
  wh_http_resp_header(resp, "Content-Type", "application/json");
  char *s = j ? cJSON_PrintUnformatted(j) : NULL;
  if (s) {
    wh_strbuf_puts(&resp->body, s);
    wh_strbuf_putc(&resp->body, '\n');
    free(s);
  } else {
    resp->status = 500;
  }
  cJSON_Delete(j);
}

void wh_api_reply_error(wh_http_resp *resp, int status, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  cJSON *o = cJSON_CreateObject();
  if (o)
    cJSON_AddStringToObject(o, "message", msg);
  char *s = o ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  resp->status = status;
  wh_http_resp_header(resp, "Content-Type", "text/plain; charset=utf-8");
  wh_http_resp_header(resp, "X-Content-Type-Options", "nosniff");
  if (s)
    wh_strbuf_puts(&resp->body, s);
  wh_strbuf_putc(&resp->body, '\n');
  free(s);
}

cJSON *wh_api_strlist_json(const wh_strlist *l) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; a && i < l->n; i++)
    cJSON_AddItemToArray(a, cJSON_CreateString(l->v[i]));
  return a;
}

void wh_api_set_int64(cJSON *o, const char *key, int64_t v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%" PRId64, v);
  cJSON_DeleteItemFromObjectCaseSensitive(o, key);
  cJSON_AddItemToObject(o, key, cJSON_CreateRaw(buf));
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = tolower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* Percent-decodes n bytes of s (plus_space: '+' means ' ' as in forms).
 * NULL on a malformed escape or OOM. Caller frees. */
char *wh_api_pct_decode(const char *s, size_t n, bool plus_space) {
  char *out = malloc(n + 1);
  if (!out)
    return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      int a = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
      int b = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
      if (a < 0 || b < 0) {
        free(out);
        return NULL;
      }
      int h = a * 16 + b;
      out[o++] = (char)h;
      i += 2;
    } else if (plus_space && s[i] == '+') {
      out[o++] = ' ';
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = '\0';
  return out;
}

/* First value of key in a raw query string (decoded, caller frees), NULL when
 * absent. Like Go's url.Values.Get, a malformed pair is skipped. */
char *wh_api_query_get(const char *query, const char *key) {
  if (!query)
    return NULL;
  const char *p = query;
  while (*p) {
    size_t n = strcspn(p, "&;");
    const char *eq = memchr(p, '=', n);
    size_t klen = eq ? (size_t)(eq - p) : n;
    char *k = wh_api_pct_decode(p, klen, true);
    if (k && strcmp(k, key) == 0) {
      free(k);
      char *v = eq ? wh_api_pct_decode(eq + 1, n - klen - 1, true) : strdup("");
      if (v)
        return v;
    } else {
      free(k);
    }
    p += n;
    if (*p)
      p++;
  }
  return NULL;
}
