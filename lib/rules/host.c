/* Host canonicalisation and comparison, as Traefik's requestdecorator and Host matcher do it. */
#include <string.h>

#include "lib/rules/rules.h"
#include "lib/rules/rules_internal.h"

static char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

size_t wh_rules_canon_host(const char *raw, char *buf, size_t cap) {
  if (!raw)
    raw = "";
  size_t b = 0, e = strlen(raw);
  while (b < e && (raw[b] == ' ' || raw[b] == '\t'))
    b++;
  while (e > b && (raw[e - 1] == ' ' || raw[e - 1] == '\t'))
    e--;
  const char *h = raw + b;
  size_t n = e - b;
  if (n && h[0] == '[') {
    /* "[v6]" or "[v6]:port" */
    const char *close = memchr(h, ']', n);
    if (close && (close + 1 == h + n || close[1] == ':')) {
      n = (size_t)(close - h - 1);
      h++;
    }
  } else {
    /* Exactly one ':' is host:port; more is a bare IPv6 literal, kept whole like Go's
     * net.SplitHostPort failure path. */
    const char *colon = memchr(h, ':', n);
    if (colon && !memchr(colon + 1, ':', n - (size_t)(colon + 1 - h)))
      n = (size_t)(colon - h);
  }
  if (n + 1 > cap)
    return (size_t)-1;
  for (size_t i = 0; i < n; i++)
    buf[i] = lower(h[i]);
  buf[n] = '\0';
  return n;
}

bool wh_rules_host_eq(const char *rule, size_t rlen, const char *req, size_t qlen) {
  if (rlen == qlen && memcmp(rule, req, rlen) == 0)
    return true;
  if (rlen > 0 && rule[rlen - 1] == '.' && rlen - 1 == qlen && memcmp(rule, req, qlen) == 0)
    return true;
  if (qlen > 0 && req[qlen - 1] == '.' && qlen - 1 == rlen && memcmp(rule, req, rlen) == 0)
    return true;
  return false;
}

bool wh_rules_host_wild(const char *suffix, const char *req, size_t qlen) {
  size_t slen = strlen(suffix);
  if (slen && suffix[slen - 1] == '.')
    slen--;
  if (qlen && req[qlen - 1] == '.')
    qlen--;
  if (qlen <= slen || memcmp(req + qlen - slen, suffix, slen) != 0)
    return false;
  /* exactly one non-empty label in front */
  return memchr(req, '.', qlen - slen) == NULL;
}

size_t wh_rule_index_host(const char *raw, char *buf, size_t cap) {
  size_t n = wh_rules_canon_host(raw, buf, cap);
  if (n != (size_t)-1 && n > 0 && buf[n - 1] == '.')
    buf[--n] = '\0';
  return n;
}
