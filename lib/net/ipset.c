#include "lib/net/ipset.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Entries are kept as two flat arrays scanned linearly: trustedIPs and allow
 * lists hold a handful of entries, and a scan over a few cache lines beats a
 * trie at that size. Every IPv4-mapped IPv6 entry is stored as IPv4, and
 * lookups map the same way, so that the two spellings of one address can
 * never disagree (HARDENING 18). */
typedef struct v4_net {
  uint32_t net, mask; /* host byte order; net already masked */
} v4_net;

typedef struct v6_net {
  uint8_t net[16]; /* already masked */
  unsigned prefix;
} v6_net;

struct wh_ipset {
  v4_net *v4;
  size_t n4;
  v6_net *v6;
  size_t n6;
};

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_v4_mapped(const uint8_t a[16]) {
  return memcmp(a, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0;
}

static uint32_t v4_mask(unsigned prefix) {
  return prefix == 0 ? 0 : UINT32_MAX << (32 - prefix);
}

static uint32_t load_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void v6_apply_mask(uint8_t a[16], unsigned prefix) {
  for (unsigned i = 0; i < 16; i++) {
    unsigned bits = prefix > i * 8 ? prefix - i * 8 : 0;
    if (bits >= 8)
      continue;
    a[i] &= (uint8_t)(0xff00u >> bits);
  }
}

/* "0" to "128": digits only, no sign, no trailing junk. Leading zeros are
 * accepted because Go's ParseCIDR (hence Traefik) accepts them. */
static bool parse_prefix(const char *s, size_t len, unsigned max, unsigned *out) {
  if (len == 0)
    return false;
  unsigned v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (unsigned)(s[i] - '0');
    if (v > max)
      return false;
  }
  *out = v;
  return true;
}

typedef struct parsed {
  bool is_v4;
  uint32_t v4;
  uint8_t v6[16];
  unsigned prefix;
} parsed;

/* Parses "addr" or "addr/prefix" with surrounding ASCII blanks allowed. */
static bool parse_entry(const char *entry, parsed *out) {
  if (!entry)
    return false;
  while (*entry == ' ' || *entry == '\t')
    entry++;
  size_t len = strlen(entry);
  while (len && (entry[len - 1] == ' ' || entry[len - 1] == '\t'))
    len--;
  if (len == 0 || len >= INET6_ADDRSTRLEN + 4)
    return false;

  char buf[INET6_ADDRSTRLEN + 4];
  memcpy(buf, entry, len);
  buf[len] = '\0';
  char *slash = strchr(buf, '/');
  const char *pfx = NULL;
  size_t pfx_len = 0;
  if (slash) {
    *slash = '\0';
    pfx = slash + 1;
    pfx_len = len - (size_t)(pfx - buf);
  }

  uint8_t a[16];
  if (inet_pton(AF_INET, buf, a) == 1) {
    unsigned p = 32;
    if (pfx && !parse_prefix(pfx, pfx_len, 32, &p))
      return false;
    out->is_v4 = true;
    out->prefix = p;
    out->v4 = load_be32(a) & v4_mask(p);
    return true;
  }
  if (inet_pton(AF_INET6, buf, a) != 1)
    return false;
  unsigned p = 128;
  if (pfx && !parse_prefix(pfx, pfx_len, 128, &p))
    return false;
  v6_apply_mask(a, p);
  /* A mapped network of /96 or longer is an IPv4 network. A shorter one
   * reaches outside ::ffff:0:0/96 and stays IPv6, as in Go, where it then
   * matches no IPv4 client either. */
  if (p >= 96 && is_v4_mapped(a)) {
    out->is_v4 = true;
    out->prefix = p - 96;
    out->v4 = load_be32(a + 12) & v4_mask(p - 96);
    return true;
  }
  out->is_v4 = false;
  out->prefix = p;
  memcpy(out->v6, a, 16);
  return true;
}

wh_ipset *wh_ipset_parse(char *const *entries, size_t n, const char **bad) {
  if (bad)
    *bad = NULL;
  wh_ipset *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  if (n == 0)
    return s;
  if (!entries) {
    if (bad)
      *bad = "";
    free(s);
    return NULL;
  }
  s->v4 = calloc(n, sizeof *s->v4);
  s->v6 = calloc(n, sizeof *s->v6);
  if (!s->v4 || !s->v6) {
    wh_ipset_free(s);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    parsed p;
    if (!parse_entry(entries[i], &p)) {
      if (bad)
        *bad = entries[i] ? entries[i] : "";
      wh_ipset_free(s);
      return NULL;
    }
    if (p.is_v4) {
      s->v4[s->n4++] = (v4_net){.net = p.v4, .mask = v4_mask(p.prefix)};
    } else {
      v6_net *e = &s->v6[s->n6++];
      memcpy(e->net, p.v6, 16);
      e->prefix = p.prefix;
    }
  }
  return s;
}

void wh_ipset_free(wh_ipset *s) {
  if (!s)
    return;
  free(s->v4);
  free(s->v6);
  free(s);
}

static bool contains_v4(const wh_ipset *s, uint32_t ip) {
  for (size_t i = 0; i < s->n4; i++)
    if ((ip & s->v4[i].mask) == s->v4[i].net)
      return true;
  return false;
}

static bool contains_v6(const wh_ipset *s, const uint8_t ip[16]) {
  for (size_t i = 0; i < s->n6; i++) {
    uint8_t a[16];
    memcpy(a, ip, 16);
    v6_apply_mask(a, s->v6[i].prefix);
    if (memcmp(a, s->v6[i].net, 16) == 0)
      return true;
  }
  return false;
}

static bool contains_raw6(const wh_ipset *s, const uint8_t a[16]) {
  if (is_v4_mapped(a))
    return contains_v4(s, load_be32(a + 12));
  return contains_v6(s, a);
}

bool wh_ipset_contains(const wh_ipset *s, const struct sockaddr *sa) {
  if (!s || !sa)
    return false;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    return contains_v4(s, ntohl(in->sin_addr.s_addr));
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    return contains_raw6(s, in6->sin6_addr.s6_addr);
  }
  return false;
}

bool wh_ipset_contains_str(const wh_ipset *s, const char *ip) {
  if (!s || !ip)
    return false;
  char buf[INET6_ADDRSTRLEN];
  size_t len = strlen(ip);
  /* A zone ("fe80::1%eth0") does not change which address it is. */
  const char *pct = strchr(ip, '%');
  if (pct) {
    len = (size_t)(pct - ip);
    if (!memchr(ip, ':', len))
      return false; /* only IPv6 addresses have zones */
  }
  if (len == 0 || len >= sizeof buf)
    return false;
  memcpy(buf, ip, len);
  buf[len] = '\0';
  uint8_t a[16];
  if (inet_pton(AF_INET, buf, a) == 1)
    return contains_v4(s, load_be32(a));
  if (inet_pton(AF_INET6, buf, a) == 1)
    return contains_raw6(s, a);
  return false;
}
