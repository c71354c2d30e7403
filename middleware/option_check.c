#include "middleware/option_check.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <arpa/inet.h>
#include <ctype.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"

void wh_mw_opt_error(wh_errlist *errs, const char *path, const char *opt, const char *fmt, ...) {
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  int r = vasprintf(&msg, fmt, ap);
  va_end(ap);
  if (r < 0)
    return;
  bool has_path = path && *path;
  bool has_opt = opt && *opt;
  wh_errlist_add(errs, "%s%s%s: %s", has_path ? path : "", has_path && has_opt ? "." : "",
                 has_opt ? opt : "", msg);
  free(msg);
}

int wh_mw_check_required(wh_errlist *errs, const char *path, const char *opt, const char *s) {
  if (s && *s)
    return 0;
  wh_mw_opt_error(errs, path, opt, "required");
  return 1;
}

int wh_mw_check_nonempty(wh_errlist *errs, const char *path, const char *opt, const wh_strlist *l) {
  if (l && l->n > 0)
    return 0;
  wh_mw_opt_error(errs, path, opt, "must not be empty");
  return 1;
}

int wh_mw_check_regex(wh_errlist *errs, const char *path, const char *opt, const char *re) {
  if (!re)
    return 0;
  int code = 0;
  PCRE2_SIZE off = 0;
  /* Traefik's patterns are Go (RE2) syntax over UTF-8. PCRE2 in UTF mode
   * accepts nearly all of it, and the runtime compiles with PCRE2 as well,
   * so checking here catches the same errors the runtime would hit. */
  pcre2_code *c =
      pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code, &off, NULL);
  if (c) {
    pcre2_code_free(c);
    return 0;
  }
  PCRE2_UCHAR buf[256];
  if (pcre2_get_error_message(code, buf, sizeof buf) < 0)
    snprintf((char *)buf, sizeof buf, "error %d", code);
  wh_mw_opt_error(errs, path, opt, "invalid regular expression: %s at offset %zu", (char *)buf,
                  (size_t)off);
  return 1;
}

int wh_mw_check_regex_list(wh_errlist *errs, const char *path, const char *opt,
                           const wh_strlist *l) {
  int n = 0;
  for (size_t i = 0; l && i < l->n; i++) {
    char name[128];
    snprintf(name, sizeof name, "%s[%zu]", opt, i);
    n += wh_mw_check_regex(errs, path, name, l->v[i]);
  }
  return n;
}

static bool parse_prefix_len(const char *s, int max) {
  if (!*s || strlen(s) > 3)
    return false;
  int v = 0;
  for (; *s; s++) {
    if (!isdigit((unsigned char)*s))
      return false;
    v = v * 10 + (*s - '0');
  }
  return v <= max;
}

bool wh_mw_ip_or_cidr_valid(const char *s) {
  if (!s || !*s)
    return false;
  char addr[INET6_ADDRSTRLEN + 1];
  const char *slash = strchr(s, '/');
  size_t alen = slash ? (size_t)(slash - s) : strlen(s);
  if (alen == 0 || alen >= sizeof addr)
    return false;
  memcpy(addr, s, alen);
  addr[alen] = '\0';
  unsigned char bin[16];
  int max;
  if (inet_pton(AF_INET, addr, bin) == 1)
    max = 32;
  else if (inet_pton(AF_INET6, addr, bin) == 1)
    max = 128;
  else
    return false;
  return !slash || parse_prefix_len(slash + 1, max);
}

int wh_mw_check_ip_list(wh_errlist *errs, const char *path, const char *opt, const wh_strlist *l) {
  int n = 0;
  for (size_t i = 0; l && i < l->n; i++) {
    if (wh_mw_ip_or_cidr_valid(l->v[i]))
      continue;
    char name[128];
    snprintf(name, sizeof name, "%s[%zu]", opt, i);
    wh_mw_opt_error(errs, path, name, "invalid IP address or CIDR \"%s\"", l->v[i]);
    n++;
  }
  return n;
}

/* A 3-digit status code 100..599; advances *s past it. */
static bool parse_status(const char **s, int *out) {
  const char *p = *s;
  int v = 0, digits = 0;
  while (isdigit((unsigned char)*p) && digits < 4) {
    v = v * 10 + (*p - '0');
    p++;
    digits++;
  }
  if (digits != 3 || v < 100 || v > 599)
    return false;
  *s = p;
  *out = v;
  return true;
}

bool wh_mw_status_range_valid(const char *s) {
  if (!s)
    return false;
  int lo, hi;
  if (!parse_status(&s, &lo))
    return false;
  if (*s == '\0')
    return true;
  if (*s++ != '-' || !parse_status(&s, &hi))
    return false;
  return *s == '\0' && lo <= hi;
}

int wh_mw_check_status_code(wh_errlist *errs, const char *path, const char *opt, int64_t code,
                            bool zero_ok) {
  if ((zero_ok && code == 0) || (code >= 100 && code <= 599))
    return 0;
  wh_mw_opt_error(errs, path, opt, "invalid HTTP status code %lld (expected %s100..599)",
                  (long long)code, zero_ok ? "0 or " : "");
  return 1;
}

bool wh_mw_http_url_valid(const char *s) {
  if (!s)
    return false;
  const char *rest;
  if (wh_str_has_caseprefix(s, "http://"))
    rest = s + 7;
  else if (wh_str_has_caseprefix(s, "https://"))
    rest = s + 8;
  else
    return false;
  /* a host must follow: not empty, not starting a path/query/port */
  if (*rest == '\0' || *rest == '/' || *rest == '?' || *rest == '#' || *rest == ':')
    return false;
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f)
      return false;
  return true;
}
