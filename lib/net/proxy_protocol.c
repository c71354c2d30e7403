#include "lib/net/proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_magic[] = "PROXY ";
#define V1_MAGIC_LEN (sizeof v1_magic - 1)
#define V2_FIXED_LEN 16
#define V2_ADDR4_LEN 12 /* 2 * 4 address bytes + 2 * 2 port bytes */
#define V2_ADDR6_LEN 36 /* 2 * 16 + 2 * 2 */
#define V4_TEXT_MAX 15  /* "255.255.255.255" */
#define V6_TEXT_MAX 45  /* INET6_ADDRSTRLEN - 1: full form with embedded IPv4 */
#define PORT_TEXT_MAX 5

static size_t min_sz(size_t a, size_t b) {
  return a < b ? a : b;
}

static uint16_t load_be16(const uint8_t *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}

static void store_be16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

/* ---- version 1 ---------------------------------------------------------- */

typedef enum { CLS_V4, CLS_V6, CLS_PORT } char_class;

static bool is_digit(uint8_t c) {
  return c >= '0' && c <= '9';
}

static bool is_hex(uint8_t c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool in_class(uint8_t c, char_class cls) {
  switch (cls) {
  case CLS_V4:
    return is_digit(c) || c == '.';
  case CLS_V6:
    return is_hex(c) || c == ':' || c == '.';
  case CLS_PORT:
    return is_digit(c);
  }
  return false;
}

/* Scans one field of class cls, at most max chars, ending at the byte term,
 * starting at *p. Characters are checked as they arrive so that junk is BAD at
 * once rather than after the peer has filled 107 bytes. On DONE, *p is past
 * the terminator and [*start, *start + *flen) is the field. */
static wh_pp_status scan_field(const uint8_t *b, size_t n, size_t *p, uint8_t term, size_t max,
                               char_class cls, size_t *start, size_t *flen) {
  size_t s = *p;
  for (size_t i = s; i < n; i++) {
    if (b[i] == term) {
      if (i == s)
        return WH_PP_BAD; /* empty field: two spaces in a row */
      *start = s;
      *flen = i - s;
      *p = i + 1;
      return WH_PP_DONE;
    }
    if (i - s >= max || !in_class(b[i], cls))
      return WH_PP_BAD;
    /* ports must not have heading zeroes (spec 2.1: no octal confusion) */
    if (cls == CLS_PORT && i > s && b[s] == '0')
      return WH_PP_BAD;
  }
  return WH_PP_MORE;
}

/* Dotted quad, exactly 4 decimal numbers 0..255 without heading zeroes. Done
 * here rather than with inet_pton because libc variants differ on leading
 * zeroes, and the spec forbids them. */
static bool parse_v4_text(const uint8_t *s, size_t len, struct in_addr *out) {
  uint8_t bytes[4];
  size_t i = 0;
  for (int part = 0; part < 4; part++) {
    if (part > 0) {
      if (i >= len || s[i] != '.')
        return false;
      i++;
    }
    size_t d0 = i;
    unsigned v = 0;
    while (i < len && is_digit(s[i]) && i - d0 < 3) {
      v = v * 10 + (unsigned)(s[i] - '0');
      i++;
    }
    size_t nd = i - d0;
    if (nd == 0 || v > 255 || (nd > 1 && s[d0] == '0'))
      return false;
    bytes[part] = (uint8_t)v;
  }
  if (i != len)
    return false;
  memcpy(&out->s_addr, bytes, 4);
  return true;
}

static bool parse_v6_text(const uint8_t *s, size_t len, struct in6_addr *out) {
  char tmp[V6_TEXT_MAX + 1];
  if (len > V6_TEXT_MAX)
    return false;
  memcpy(tmp, s, len);
  tmp[len] = '\0';
  return inet_pton(AF_INET6, tmp, out) == 1;
}

/* The field scanner already rejected heading zeroes and more than 5 digits. */
static bool parse_port_text(const uint8_t *s, size_t len, uint16_t *out) {
  unsigned v = 0;
  for (size_t i = 0; i < len; i++)
    v = v * 10 + (unsigned)(s[i] - '0');
  if (v > 65535)
    return false;
  *out = (uint16_t)v;
  return true;
}

static bool set_addr(struct sockaddr_storage *ss, bool v6, const uint8_t *s, size_t len,
                     uint16_t port) {
  memset(ss, 0, sizeof *ss);
  if (v6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (!parse_v6_text(s, len, &in6->sin6_addr))
      return false;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
  } else {
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    if (!parse_v4_text(s, len, &in->sin_addr))
      return false;
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
  }
  return true;
}

/* "UNKNOWN": the spec says to ignore everything up to the CRLF; a lone CR or
 * LF still does not end the line. */
static wh_pp_status parse_v1_unknown(const uint8_t *b, size_t n, size_t p, wh_pp_result *out) {
  for (size_t i = p; i < n; i++) {
    if (b[i] == '\n')
      return WH_PP_BAD;
    if (b[i] != '\r')
      continue;
    if (i + 1 >= n)
      return WH_PP_MORE;
    if (b[i + 1] != '\n')
      return WH_PP_BAD;
    memset(out, 0, sizeof *out);
    out->local = true;
    out->header_len = i + 2;
    return WH_PP_DONE;
  }
  return WH_PP_MORE;
}

/* Parses within the first n bytes, n <= WH_PP_V1_MAX_LEN; "PROXY " matched. */
static wh_pp_status parse_v1_within(const uint8_t *b, size_t n, wh_pp_result *out) {
  static const char *const kw[] = {"TCP4", "TCP6", "UNKNOWN"};
  size_t p = V1_MAGIC_LEN;
  size_t avail = n - p;
  int which = -1;
  bool partial = false;
  for (int k = 0; k < 3; k++) {
    size_t klen = strlen(kw[k]);
    if (memcmp(b + p, kw[k], min_sz(avail, klen)) != 0)
      continue;
    if (avail >= klen)
      which = k;
    else
      partial = true;
  }
  if (which < 0)
    return partial ? WH_PP_MORE : WH_PP_BAD;
  p += strlen(kw[which]);
  if (p >= n)
    return WH_PP_MORE;
  if (which == 2) {
    if (b[p] != ' ' && b[p] != '\r')
      return WH_PP_BAD; /* "UNKNOWNX" */
    return parse_v1_unknown(b, n, p, out);
  }
  if (b[p++] != ' ')
    return WH_PP_BAD;

  bool v6 = which == 1;
  char_class acls = v6 ? CLS_V6 : CLS_V4;
  size_t amax = v6 ? V6_TEXT_MAX : V4_TEXT_MAX;
  size_t s_src, l_src, s_dst, l_dst, s_sp, l_sp, s_dp, l_dp;
  wh_pp_result r;
  struct in6_addr probe6;
  struct in_addr probe4;
  wh_pp_status st;

  /* Each address is checked as soon as it is complete, for an early BAD. */
  if ((st = scan_field(b, n, &p, ' ', amax, acls, &s_src, &l_src)) != WH_PP_DONE)
    return st;
  if (v6 ? !parse_v6_text(b + s_src, l_src, &probe6) : !parse_v4_text(b + s_src, l_src, &probe4))
    return WH_PP_BAD;
  if ((st = scan_field(b, n, &p, ' ', amax, acls, &s_dst, &l_dst)) != WH_PP_DONE)
    return st;
  if (v6 ? !parse_v6_text(b + s_dst, l_dst, &probe6) : !parse_v4_text(b + s_dst, l_dst, &probe4))
    return WH_PP_BAD;
  uint16_t sport, dport;
  if ((st = scan_field(b, n, &p, ' ', PORT_TEXT_MAX, CLS_PORT, &s_sp, &l_sp)) != WH_PP_DONE)
    return st;
  if (!parse_port_text(b + s_sp, l_sp, &sport))
    return WH_PP_BAD;
  if ((st = scan_field(b, n, &p, '\r', PORT_TEXT_MAX, CLS_PORT, &s_dp, &l_dp)) != WH_PP_DONE)
    return st;
  if (!parse_port_text(b + s_dp, l_dp, &dport))
    return WH_PP_BAD;
  if (p >= n)
    return WH_PP_MORE;
  if (b[p] != '\n')
    return WH_PP_BAD;
  p++;

  memset(&r, 0, sizeof r);
  if (!set_addr(&r.src, v6, b + s_src, l_src, sport) ||
      !set_addr(&r.dst, v6, b + s_dst, l_dst, dport))
    return WH_PP_BAD;
  r.local = false;
  r.header_len = p;
  *out = r;
  return WH_PP_DONE;
}

static wh_pp_status parse_v1(const uint8_t *b, size_t len, wh_pp_result *out) {
  size_t n = min_sz(len, WH_PP_V1_MAX_LEN);
  wh_pp_status st = parse_v1_within(b, n, out);
  /* Still waiting at the 107-byte limit: the CRLF can no longer come in time. */
  if (st == WH_PP_MORE && len >= WH_PP_V1_MAX_LEN)
    return WH_PP_BAD;
  return st;
}

/* ---- version 2 ---------------------------------------------------------- */

/* Bytes 13 and 14 are checked as soon as they arrive, for an early BAD. */
static wh_pp_status parse_v2(const uint8_t *b, size_t len, wh_pp_result *out) {
  if (len < 13)
    return WH_PP_MORE;
  uint8_t ver = b[12] >> 4, cmd = b[12] & 0x0f;
  if (ver != 2 || cmd > 1)
    return WH_PP_BAD;
  if (len < 14)
    return WH_PP_MORE;
  uint8_t fam = b[13] >> 4, proto = b[13] & 0x0f;
  bool local = cmd == 0; /* LOCAL: the family byte is ignored altogether */
  size_t need = 0;
  if (!local) {
    if (fam > 3 || proto > 2)
      return WH_PP_BAD;
    /* UNSPEC family or transport, and AF_UNIX (which we cannot represent),
     * fall back to UNSPEC mode as the spec allows: real endpoints are used. */
    if (fam == 0 || proto == 0 || fam == 3)
      local = true;
    else
      need = fam == 1 ? V2_ADDR4_LEN : V2_ADDR6_LEN;
  }
  if (len < V2_FIXED_LEN)
    return WH_PP_MORE;
  size_t alen = load_be16(b + 14);
  size_t total = V2_FIXED_LEN + alen;
  if (total > WH_PP_MAX_HEADER || alen < need)
    return WH_PP_BAD;
  if (len < total)
    return WH_PP_MORE;

  wh_pp_result r;
  memset(&r, 0, sizeof r);
  r.local = local;
  r.header_len = total;
  if (!local) {
    const uint8_t *a = b + V2_FIXED_LEN;
    if (fam == 1) {
      struct sockaddr_in *s = (struct sockaddr_in *)&r.src, *d = (struct sockaddr_in *)&r.dst;
      s->sin_family = d->sin_family = AF_INET;
      memcpy(&s->sin_addr, a, 4);
      memcpy(&d->sin_addr, a + 4, 4);
      memcpy(&s->sin_port, a + 8, 2); /* both sides network order */
      memcpy(&d->sin_port, a + 10, 2);
    } else {
      struct sockaddr_in6 *s = (struct sockaddr_in6 *)&r.src, *d = (struct sockaddr_in6 *)&r.dst;
      s->sin6_family = d->sin6_family = AF_INET6;
      memcpy(&s->sin6_addr, a, 16);
      memcpy(&d->sin6_addr, a + 16, 16);
      memcpy(&s->sin6_port, a + 32, 2);
      memcpy(&d->sin6_port, a + 34, 2);
    }
    /* TLVs must tile the rest exactly; a TLV running past the header means a
     * broken sender, and trusting its length would desynchronise the stream. */
    size_t off = V2_FIXED_LEN + need;
    while (off < total) {
      if (total - off < 3)
        return WH_PP_BAD;
      size_t tl = load_be16(b + off + 1);
      off += 3;
      if (tl > total - off)
        return WH_PP_BAD;
      off += tl;
    }
  }
  *out = r;
  return WH_PP_DONE;
}

wh_pp_status wh_pp_parse(const uint8_t *buf, size_t len, wh_pp_result *out) {
  if (len == 0)
    return WH_PP_MORE;
  if (buf[0] == v2_sig[0]) {
    if (memcmp(buf, v2_sig, min_sz(len, sizeof v2_sig)) != 0)
      return WH_PP_ABSENT;
    return parse_v2(buf, len, out);
  }
  size_t m = min_sz(len, V1_MAGIC_LEN);
  if (memcmp(buf, v1_magic, m) != 0)
    return WH_PP_ABSENT;
  if (len <= V1_MAGIC_LEN)
    return WH_PP_MORE;
  return parse_v1(buf, len, out);
}

/* ---- writing ------------------------------------------------------------ */

/* RFC 5952 text, but always in hex groups (never dotted IPv4 for mapped
 * addresses): the spec describes v1 IPv6 addresses as hex groups only. */
static int format_v6(const uint8_t a[16], char *out, size_t cap) {
  uint16_t g[8];
  for (int i = 0; i < 8; i++)
    g[i] = load_be16(a + 2 * i);
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      i++;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0)
      j++;
    if (j - i > best_len && j - i >= 2) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  size_t n = 0;
  for (int i = 0; i < 8; i++) {
    if (i == best) {
      if (n + 2 >= cap)
        return -1;
      out[n++] = ':';
      out[n++] = ':';
      i += best_len - 1;
      continue;
    }
    /* the group right after "::" needs no separator of its own */
    bool sep = i > 0 && !(best >= 0 && i == best + best_len);
    int w = snprintf(out + n, cap - n, sep ? ":%x" : "%x", g[i]);
    if (w < 0 || (size_t)w >= cap - n)
      return -1;
    n += (size_t)w;
  }
  out[n] = '\0';
  return (int)n;
}

typedef struct wire_addr {
  bool v6;
  uint8_t addr[16]; /* IPv4 in the first 4 bytes when !v6 */
  uint16_t port;    /* host order */
} wire_addr;

static bool read_addr(const struct sockaddr *sa, wire_addr *w) {
  memset(w, 0, sizeof *w);
  if (!sa)
    return false;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    memcpy(w->addr, &in->sin_addr, 4);
    w->port = ntohs(in->sin_port);
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    w->v6 = true;
    memcpy(w->addr, &in6->sin6_addr, 16);
    w->port = ntohs(in6->sin6_port);
    return true;
  }
  return false;
}

static void map_to_v6(wire_addr *w) {
  if (w->v6)
    return;
  uint8_t v4[4];
  memcpy(v4, w->addr, 4);
  memset(w->addr, 0, 10);
  w->addr[10] = w->addr[11] = 0xff;
  memcpy(w->addr + 12, v4, 4);
  w->v6 = true;
}

static int write_v1(bool known, const wire_addr *s, const wire_addr *d, uint8_t *out, size_t cap) {
  char line[WH_PP_V1_WRITE_MAX + 1];
  int n;
  if (!known) {
    n = snprintf(line, sizeof line, "PROXY UNKNOWN\r\n");
  } else if (!s->v6) {
    char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
    if (!inet_ntop(AF_INET, s->addr, a, sizeof a) || !inet_ntop(AF_INET, d->addr, b, sizeof b))
      return -1;
    n = snprintf(line, sizeof line, "PROXY TCP4 %s %s %u %u\r\n", a, b, (unsigned)s->port,
                 (unsigned)d->port);
  } else {
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
    if (format_v6(s->addr, a, sizeof a) < 0 || format_v6(d->addr, b, sizeof b) < 0)
      return -1;
    n = snprintf(line, sizeof line, "PROXY TCP6 %s %s %u %u\r\n", a, b, (unsigned)s->port,
                 (unsigned)d->port);
  }
  if (n < 0 || (size_t)n >= sizeof line || (size_t)n > cap)
    return -1;
  memcpy(out, line, (size_t)n);
  return n;
}

static int write_v2(bool known, const wire_addr *s, const wire_addr *d, uint8_t *out, size_t cap) {
  size_t alen = !known ? 0 : s->v6 ? V2_ADDR6_LEN : V2_ADDR4_LEN;
  size_t total = V2_FIXED_LEN + alen;
  if (cap < total)
    return -1;
  memcpy(out, v2_sig, sizeof v2_sig);
  out[12] = known ? 0x21 : 0x20; /* version 2, PROXY or LOCAL */
  out[13] = !known ? 0x00 : s->v6 ? 0x21 : 0x11;
  store_be16(out + 14, (uint16_t)alen);
  if (known) {
    size_t asz = s->v6 ? 16 : 4;
    uint8_t *a = out + V2_FIXED_LEN;
    memcpy(a, s->addr, asz);
    memcpy(a + asz, d->addr, asz);
    store_be16(a + 2 * asz, s->port);
    store_be16(a + 2 * asz + 2, d->port);
  }
  return (int)total;
}

int wh_pp_write(int version, const struct sockaddr *src, const struct sockaddr *dst, uint8_t *out,
                size_t cap) {
  if ((version != 1 && version != 2) || !out)
    return -1;
  wire_addr s, d;
  bool known = read_addr(src, &s) && read_addr(dst, &d);
  if (known && s.v6 != d.v6) {
    map_to_v6(&s);
    map_to_v6(&d);
  }
  return version == 1 ? write_v1(known, &s, &d, out, cap) : write_v2(known, &s, &d, out, cap);
}
