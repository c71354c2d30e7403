#include "lib/core/duration.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/core/err.h"

/* Go's time.ParseDuration, plus Traefik's extension that a bare integer is a
 * number of seconds. Fractions are accumulated in integer arithmetic to stay
 * exact for values such as "1.5s". */
static const struct {
  const char *unit;
  int64_t ns;
} units[] = {
    {"ns", 1},       {"us", 1000},        {"\xc2\xb5s", 1000},  {"\xce\xbcs", 1000},
    {"ms", 1000000}, {"s", 1000000000LL}, {"m", 60000000000LL}, {"h", 3600000000000LL},
};

int wh_duration_parse(const char *s, wh_duration *out) {
  if (!s || !*s)
    return WH_EINVAL;
  const char *p = s;
  bool neg = false;
  if (*p == '-' || *p == '+') {
    neg = *p == '-';
    p++;
  }
  if (!*p)
    return WH_EINVAL;
  /* bare integer: seconds */
  bool all_digits = *p != '\0';
  for (const char *q = p; *q; q++)
    if (!isdigit((unsigned char)*q))
      all_digits = false;
  if (all_digits) {
    int64_t v = 0;
    for (const char *q = p; *q; q++) {
      if (v > (INT64_MAX - 9) / 10)
        return WH_EINVAL;
      v = v * 10 + (*q - '0');
    }
    if (v > INT64_MAX / WH_SEC)
      return WH_EINVAL;
    *out = (neg ? -v : v) * WH_SEC;
    return WH_OK;
  }
  if (strcmp(p, "0") == 0) {
    *out = 0;
    return WH_OK;
  }
  int64_t total = 0;
  while (*p) {
    int64_t ipart = 0, frac = 0, scale = 1;
    bool any = false;
    while (isdigit((unsigned char)*p)) {
      if (ipart > (INT64_MAX - 9) / 10)
        return WH_EINVAL;
      ipart = ipart * 10 + (*p - '0');
      p++;
      any = true;
    }
    if (*p == '.') {
      p++;
      while (isdigit((unsigned char)*p)) {
        if (scale < 1000000000000000000LL / 10) {
          frac = frac * 10 + (*p - '0');
          scale *= 10;
        }
        p++;
        any = true;
      }
    }
    if (!any)
      return WH_EINVAL;
    int64_t unit = 0;
    size_t ulen = 0;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
      size_t l = strlen(units[i].unit);
      if (strncmp(p, units[i].unit, l) == 0 && l > ulen) {
        unit = units[i].ns;
        ulen = l;
      }
    }
    if (!unit)
      return WH_EINVAL;
    p += ulen;
    if (ipart > INT64_MAX / unit)
      return WH_EINVAL;
    int64_t v = ipart * unit;
    /* frac/scale * unit without overflow: unit <= 3.6e12, frac < scale <= 1e17 */
    long double f = (long double)frac * (long double)unit / (long double)scale;
    v += (int64_t)f;
    if (v < 0 || total > INT64_MAX - v)
      return WH_EINVAL;
    total += v;
  }
  *out = neg ? -total : total;
  return WH_OK;
}

/* Go's Duration.String(). */
static size_t fmt_frac(char *buf, size_t w, uint64_t v, int prec, uint64_t *nv) {
  bool print = false;
  for (int i = 0; i < prec; i++) {
    int digit = (int)(v % 10);
    print = print || digit != 0;
    if (print) {
      w--;
      buf[w] = (char)(digit + '0');
    }
    v /= 10;
  }
  if (print) {
    w--;
    buf[w] = '.';
  }
  *nv = v;
  return w;
}

static size_t fmt_int(char *buf, size_t w, uint64_t v) {
  if (v == 0) {
    w--;
    buf[w] = '0';
  } else {
    while (v > 0) {
      w--;
      buf[w] = (char)(v % 10 + '0');
      v /= 10;
    }
  }
  return w;
}

void wh_duration_format(wh_duration d, char *out, unsigned size) {
  char buf[32];
  size_t w = sizeof(buf);
  uint64_t u = d < 0 ? (uint64_t)(-(d + 1)) + 1 : (uint64_t)d;
  bool neg = d < 0;
  if (u < 1000000000ULL) {
    int prec = 0;
    w--;
    buf[w] = 's';
    w--;
    if (u == 0) {
      snprintf(out, size, "0s");
      return;
    } else if (u < 1000ULL) {
      prec = 0;
      buf[w] = 'n';
    } else if (u < 1000000ULL) {
      prec = 3;
      /* Go prints the micro sign; ASCII "us" keeps logs and JSON plain and
       * is accepted back by the parser. */
      buf[w] = 'u';
    } else {
      prec = 6;
      buf[w] = 'm';
    }
    w = fmt_frac(buf, w, u, prec, &u);
    w = fmt_int(buf, w, u);
  } else {
    w--;
    buf[w] = 's';
    w = fmt_frac(buf, w, u, 9, &u);
    w = fmt_int(buf, w, u % 60);
    u /= 60;
    if (u > 0) {
      w--;
      buf[w] = 'm';
      w = fmt_int(buf, w, u % 60);
      u /= 60;
      if (u > 0) {
        w--;
        buf[w] = 'h';
        w = fmt_int(buf, w, u);
      }
    }
  }
  if (neg) {
    w--;
    buf[w] = '-';
  }
  snprintf(out, size, "%.*s", (int)(sizeof(buf) - w), buf + w);
}
