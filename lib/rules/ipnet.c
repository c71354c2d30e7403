/* ClientIP ranges. An IPv4-mapped IPv6 address (::ffff:a.b.c.d), in a rule or from a dual-stack
 * socket, is the IPv4 address it maps, as in Go's net.IP: a v4-mapped peer matches IPv4 ranges. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "lib/rules/rules_internal.h"

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int wh_rules_ipnet_parse(const char *s, wh_rules_ipnet *out) {
  char buf[INET6_ADDRSTRLEN + 8];
  const char *slash = strchr(s, '/');
  size_t alen = slash ? (size_t)(slash - s) : strlen(s);
  if (alen == 0 || alen >= sizeof buf)
    return -1;
  memcpy(buf, s, alen);
  buf[alen] = '\0';
  memset(out, 0, sizeof *out);
  unsigned maxbits;
  if (inet_pton(AF_INET, buf, out->addr) == 1) {
    out->family = AF_INET;
    maxbits = 32;
  } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
    out->family = AF_INET6;
    maxbits = 128;
  } else {
    return -1;
  }
  unsigned prefix = maxbits;
  if (slash) {
    const char *p = slash + 1;
    if (!*p || strlen(p) > 3)
      return -1;
    prefix = 0;
    for (; *p; p++) {
      if (*p < '0' || *p > '9')
        return -1;
      prefix = prefix * 10 + (unsigned)(*p - '0');
    }
    if (prefix > maxbits)
      return -1;
  }
  /* Keep only the network bits, so matching is a plain prefix compare. */
  size_t nbytes = maxbits / 8;
  for (size_t i = 0; i < nbytes; i++) {
    unsigned bits = i * 8 >= prefix ? 0 : prefix - i * 8 >= 8 ? 8 : prefix - i * 8;
    out->addr[i] &= (uint8_t)(0xff00u >> bits);
  }
  if (out->family == AF_INET6 && prefix >= 96 && memcmp(out->addr, v4mapped, 12) == 0) {
    memmove(out->addr, out->addr + 12, 4);
    memset(out->addr + 4, 0, 12);
    out->family = AF_INET;
    prefix -= 96;
  }
  out->prefix = prefix;
  return 0;
}

bool wh_rules_ipnet_contains(const wh_rules_ipnet *n, const struct sockaddr *sa) {
  if (!sa)
    return false;
  uint8_t a[16];
  int fam;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    memcpy(a, &in->sin_addr, 4);
    fam = AF_INET;
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    memcpy(a, &in6->sin6_addr, 16);
    fam = AF_INET6;
    if (memcmp(a, v4mapped, 12) == 0) {
      memmove(a, a + 12, 4);
      fam = AF_INET;
    }
  } else {
    return false;
  }
  if (fam != n->family)
    return false;
  unsigned full = n->prefix / 8, rem = n->prefix % 8;
  if (memcmp(a, n->addr, full) != 0)
    return false;
  if (rem) {
    uint8_t mask = (uint8_t)(0xff00u >> rem);
    if ((a[full] & mask) != n->addr[full])
      return false;
  }
  return true;
}
