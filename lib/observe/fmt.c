#include "lib/observe/fmt.h"

#include <string.h>

/* Two digits at a time halves the divisions of the integer loop. */
static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

size_t wh_fmt_u64(char *dst, uint64_t v) {
  char tmp[WH_FMT_INT_MAX];
  char *p = tmp + sizeof(tmp);
  while (v >= 100) {
    unsigned d = (unsigned)(v % 100) * 2;
    v /= 100;
    *--p = digit_pairs[d + 1];
    *--p = digit_pairs[d];
  }
  if (v >= 10) {
    unsigned d = (unsigned)v * 2;
    *--p = digit_pairs[d + 1];
    *--p = digit_pairs[d];
  } else {
    *--p = (char)('0' + v);
  }
  size_t n = (size_t)(tmp + sizeof(tmp) - p);
  memcpy(dst, p, n);
  return n;
}

size_t wh_fmt_i64(char *dst, int64_t v) {
  if (v >= 0)
    return wh_fmt_u64(dst, (uint64_t)v);
  dst[0] = '-';
  /* unsigned negation is defined for INT64_MIN too */
  return 1 + wh_fmt_u64(dst + 1, -(uint64_t)v);
}

/* As printf's %0*lld: zero-padded to width, the sign counting in it. */
static size_t fmt_padded(char *dst, int64_t v, size_t width) {
  char tmp[WH_FMT_INT_MAX];
  size_t n = wh_fmt_u64(tmp, v < 0 ? -(uint64_t)v : (uint64_t)v);
  size_t o = 0;
  if (v < 0) {
    dst[o++] = '-';
    width = width > 0 ? width - 1 : 0;
  }
  for (size_t i = n; i < width; i++)
    dst[o++] = '0';
  memcpy(dst + o, tmp, n);
  return o + n;
}

/* Two digits of v in 0..99 (every field of a time of day, a day, a month). */
static void put2(char *dst, int v) {
  dst[0] = digit_pairs[v * 2];
  dst[1] = digit_pairs[v * 2 + 1];
}

size_t wh_fmt_ipv4(char *dst, const unsigned char addr[4]) {
  size_t o = 0;
  for (int i = 0; i < 4; i++) {
    if (i)
      dst[o++] = '.';
    o += wh_fmt_u64(dst + o, addr[i]);
  }
  return o;
}

int64_t wh_fmt_floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Days to civil date after H. Hinnant's algorithm. */
void wh_fmt_civil_from_unix(int64_t secs, wh_fmt_civil *c) {
  int64_t days = wh_fmt_floor_div(secs, 86400);
  int64_t rem = secs - days * 86400;
  c->hour = (int)(rem / 3600);
  c->min = (int)(rem % 3600 / 60);
  c->sec = (int)(rem % 60);
  int64_t z = days + 719468;
  int64_t era = wh_fmt_floor_div(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  c->day = (int)(doy - (153 * mp + 2) / 5 + 1);
  c->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
  c->year = yoe + era * 400 + (c->mon <= 2);
}

static const char month_abbr[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* "+0200" (sep 0) or "+02:00" (sep ':'); hours are padded, not cut, should
 * an offset ever exceed 99 hours. */
static size_t fmt_offset(char *dst, long off, char sep) {
  long a = off < 0 ? -off : off;
  size_t o = 0;
  dst[o++] = off < 0 ? '-' : '+';
  o += fmt_padded(dst + o, a / 3600, 2);
  if (sep)
    dst[o++] = sep;
  put2(dst + o, (int)(a % 3600 / 60));
  return o + 2;
}

size_t wh_fmt_clf_time(char *dst, int64_t secs, long off) {
  wh_fmt_civil c;
  wh_fmt_civil_from_unix(secs + off, &c);
  size_t o = 0;
  put2(dst, c.day);
  dst[2] = '/';
  memcpy(dst + 3, month_abbr[c.mon - 1], 3);
  dst[6] = '/';
  o = 7 + fmt_padded(dst + 7, c.year, 4);
  dst[o] = ':';
  put2(dst + o + 1, c.hour);
  dst[o + 3] = ':';
  put2(dst + o + 4, c.min);
  dst[o + 6] = ':';
  put2(dst + o + 7, c.sec);
  dst[o + 9] = ' ';
  o += 10;
  return o + fmt_offset(dst + o, off, 0);
}

size_t wh_fmt_rfc3339_secs(char *dst, int64_t secs, long off) {
  wh_fmt_civil c;
  wh_fmt_civil_from_unix(secs + off, &c);
  size_t o = fmt_padded(dst, c.year, 4);
  dst[o] = '-';
  put2(dst + o + 1, c.mon);
  dst[o + 3] = '-';
  put2(dst + o + 4, c.day);
  dst[o + 6] = 'T';
  put2(dst + o + 7, c.hour);
  dst[o + 9] = ':';
  put2(dst + o + 10, c.min);
  dst[o + 12] = ':';
  put2(dst + o + 13, c.sec);
  return o + 15;
}

size_t wh_fmt_rfc3339_zone(char *dst, long off) {
  if (off == 0) {
    dst[0] = 'Z';
    return 1;
  }
  return fmt_offset(dst, off, ':');
}

size_t wh_fmt_frac_ns(char *dst, long ns) {
  if (ns <= 0)
    return 0;
  dst[0] = '.';
  for (int i = 9; i >= 1; i--) {
    dst[i] = (char)('0' + ns % 10);
    ns /= 10;
  }
  size_t n = 10;
  while (dst[n - 1] == '0')
    n--;
  return n;
}
