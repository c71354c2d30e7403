#include "lib/http/path.h"

#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static bool keep_encoded(unsigned char c) {
  return c < 0x20 || c == 0x7f || strchr(":/?#[]@!$&'()*+,;=%", c) != NULL;
}

/* RFC 3986 §5.2.4 on a path that starts with '/', plus "//" collapsing. */
static void remove_dots(char *p) {
  char *out = p; /* write cursor; out[-1] is always part of the output */
  const char *in = p;
  while (*in) {
    /* in points at a '/' */
    const char *seg = in + 1;
    const char *end = strchr(seg, '/');
    size_t len = end ? (size_t)(end - seg) : strlen(seg);
    if (len == 0 && end) {
      in = end; /* "//" */
      continue;
    }
    if (len == 1 && seg[0] == '.') {
      in = seg + 1;
      if (!*in) {
        *out++ = '/';
      }
      continue;
    }
    if (len == 2 && seg[0] == '.' && seg[1] == '.') {
      while (out > p && out[-1] != '/')
        out--;
      if (out > p)
        out--; /* drop the '/' that began the removed segment */
      in = seg + 2;
      if (!*in)
        *out++ = '/';
      continue;
    }
    *out++ = '/';
    memmove(out, seg, len);
    out += len;
    in = seg + len;
  }
  if (out == p)
    *out++ = '/';
  *out = '\0';
}

char *wh_path_canonical(const char *raw, size_t len, bool sanitize, bool *bad) {
  *bad = false;
  wh_strbuf b = {0};
  if (len == 0 || raw[0] != '/')
    wh_strbuf_putc(&b, '/');
  for (size_t i = 0; i < len; i++) {
    char c = raw[i];
    if (c == '%') {
      if (i + 2 >= len || hexval(raw[i + 1]) < 0 || hexval(raw[i + 2]) < 0) {
        *bad = true;
        wh_strbuf_free(&b);
        return NULL;
      }
      unsigned char v = (unsigned char)(hexval(raw[i + 1]) * 16 + hexval(raw[i + 2]));
      if (keep_encoded(v))
        wh_strbuf_printf(&b, "%%%02X", v);
      else
        wh_strbuf_putc(&b, (char)v);
      i += 2;
    } else {
      wh_strbuf_putc(&b, c);
    }
  }
  char *p = wh_strbuf_take(&b);
  if (p && sanitize)
    remove_dots(p);
  return p;
}
