#include "lib/observe/access_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/core/err.h"
#include "lib/core/log.h"
#include "lib/observe/fmt.h"

/* Cost model (bench/observe.py): a line is built on every request, so
 * everything that depends only on the configuration (which fields and
 * headers are kept, the order of the JSON members and of the header rules)
 * is worked out once in wh_access_log_new; a line is then
 * written straight into the worker's reusable slot buffer, numbers and times
 * by hand (lib/observe/fmt.h), the time text once per second per thread, and
 * escaping copies runs of safe bytes in bulk. No malloc, sort nor printf per
 * line on the common paths. */

/* A slot flushes before it holds more than this, whatever bufferingSize says,
 * so a large bufferingSize cannot grow a worker's memory without bound. */
#define SLOT_MAX_BYTES (256u * 1024u)

typedef enum { FMT_COMMON, FMT_GENERIC_CLF, FMT_JSON } log_format;
typedef enum { HDR_DROP = 0, HDR_KEEP, HDR_REDACT } hdr_mode;

/* Traefik's core keys (logdata.go) plus the entry point field v3 adds. */
typedef enum {
  K_CLIENT_ADDR,
  K_CLIENT_HOST,
  K_CLIENT_PORT,
  K_CLIENT_USERNAME,
  K_DOWNSTREAM_CONTENT_SIZE,
  K_DOWNSTREAM_STATUS,
  K_DURATION,
  K_GZIP_RATIO,
  K_ORIGIN_CONTENT_SIZE,
  K_ORIGIN_DURATION,
  K_ORIGIN_STATUS,
  K_OVERHEAD,
  K_REQUEST_ADDR,
  K_REQUEST_CONTENT_SIZE,
  K_REQUEST_COUNT,
  K_REQUEST_HOST,
  K_REQUEST_METHOD,
  K_REQUEST_PATH,
  K_REQUEST_PORT,
  K_REQUEST_PROTOCOL,
  K_REQUEST_SCHEME,
  K_RETRY_ATTEMPTS,
  K_ROUTER_NAME,
  K_SERVICE_ADDR,
  K_SERVICE_NAME,
  K_SERVICE_URL,
  K_START_LOCAL,
  K_START_UTC,
  K_TLS_CIPHER,
  K_TLS_CLIENT_SUBJECT,
  K_TLS_VERSION,
  K_ENTRY_POINT_NAME,
  K_COUNT
} core_key;

static const char *const key_names[K_COUNT] = {
    [K_CLIENT_ADDR] = "ClientAddr",
    [K_CLIENT_HOST] = "ClientHost",
    [K_CLIENT_PORT] = "ClientPort",
    [K_CLIENT_USERNAME] = "ClientUsername",
    [K_DOWNSTREAM_CONTENT_SIZE] = "DownstreamContentSize",
    [K_DOWNSTREAM_STATUS] = "DownstreamStatus",
    [K_DURATION] = "Duration",
    [K_GZIP_RATIO] = "GzipRatio",
    [K_ORIGIN_CONTENT_SIZE] = "OriginContentSize",
    [K_ORIGIN_DURATION] = "OriginDuration",
    [K_ORIGIN_STATUS] = "OriginStatus",
    [K_OVERHEAD] = "Overhead",
    [K_REQUEST_ADDR] = "RequestAddr",
    [K_REQUEST_CONTENT_SIZE] = "RequestContentSize",
    [K_REQUEST_COUNT] = "RequestCount",
    [K_REQUEST_HOST] = "RequestHost",
    [K_REQUEST_METHOD] = "RequestMethod",
    [K_REQUEST_PATH] = "RequestPath",
    [K_REQUEST_PORT] = "RequestPort",
    [K_REQUEST_PROTOCOL] = "RequestProtocol",
    [K_REQUEST_SCHEME] = "RequestScheme",
    [K_RETRY_ATTEMPTS] = "RetryAttempts",
    [K_ROUTER_NAME] = "RouterName",
    [K_SERVICE_ADDR] = "ServiceAddr",
    [K_SERVICE_NAME] = "ServiceName",
    [K_SERVICE_URL] = "ServiceURL",
    [K_START_LOCAL] = "StartLocal",
    [K_START_UTC] = "StartUTC",
    [K_TLS_CIPHER] = "TLSCipher",
    [K_TLS_CLIENT_SUBJECT] = "TLSClientSubject",
    [K_TLS_VERSION] = "TLSVersion",
    [K_ENTRY_POINT_NAME] = "entryPointName",
};

typedef struct code_range {
  int lo, hi;
} code_range;

/* One configured header rule; the first rule of a name (ASCII
 * case-insensitively) wins, later ones are dropped at construction. */
typedef struct hdr_rule {
  const char *name; /* borrowed from the configuration */
  size_t len;
  hdr_mode mode;
  bool redact; /* written as REDACTED: redact mode, or a credential */
  bool token;  /* only token bytes: Go canonicalises the name */
  char *canon; /* owned: the canonical name, the JSON members' sort key */
  char *jname; /* owned: canon as a JSON string's contents (escaped) */
  size_t jname_len;
} hdr_rule;

/* The header groups of a JSON line, by key prefix. */
typedef enum { HG_REQUEST, HG_DOWNSTREAM, HG_ORIGIN, HG_COUNT } hdr_group;

static const char *const group_prefix[HG_COUNT] = {
    [HG_REQUEST] = "request_", [HG_DOWNSTREAM] = "downstream_", [HG_ORIGIN] = "origin_"};

/* One member (or, for headers, a group of members) of a JSON line, in the
 * order logrus's sorted keys give. */
typedef enum { JI_CORE, JI_LEVEL, JI_MSG, JI_TIME, JI_HEADERS } jitem_kind;

typedef struct jitem {
  jitem_kind kind;
  int which;             /* core_key (JI_CORE) or hdr_group (JI_HEADERS) */
  const char *sort_name; /* the key, or the group's prefix */
  char key[32];          /* "\"ClientAddr\":", not for JI_HEADERS */
  size_t key_len;
} jitem;

/* One per worker: written by that worker only. */
typedef struct slot {
  wh_strbuf buf;
  size_t lines;
} slot;

struct wh_access_log {
  const wh_accesslog *cfg;
  log_format format;
  char *path; /* NULL: stdout */
  int fd;
  bool own_fd;
  size_t buffering; /* lines per batch; 0 = write each line */
  bool add_internals;
  /* filters (Traefik's keepAccessLog) */
  bool filtering;
  code_range *ranges;
  size_t nranges;
  bool retry_filter;
  int64_t min_duration;
  /* fields */
  bool keep[K_COUNT];
  hdr_mode hdr_default;
  hdr_rule *hdr_rules; /* deduplicated, in configuration order */
  size_t nhdr_rules;
  /* headers that can appear in a JSON line; when hdr_by_rule, exactly the
   * rules in hdr_sorted (kept ones, by canonical name) */
  bool any_hdr;
  bool hdr_by_rule;
  const hdr_rule **hdr_sorted;
  size_t nhdr_sorted;
  /* the modes of CLF's two header columns: Referer, User-Agent */
  hdr_mode clf_mode[2];
  /* JSON members in output order */
  jitem *jitems;
  size_t njitems;
  bool wants_resp;
  slot *slots;
  int nslots;
  atomic_ullong write_errors;
  atomic_bool error_logged;
};

/* ---------------------------------------------------------------------------
 * Appending to the line. wh_strbuf's functions live in another unit: these
 * inline the capacity test so that the common append is a compare and a
 * memcpy. They leave the NUL to wh_access_log_format (the line is
 * terminated once, at its end). On OOM the bytes are dropped: logging must
 * not fail the request. */

static inline bool room(wh_strbuf *b, size_t n) {
  return b->len + n + 1 <= b->cap || wh_strbuf_reserve(b, n) == WH_OK;
}

static inline void put(wh_strbuf *b, const char *s, size_t n) {
  if (n && room(b, n)) {
    memcpy(b->data + b->len, s, n);
    b->len += n;
  }
}

#define PUT_LIT(b, lit) put((b), (lit), sizeof(lit) - 1)

static inline void putc1(wh_strbuf *b, char c) {
  if (room(b, 1))
    b->data[b->len++] = c;
}

static void put_u64(wh_strbuf *b, uint64_t v) {
  if (room(b, WH_FMT_INT_MAX))
    b->len += wh_fmt_u64(b->data + b->len, v);
}

static void put_i64(wh_strbuf *b, int64_t v) {
  if (room(b, WH_FMT_INT_MAX))
    b->len += wh_fmt_i64(b->data + b->len, v);
}

/* ---------------------------------------------------------------------------
 * Header names */

static bool is_token_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!is_token_byte((unsigned char)s[i]))
      return false;
  return true;
}

static inline char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* ASCII case-insensitive equality of two counted names. */
static bool name_eq(const char *a, size_t an, const char *b, size_t bn) {
  if (an != bn)
    return false;
  for (size_t i = 0; i < an; i++)
    if (a[i] != b[i] && ascii_lower(a[i]) != ascii_lower(b[i]))
      return false;
  return true;
}

/* Go's textproto.CanonicalMIMEHeaderKey, one byte at a time: upper after
 * the start or a '-', lower elsewhere ("user-agent" → "User-Agent"). Applies
 * to token names only; others are left as they are. */
static inline char canon_byte(char c, bool upper) {
  if (upper && c >= 'a' && c <= 'z')
    return (char)(c - 32);
  if (!upper && c >= 'A' && c <= 'Z')
    return (char)(c + 32);
  return c;
}

/* Bytewise order of the canonical forms of two names (the order of their
 * JSON keys), without materialising them. */
static int canon_cmp(const wh_header *a, bool atok, const wh_header *b, bool btok) {
  bool ua = true, ub = true;
  size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)(atok ? canon_byte(a->name[i], ua) : a->name[i]);
    unsigned char y = (unsigned char)(btok ? canon_byte(b->name[i], ub) : b->name[i]);
    if (x != y)
      return x < y ? -1 : 1;
    ua = x == '-';
    ub = y == '-';
  }
  return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

/* ---------------------------------------------------------------------------
 * Escaping. Each scanner copies the longest run of bytes that need no
 * escape in one append, so a typical value costs one table walk and one
 * memcpy. */

static const char hexdig[] = "0123456789abcdef";

/* CLF: `"` as `\"` (Traefik's quoting), `\` as `\\` and control bytes as
 * \xHH, so no value can end a field or a line early; other bytes are raw.
 * The table marks the raw ones (its ranges skip '"' 0x22, '\\' 0x5c and DEL
 * 0x7f). */
static const unsigned char clf_plain[256] = {
    [0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7e] = 1, [0x80 ... 0xff] = 1};

static void put_clf_escaped(wh_strbuf *out, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    size_t start = i;
    while (i < n && clf_plain[p[i]])
      i++;
    put(out, s + start, i - start);
    if (i == n)
      break;
    unsigned char c = p[i++];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      put(out, e, 2);
    } else {
      char e[4] = {'\\', 'x', hexdig[c >> 4], hexdig[c & 15]};
      put(out, e, 4);
    }
  }
}

/* Traefik's toLog for a string: "-" (or `"-"`) when absent or empty. */
static void put_clf_str(wh_strbuf *out, const char *s, size_t n, bool quoted) {
  if (!s || n == 0) {
    if (quoted)
      PUT_LIT(out, "\"-\"");
    else
      putc1(out, '-');
    return;
  }
  if (quoted)
    putc1(out, '"');
  put_clf_escaped(out, s, n);
  if (quoted)
    putc1(out, '"');
}

/* ASCII bytes Go's HTML-safe encoding/json writes as they are, DEL
 * included (the ranges skip '"' 0x22, '&' 0x26, '<' 0x3c, '>' 0x3e and '\\'
 * 0x5c); bytes >= 0x80 are checked as UTF-8 separately. */
static const unsigned char json_plain[256] = {[0x20 ... 0x21] = 1, [0x23 ... 0x25] = 1,
                                              [0x27 ... 0x3b] = 1, [0x3d] = 1,
                                              [0x3f ... 0x5b] = 1, [0x5d ... 0x7f] = 1};

/* The escape for the ASCII byte c that json_plain rejects. */
static void put_json_escape(wh_strbuf *out, unsigned char c) {
  switch (c) {
  case '"':
    PUT_LIT(out, "\\\"");
    break;
  case '\\':
    PUT_LIT(out, "\\\\");
    break;
  case '\n':
    PUT_LIT(out, "\\n");
    break;
  case '\r':
    PUT_LIT(out, "\\r");
    break;
  case '\t':
    PUT_LIT(out, "\\t");
    break;
  case '\b':
    PUT_LIT(out, "\\b");
    break;
  case '\f':
    PUT_LIT(out, "\\f");
    break;
  default: {
    char e[6] = {'\\', 'u', '0', '0', hexdig[c >> 4], hexdig[c & 15]};
    put(out, e, 6);
  }
  }
}

/* The contents of a JSON string as Go's encoding/json writes them
 * (HTML-safe, U+FFFD for invalid UTF-8, U+2028/U+2029 escaped). */
static void put_json_chars(wh_strbuf *out, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, start = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (json_plain[c]) {
      i++;
      continue;
    }
    uint32_t cp = c;
    size_t len = c < 0x80 ? 1 : wh_utf8_seq(p + i, n - i, &cp);
    if (len > 1 && cp != 0x2028 && cp != 0x2029) {
      i += len; /* valid UTF-8 stays in the run */
      continue;
    }
    put(out, s + start, i - start);
    if (len == 0)
      PUT_LIT(out, "\\ufffd");
    else if (len > 1)
      put(out, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
    else
      put_json_escape(out, c);
    i += len ? len : 1;
    start = i;
  }
  put(out, s + start, i - start);
}

static void put_json_str(wh_strbuf *out, const char *s, size_t n) {
  putc1(out, '"');
  put_json_chars(out, s, n);
  putc1(out, '"');
}

/* The canonical form of a header name as JSON string contents: token names
 * canonicalised (the only token byte JSON escapes is '&'), others escaped
 * as they are. */
static void put_canon_json(wh_strbuf *out, const char *name, size_t n, bool token) {
  if (!token) {
    put_json_chars(out, name, n);
    return;
  }
  bool upper = true;
  for (size_t i = 0; i < n; i++) {
    char c = canon_byte(name[i], upper);
    if (c == '&')
      PUT_LIT(out, "\\u0026");
    else
      putc1(out, c);
    upper = c == '-';
  }
}

/* A float64 as Go's encoding/json writes it: the shortest decimal that reads
 * back exactly, in %f style unless the exponent is < -6 or >= 21. (GzipRatio
 * only, present when a middleware compressed: printf is acceptable here.) */
static void put_json_float(wh_strbuf *out, double v) {
  if (v == 0) {
    putc1(out, '0');
    return;
  }
  char e[40];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(e, sizeof(e), "%.*e", prec - 1, v);
    if (strtod(e, NULL) == v)
      break;
  }
  char digits[24];
  size_t nd = 0;
  const char *p = e;
  bool neg = *p == '-';
  if (neg)
    p++;
  for (; *p && *p != 'e'; p++)
    if (*p >= '0' && *p <= '9')
      digits[nd++] = *p;
  int exp = atoi(p + 1);
  while (nd > 1 && digits[nd - 1] == '0')
    nd--;
  if (neg)
    putc1(out, '-');
  if (exp < -6 || exp >= 21) {
    putc1(out, digits[0]);
    if (nd > 1) {
      putc1(out, '.');
      put(out, digits + 1, nd - 1);
    }
    /* Go writes the exponent unpadded: e+21, e-7 */
    putc1(out, 'e');
    putc1(out, exp < 0 ? '-' : '+');
    put_u64(out, (uint64_t)(exp < 0 ? -exp : exp));
    return;
  }
  if (exp < 0) {
    PUT_LIT(out, "0.");
    for (int i = 0; i < -exp - 1; i++)
      putc1(out, '0');
    put(out, digits, nd);
    return;
  }
  for (int i = 0; i <= exp; i++)
    putc1(out, (size_t)i < nd ? digits[i] : '0');
  if (nd > (size_t)exp + 1) {
    putc1(out, '.');
    put(out, digits + exp + 1, nd - (size_t)exp - 1);
  }
}

/* ---------------------------------------------------------------------------
 * Time, as Go formats it */

/* The local UTC offset, asked of the C library once per quarter hour per
 * thread (offsets change on quarter-hour boundaries; localtime_r takes a
 * process-wide lock). */
static long local_offset(int64_t secs) {
  static _Thread_local int64_t bucket = INT64_MIN;
  static _Thread_local long off;
  int64_t b = wh_fmt_floor_div(secs, 900);
  if (b != bucket) {
    time_t t = (time_t)secs;
    struct tm tm;
    off = localtime_r(&t, &tm) ? tm.tm_gmtoff : 0;
    bucket = b;
  }
  return off;
}

/* The text of one second at one offset: the part of a timestamp that all
 * the lines of that second share. One per use, so that StartUTC, StartLocal
 * and the end time do not evict each other. */
typedef enum { TC_CLF, TC_START_LOCAL, TC_START_UTC, TC_END, TC_COUNT } time_use;

typedef struct time_cache {
  int64_t secs;
  long off;
  bool valid;
  unsigned char len, zone_len;
  char text[WH_FMT_TIME_MAX]; /* CLF: the whole stamp; RFC 3339: up to seconds */
  char zone[8];               /* RFC 3339 only */
} time_cache;

/* Per thread, as the lines are: no lock, no sharing between workers. */
static _Thread_local time_cache time_caches[TC_COUNT];

static const time_cache *cached_time(time_use u, int64_t secs, long off) {
  time_cache *c = &time_caches[u];
  if (!c->valid || c->secs != secs || c->off != off) {
    if (u == TC_CLF) {
      c->len = (unsigned char)wh_fmt_clf_time(c->text, secs, off);
    } else {
      c->len = (unsigned char)wh_fmt_rfc3339_secs(c->text, secs, off);
      c->zone_len = (unsigned char)wh_fmt_rfc3339_zone(c->zone, off);
    }
    c->secs = secs;
    c->off = off;
    c->valid = true;
  }
  return c;
}

/* "02/Jan/2006:15:04:05 -0700" */
static void put_clf_time(wh_strbuf *out, int64_t unix_ns, long off) {
  const time_cache *c = cached_time(TC_CLF, wh_fmt_floor_div(unix_ns, 1000000000), off);
  put(out, c->text, c->len);
}

/* RFC 3339 in quotes as Go prints it: the fraction (nano) without trailing
 * zeros, "Z" for a zero offset. */
static void put_json_time(wh_strbuf *out, time_use u, int64_t unix_ns, long off, bool nano) {
  int64_t secs = wh_fmt_floor_div(unix_ns, 1000000000);
  const time_cache *c = cached_time(u, secs, off);
  putc1(out, '"');
  put(out, c->text, c->len);
  if (nano && room(out, 10))
    out->len += wh_fmt_frac_ns(out->data + out->len, (long)(unix_ns - secs * 1000000000));
  put(out, c->zone, c->zone_len);
  putc1(out, '"');
}

/* ---------------------------------------------------------------------------
 * The values of one line */

typedef struct span {
  const char *p;
  size_t n;
} span;

static span sp(const char *s) {
  return (span){s, s ? strlen(s) : 0};
}

/* Go's net.SplitHostPort, failing as Traefik's silentSplitHostPort does:
 * the whole value as host and "-" as port. */
static void split_host_port(const char *s, span *host, span *port) {
  size_t n = s ? strlen(s) : 0;
  *host = (span){s, n};
  *port = sp("-");
  if (n == 0)
    return;
  if (s[0] == '[') {
    const char *rb = memchr(s, ']', n);
    if (!rb || rb[1] != ':' || memchr(s + 1, '[', (size_t)(rb - s - 1)))
      return;
    *host = (span){s + 1, (size_t)(rb - s - 1)};
    *port = sp(rb + 2);
    return;
  }
  const char *colon = strrchr(s, ':');
  if (!colon || memchr(s, ':', (size_t)(colon - s)) || memchr(s, '[', n) || memchr(s, ']', n))
    return;
  *host = (span){s, (size_t)(colon - s)};
  *port = sp(colon + 1);
}

typedef struct line_vals {
  char client_addr[INET6_ADDRSTRLEN + 16];
  char client_ip[INET6_ADDRSTRLEN];
  char client_port[8];
  size_t addr_len, ip_len, port_len;
  span client_host;
  span req_host, req_port;
  span path;
  char proto[2 * WH_FMT_INT_MAX + 8];
  size_t proto_len;
} line_vals;

/* inet_ntop of the last IPv6 peer this thread saw: a connection's requests
 * come from one address, and IPv6 text is the slow case. */
static _Thread_local struct {
  bool valid;
  struct in6_addr addr;
  char text[INET6_ADDRSTRLEN];
} last_ip6;

static void peer_strings(const struct sockaddr *sa, line_vals *v) {
  v->ip_len = v->port_len = v->addr_len = 0;
  v->client_ip[0] = v->client_port[0] = v->client_addr[0] = 0;
  if (!sa)
    return;
  bool bracket = false;
  unsigned port;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    v->ip_len = wh_fmt_ipv4(v->client_ip, (const unsigned char *)&in->sin_addr);
    port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    /* Go prints an IPv4-mapped address in dotted form, without brackets */
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      v->ip_len = wh_fmt_ipv4(v->client_ip, &in6->sin6_addr.s6_addr[12]);
    } else {
      if (!last_ip6.valid || memcmp(&last_ip6.addr, &in6->sin6_addr, sizeof(last_ip6.addr))) {
        if (!inet_ntop(AF_INET6, &in6->sin6_addr, last_ip6.text, sizeof(last_ip6.text)))
          last_ip6.text[0] = 0;
        last_ip6.addr = in6->sin6_addr;
        last_ip6.valid = true;
      }
      v->ip_len = strlen(last_ip6.text);
      memcpy(v->client_ip, last_ip6.text, v->ip_len);
      bracket = true;
    }
    port = ntohs(in6->sin6_port);
  } else {
    return;
  }
  v->client_ip[v->ip_len] = 0;
  v->port_len = wh_fmt_u64(v->client_port, port);
  v->client_port[v->port_len] = 0;
  char *a = v->client_addr;
  size_t o = 0;
  if (bracket)
    a[o++] = '[';
  memcpy(a + o, v->client_ip, v->ip_len);
  o += v->ip_len;
  if (bracket)
    a[o++] = ']';
  a[o++] = ':';
  memcpy(a + o, v->client_port, v->port_len);
  o += v->port_len;
  a[o] = 0;
  v->addr_len = o;
}

static void compute_vals(const wh_xrec *r, line_vals *v) {
  peer_strings(r->peer, v);
  v->client_host = (span){v->client_ip, v->ip_len};
  if (r->fwd_trusted) {
    /* Traefik: Header.Get, i.e. the first X-Forwarded-For field, raw */
    span x = sp(r->xff);
    if (x.n)
      v->client_host = x;
  }
  if (r->host && *r->host) {
    split_host_port(r->host, &v->req_host, &v->req_port);
  } else {
    v->req_host = v->req_port = (span){NULL, 0};
  }
  /* Traefik logs the URL without scheme and authority (absolute-form) */
  const char *t = r->target ? r->target : "";
  if (t[0] != '/' && t[0] != '*') {
    const char *ss = strstr(t, "://");
    if (ss) {
      const char *slash = strpbrk(ss + 3, "/?");
      t = slash ? slash : "/";
    }
  }
  v->path = sp(t);
  if (r->http_major >= 2) {
    memcpy(v->proto, "HTTP/2.0", 8);
    v->proto_len = 8;
  } else {
    size_t o = 5;
    memcpy(v->proto, "HTTP/", 5);
    o += wh_fmt_i64(v->proto + o, r->http_major);
    v->proto[o++] = '.';
    o += wh_fmt_i64(v->proto + o, r->http_minor);
    v->proto_len = o;
  }
}

/* ---------------------------------------------------------------------------
 * Configuration */

static bool parse_int(const char *s, size_t n, int *out) {
  if (n == 0 || n > 3)
    return false;
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

/* Traefik's NewHTTPCodeRanges: entries "200" or "300-302", each possibly a
 * comma-separated list. */
static int parse_ranges(wh_access_log *l, const wh_strlist *codes, char *err, size_t errlen) {
  for (size_t i = 0; i < codes->n; i++) {
    const char *s = codes->v[i];
    while (s && *s) {
      const char *end = strchr(s, ',');
      size_t n = end ? (size_t)(end - s) : strlen(s);
      const char *dash = memchr(s, '-', n);
      code_range r;
      bool ok = dash ? parse_int(s, (size_t)(dash - s), &r.lo) &&
                           parse_int(dash + 1, n - (size_t)(dash - s) - 1, &r.hi)
                     : parse_int(s, n, &r.lo);
      if (!dash)
        r.hi = r.lo;
      if (!ok || r.lo > r.hi) {
        snprintf(err, errlen, "accessLog.filters.statusCodes: invalid entry \"%s\"", codes->v[i]);
        return WH_EINVAL;
      }
      code_range *nv = realloc(l->ranges, (l->nranges + 1) * sizeof(*nv));
      if (!nv) {
        snprintf(err, errlen, "out of memory");
        return WH_ENOMEM;
      }
      l->ranges = nv;
      l->ranges[l->nranges++] = r;
      s = end ? end + 1 : NULL;
    }
  }
  return WH_OK;
}

/* Traefik's checkFieldValue: keep/drop, anything else leaves the default. */
static bool field_mode(const char *v, bool dflt) {
  if (wh_strcaseeq(v, "keep"))
    return true;
  if (wh_strcaseeq(v, "drop"))
    return false;
  return dflt;
}

static hdr_mode header_mode_of(const char *v, hdr_mode dflt) {
  if (wh_strcaseeq(v, "keep"))
    return HDR_KEEP;
  if (wh_strcaseeq(v, "drop"))
    return HDR_DROP;
  if (wh_strcaseeq(v, "redact"))
    return HDR_REDACT;
  return dflt;
}

/* The rule for a header name (names match case-insensitively, as Traefik
 * matches canonical forms); NULL when the default applies. */
static const hdr_rule *find_rule(const wh_access_log *l, const char *name, size_t n) {
  for (size_t i = 0; i < l->nhdr_rules; i++)
    if (name_eq(l->hdr_rules[i].name, l->hdr_rules[i].len, name, n))
      return &l->hdr_rules[i];
  return NULL;
}

static int rule_cmp(const void *a, const void *b) {
  const hdr_rule *x = *(const hdr_rule *const *)a, *y = *(const hdr_rule *const *)b;
  return strcmp(x->canon, y->canon);
}

static int setup_headers(wh_access_log *l, const wh_accesslog_header_fields *h) {
  /* Traefik's defaults set headers.defaultMode to drop */
  l->hdr_default = HDR_DROP;
  if (h && h->default_mode && *h->default_mode)
    l->hdr_default = header_mode_of(h->default_mode, HDR_KEEP);
  size_t n = h ? h->names.n : 0;
  if (n) {
    l->hdr_rules = calloc(n, sizeof(*l->hdr_rules));
    l->hdr_sorted = calloc(n, sizeof(*l->hdr_sorted));
    if (!l->hdr_rules || !l->hdr_sorted)
      return WH_ENOMEM;
  }
  bool all_tokens = true;
  for (size_t i = 0; i < n; i++) {
    const char *name = h->names.keys[i];
    size_t len = strlen(name);
    if (find_rule(l, name, len))
      continue; /* an earlier rule of that name wins */
    hdr_rule *r = &l->hdr_rules[l->nhdr_rules++];
    r->name = name;
    r->len = len;
    r->mode = header_mode_of(h->names.vals[i], l->hdr_default);
    r->redact = r->mode == HDR_REDACT || wh_header_is_credential(name);
    r->token = is_token(name, len);
    wh_strbuf c = {0}, j = {0};
    bool upper = true;
    for (size_t k = 0; k < len; k++) {
      char ch = r->token ? canon_byte(name[k], upper) : name[k];
      putc1(&c, ch);
      upper = ch == '-';
    }
    put_canon_json(&j, name, len, r->token);
    if (!room(&c, 0) || !room(&j, 0)) {
      wh_strbuf_free(&c);
      wh_strbuf_free(&j);
      return WH_ENOMEM;
    }
    c.data[c.len] = j.data[j.len] = 0;
    r->canon = wh_strbuf_take(&c);
    r->jname_len = j.len;
    r->jname = wh_strbuf_take(&j);
    if (r->mode != HDR_DROP) {
      l->hdr_sorted[l->nhdr_sorted++] = r;
      all_tokens &= r->token;
    }
  }
  l->any_hdr = l->hdr_default != HDR_DROP || l->nhdr_sorted > 0;
  /* With headers dropped by default, the kept rules are the only headers a
   * line can show, and their keys' order is known now. A token rule name
   * matches only names with the same canonical form; a non-token name keeps
   * the record's spelling, which may sort differently: the per-line path. */
  l->hdr_by_rule = l->hdr_default == HDR_DROP && all_tokens;
  if (l->nhdr_sorted > 1)
    qsort(l->hdr_sorted, l->nhdr_sorted, sizeof(*l->hdr_sorted), rule_cmp);
  static const char *const clf_names[2] = {"Referer", "User-Agent"};
  for (int i = 0; i < 2; i++) {
    const hdr_rule *rule = find_rule(l, clf_names[i], strlen(clf_names[i]));
    l->clf_mode[i] = rule ? rule->mode : l->hdr_default;
  }
  return WH_OK;
}

static int jitem_cmp(const void *a, const void *b) {
  return strcmp(((const jitem *)a)->sort_name, ((const jitem *)b)->sort_name);
}

/* logrus's JSONFormatter writes the keys sorted. The set of keys a line can
 * have is fixed by the configuration, so the order is settled here. Header
 * keys ("request_X"...) sort as their prefix does against the fixed keys:
 * no fixed key starts with a group's prefix. */
static int setup_json(wh_access_log *l) {
  l->jitems = calloc(K_COUNT + 3 + HG_COUNT, sizeof(*l->jitems));
  if (!l->jitems)
    return WH_ENOMEM;
  size_t n = 0;
  for (int k = 0; k < K_COUNT; k++)
    if (l->keep[k])
      l->jitems[n++] = (jitem){.kind = JI_CORE, .which = k, .sort_name = key_names[k]};
  l->jitems[n++] = (jitem){.kind = JI_LEVEL, .sort_name = "level"};
  l->jitems[n++] = (jitem){.kind = JI_MSG, .sort_name = "msg"};
  l->jitems[n++] = (jitem){.kind = JI_TIME, .sort_name = "time"};
  for (int g = 0; g < HG_COUNT && l->any_hdr; g++)
    l->jitems[n++] = (jitem){.kind = JI_HEADERS, .which = g, .sort_name = group_prefix[g]};
  for (size_t i = 0; i < n; i++) {
    jitem *it = &l->jitems[i];
    if (it->kind != JI_HEADERS)
      it->key_len = (size_t)snprintf(it->key, sizeof(it->key), "\"%s\":", it->sort_name);
  }
  qsort(l->jitems, n, sizeof(*l->jitems), jitem_cmp);
  l->njitems = n;
  return WH_OK;
}

static int setup_fields(wh_access_log *l) {
  const wh_accesslog_fields *f = l->cfg->fields;
  bool dflt = f ? field_mode(f->default_mode, true) : true;
  for (int k = 0; k < K_COUNT; k++) {
    l->keep[k] = dflt;
    /* Traefik lower-cases the configured names and the keys: the match is
     * case-insensitive */
    for (size_t i = 0; f && i < f->names.n; i++)
      if (wh_strcaseeq(f->names.keys[i], key_names[k]))
        l->keep[k] = field_mode(f->names.vals[i], dflt);
  }
  if (setup_headers(l, f ? f->headers : NULL) != WH_OK)
    return WH_ENOMEM;
  /* CLF lines show only request headers */
  l->wants_resp = l->any_hdr && l->format == FMT_JSON;
  return l->format == FMT_JSON ? setup_json(l) : WH_OK;
}

static int open_log_file(const char *path) {
  return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

wh_access_log *wh_access_log_new(const wh_accesslog *cfg, int nworkers, char *err, size_t errlen) {
  if (errlen)
    err[0] = 0;
  if (!cfg) {
    snprintf(err, errlen, "no access log configuration");
    return NULL;
  }
  wh_access_log *l = calloc(1, sizeof(*l));
  if (!l) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  l->cfg = cfg;
  l->fd = -1;
  if (!cfg->format || !*cfg->format || strcmp(cfg->format, "common") == 0) {
    l->format = FMT_COMMON;
  } else if (strcmp(cfg->format, "genericCLF") == 0) {
    l->format = FMT_GENERIC_CLF;
  } else if (strcmp(cfg->format, "json") == 0) {
    l->format = FMT_JSON;
  } else {
    snprintf(err, errlen, "accessLog.format: invalid value \"%s\"", cfg->format);
    goto fail;
  }
  if (cfg->buffering_size < 0) {
    snprintf(err, errlen, "accessLog.bufferingSize: must not be negative");
    goto fail;
  }
  l->buffering = (size_t)cfg->buffering_size;
  l->add_internals = cfg->add_internals;
  if (cfg->filters) {
    if (parse_ranges(l, &cfg->filters->status_codes, err, errlen) != WH_OK)
      goto fail;
    l->retry_filter = cfg->filters->retry_attempts;
    l->min_duration = cfg->filters->min_duration;
    /* an empty filters section keeps everything, as in Traefik */
    l->filtering = l->nranges > 0 || l->retry_filter || l->min_duration > 0;
  }
  if (setup_fields(l) != WH_OK) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  if (nworkers < 1)
    nworkers = 1;
  l->slots = calloc((size_t)nworkers, sizeof(*l->slots));
  if (!l->slots) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  l->nslots = nworkers;
  if (cfg->file_path && *cfg->file_path) {
    l->path = wh_strdup(cfg->file_path);
    l->fd = open_log_file(cfg->file_path);
    if (!l->path || l->fd < 0) {
      char eb[128];
      snprintf(err, errlen, "cannot open the access log file %s: %s", cfg->file_path,
               strerror_r(errno, eb, sizeof(eb)));
      goto fail;
    }
    l->own_fd = true;
  } else {
    l->fd = STDOUT_FILENO;
  }
  return l;
fail:
  wh_access_log_free(l);
  return NULL;
}

bool wh_access_log_wants_resp_headers(const wh_access_log *l) {
  return l && l->wants_resp;
}

bool wh_access_log_wants_internals(const wh_access_log *l) {
  return l && l->add_internals;
}

/* ---------------------------------------------------------------------------
 * Headers */

/* The index of the first field of h named name (ASCII case-insensitively),
 * or h->n. */
static size_t find_header(const wh_headers *h, const char *name, size_t n) {
  size_t i = 0;
  while (i < h->n && !name_eq(h->v[i].name, h->v[i].name_len, name, n))
    i++;
  return i;
}

/* Traefik logs every field of a name joined with ",": the fields of h named
 * as h->v[first], as a JSON string (or "REDACTED"). Escaping each field on
 * its own gives the same bytes as escaping the joined value: a ',' is never
 * part of a UTF-8 sequence. */
static void put_json_header_value(wh_strbuf *out, const wh_headers *h, size_t first, bool redact) {
  if (redact) {
    PUT_LIT(out, "\"REDACTED\"");
    return;
  }
  const wh_header *f = &h->v[first];
  putc1(out, '"');
  for (size_t j = first; j < h->n; j++) {
    if (j > first && !name_eq(h->v[j].name, h->v[j].name_len, f->name, f->name_len))
      continue;
    if (j > first)
      putc1(out, ',');
    put_json_chars(out, h->v[j].value, h->v[j].value_len);
  }
  putc1(out, '"');
}

/* `,"<prefix><name>":` before a header member (no comma for the first). */
static void put_header_key(wh_strbuf *out, bool *first, hdr_group g, const char *jname,
                           size_t jlen) {
  if (!*first)
    putc1(out, ',');
  *first = false;
  putc1(out, '"');
  put(out, group_prefix[g], strlen(group_prefix[g]));
  put(out, jname, jlen);
  PUT_LIT(out, "\":");
}

/* A header worth a member in the per-line path. */
typedef struct hent {
  size_t i;
  bool token, redact;
} hent;

/* The per-line path (headers kept by default, or a non-token rule name):
 * the kept names of this record, each once, sorted by canonical form. The
 * list is on the stack unless the record has very many fields. */
static void put_json_headers_any(const wh_access_log *l, const wh_headers *h, hdr_group g,
                                 wh_strbuf *out, bool *first) {
  hent local[32];
  hent *e = h->n <= 32 ? local : malloc(h->n * sizeof(*e));
  if (!e)
    return;
  size_t m = 0;
  for (size_t i = 0; i < h->n; i++) {
    const wh_header *f = &h->v[i];
    if (find_header(h, f->name, f->name_len) < i)
      continue; /* an earlier field of that name stands for it */
    const hdr_rule *rule = find_rule(l, f->name, f->name_len);
    hdr_mode mode = rule ? rule->mode : l->hdr_default;
    if (mode == HDR_DROP)
      continue;
    hent n = {i, is_token(f->name, f->name_len),
              mode == HDR_REDACT || wh_header_is_credential(f->name)};
    /* insertion sort: a record has few fields */
    size_t p = m++;
    while (p > 0 && canon_cmp(&h->v[e[p - 1].i], e[p - 1].token, f, n.token) > 0) {
      e[p] = e[p - 1];
      p--;
    }
    e[p] = n;
  }
  for (size_t k = 0; k < m; k++) {
    const wh_header *f = &h->v[e[k].i];
    if (!*first)
      putc1(out, ',');
    *first = false;
    putc1(out, '"');
    put(out, group_prefix[g], strlen(group_prefix[g]));
    put_canon_json(out, f->name, f->name_len, e[k].token);
    PUT_LIT(out, "\":");
    put_json_header_value(out, h, e[k].i, e[k].redact);
  }
  if (e != local)
    free(e);
}

static void put_json_headers(const wh_access_log *l, const wh_headers *h, hdr_group g,
                             wh_strbuf *out, bool *first) {
  if (!h || h->n == 0)
    return;
  if (!l->hdr_by_rule) {
    put_json_headers_any(l, h, g, out, first);
    return;
  }
  for (size_t k = 0; k < l->nhdr_sorted; k++) {
    const hdr_rule *rule = l->hdr_sorted[k];
    size_t i = find_header(h, rule->name, rule->len);
    if (i == h->n)
      continue;
    put_header_key(out, first, g, rule->jname, rule->jname_len);
    put_json_header_value(out, h, i, rule->redact);
  }
}

/* CLF's Referer (which 0) and User-Agent (1) columns: the quoted value, or
 * "-" when absent, empty or dropped. */
static void put_clf_header(const wh_access_log *l, const wh_xrec *r, int which, wh_strbuf *out) {
  static const char *const names[2] = {"Referer", "User-Agent"};
  static const size_t lens[2] = {7, 10};
  const wh_headers *h = r->req_headers;
  hdr_mode mode = l->clf_mode[which];
  size_t first = h && mode != HDR_DROP ? find_header(h, names[which], lens[which]) : 0;
  if (!h || mode == HDR_DROP || first == h->n) {
    PUT_LIT(out, "\"-\"");
    return;
  }
  if (mode == HDR_REDACT) {
    PUT_LIT(out, "\"REDACTED\"");
    return;
  }
  size_t total = 0, count = 0;
  for (size_t j = first; j < h->n; j++) {
    if (name_eq(h->v[j].name, h->v[j].name_len, names[which], lens[which])) {
      total += h->v[j].value_len;
      count++;
    }
  }
  if (total + count - 1 == 0) {
    PUT_LIT(out, "\"-\"");
    return;
  }
  putc1(out, '"');
  for (size_t j = first; j < h->n; j++) {
    if (j > first && !name_eq(h->v[j].name, h->v[j].name_len, names[which], lens[which]))
      continue;
    if (j > first)
      putc1(out, ',');
    put_clf_escaped(out, h->v[j].value, h->v[j].value_len);
  }
  putc1(out, '"');
}

/* ---------------------------------------------------------------------------
 * Filters */

static bool keep_record(const wh_access_log *l, const wh_xrec *r) {
  if (r->internal && !l->add_internals)
    return false;
  if (!l->filtering)
    return true;
  for (size_t i = 0; i < l->nranges; i++)
    if (r->status >= l->ranges[i].lo && r->status <= l->ranges[i].hi)
      return true;
  if (l->retry_filter && r->retries > 0)
    return true;
  if (l->min_duration > 0 && r->duration_ns > (uint64_t)l->min_duration)
    return true;
  return false;
}

/* ---------------------------------------------------------------------------
 * CLF */

static void put_clf_num(wh_strbuf *out, bool keep, uint64_t v) {
  if (keep)
    put_u64(out, v);
  else
    putc1(out, '-');
}

static void format_clf(const wh_access_log *l, const wh_xrec *r, const line_vals *v,
                       wh_strbuf *out) {
  const bool *k = l->keep;
  span none = {NULL, 0};
  span host = k[K_CLIENT_HOST] ? v->client_host : none;
  put_clf_str(out, host.p, host.n, false);
  PUT_LIT(out, " - ");
  /* Traefik's ClientUsername is "-" when nobody authenticated */
  span user = k[K_CLIENT_USERNAME] ? sp(r->username) : none;
  put_clf_str(out, user.p, user.n, false);
  PUT_LIT(out, " [");
  if (k[K_START_UTC])
    put_clf_time(out, r->start_unix_ns, 0);
  else if (k[K_START_LOCAL])
    put_clf_time(out, r->start_unix_ns,
                 local_offset(wh_fmt_floor_div(r->start_unix_ns, 1000000000)));
  else
    putc1(out, '-');
  PUT_LIT(out, "] \"");
  span m = k[K_REQUEST_METHOD] ? sp(r->method) : none;
  span p = k[K_REQUEST_PATH] ? v->path : none;
  span pr = k[K_REQUEST_PROTOCOL] ? (span){v->proto, v->proto_len} : none;
  put_clf_str(out, m.p, m.n, false);
  putc1(out, ' ');
  put_clf_str(out, p.p, p.n, false);
  putc1(out, ' ');
  put_clf_str(out, pr.p, pr.n, false);
  PUT_LIT(out, "\" ");
  put_clf_num(out, k[K_DOWNSTREAM_STATUS], (uint64_t)(r->status < 0 ? 0 : r->status));
  putc1(out, ' ');
  put_clf_num(out, k[K_DOWNSTREAM_CONTENT_SIZE], r->resp_bytes);
  putc1(out, ' ');
  put_clf_header(l, r, 0, out);
  putc1(out, ' ');
  put_clf_header(l, r, 1, out);
  if (l->format == FMT_GENERIC_CLF) {
    putc1(out, '\n');
    return;
  }
  putc1(out, ' ');
  put_clf_num(out, k[K_REQUEST_COUNT], r->request_count);
  putc1(out, ' ');
  span rn = k[K_ROUTER_NAME] ? sp(r->router) : none;
  put_clf_str(out, rn.p, rn.n, true);
  putc1(out, ' ');
  span su = k[K_SERVICE_URL] ? sp(r->service_url) : none;
  put_clf_str(out, su.p, su.n, true);
  putc1(out, ' ');
  put_u64(out, k[K_DURATION] ? r->duration_ns / 1000000 : 0);
  PUT_LIT(out, "ms\n");
}

/* ---------------------------------------------------------------------------
 * JSON (logrus's JSONFormatter: keys sorted, plus level, msg and time) */

static void put_json_span(wh_strbuf *out, span s) {
  put_json_str(out, s.p ? s.p : "", s.p ? s.n : 0);
}

/* The value of core field k, or false (nothing written) when the record
 * has none: Traefik leaves such keys out of the line. */
static bool put_json_core(const wh_xrec *r, const line_vals *v, core_key k, wh_strbuf *out) {
  bool has_host = r->host && *r->host;
  switch (k) {
  case K_CLIENT_ADDR:
    put_json_str(out, v->client_addr, v->addr_len);
    return true;
  case K_CLIENT_HOST:
    put_json_span(out, v->client_host);
    return true;
  case K_CLIENT_PORT:
    if (v->port_len)
      put_json_str(out, v->client_port, v->port_len);
    else
      PUT_LIT(out, "\"-\"");
    return true;
  case K_CLIENT_USERNAME:
    if (r->username && *r->username)
      put_json_span(out, sp(r->username));
    else
      PUT_LIT(out, "\"-\"");
    return true;
  case K_DOWNSTREAM_CONTENT_SIZE:
    put_u64(out, r->resp_bytes);
    return true;
  case K_DOWNSTREAM_STATUS:
    put_i64(out, r->status);
    return true;
  case K_DURATION:
    put_u64(out, r->duration_ns);
    return true;
  case K_GZIP_RATIO:
    /* Traefik v3 initialises the origin fields to 0 at the entry point, so
     * the ratio is there (0) when wharf answered itself */
    if (r->resp_bytes == 0 || r->resp_bytes == r->origin_bytes)
      return false;
    put_json_float(out, (double)r->origin_bytes / (double)r->resp_bytes);
    return true;
  case K_ORIGIN_CONTENT_SIZE:
    put_u64(out, r->origin_bytes);
    return true;
  case K_ORIGIN_DURATION:
    put_u64(out, r->origin_duration_ns);
    return true;
  case K_ORIGIN_STATUS:
    put_i64(out, r->origin_status);
    return true;
  case K_OVERHEAD:
    put_i64(out, (int64_t)r->duration_ns - (int64_t)r->origin_duration_ns);
    return true;
  case K_REQUEST_ADDR:
    if (has_host)
      put_json_span(out, sp(r->host));
    return has_host;
  case K_REQUEST_HOST:
    if (has_host)
      put_json_span(out, v->req_host);
    return has_host;
  case K_REQUEST_PORT:
    if (has_host)
      put_json_span(out, v->req_port);
    return has_host;
  case K_REQUEST_CONTENT_SIZE:
    put_u64(out, r->req_bytes);
    return true;
  case K_REQUEST_COUNT:
    put_u64(out, r->request_count);
    return true;
  case K_REQUEST_METHOD:
    put_json_span(out, sp(r->method));
    return true;
  case K_REQUEST_PATH:
    put_json_span(out, v->path);
    return true;
  case K_REQUEST_PROTOCOL:
    put_json_str(out, v->proto, v->proto_len);
    return true;
  case K_REQUEST_SCHEME:
    if (r->tls)
      PUT_LIT(out, "\"https\"");
    else
      PUT_LIT(out, "\"http\"");
    return true;
  case K_RETRY_ATTEMPTS:
    put_u64(out, r->retries);
    return true;
  case K_ROUTER_NAME:
    if (r->router)
      put_json_span(out, sp(r->router));
    return r->router != NULL;
  case K_SERVICE_ADDR:
    if (r->service_addr)
      put_json_span(out, sp(r->service_addr));
    return r->service_addr != NULL;
  case K_SERVICE_NAME:
    if (r->service)
      put_json_span(out, sp(r->service));
    return r->service != NULL;
  case K_SERVICE_URL:
    if (r->service_url)
      put_json_span(out, sp(r->service_url));
    return r->service_url != NULL;
  case K_START_LOCAL:
    put_json_time(out, TC_START_LOCAL, r->start_unix_ns,
                  local_offset(wh_fmt_floor_div(r->start_unix_ns, 1000000000)), true);
    return true;
  case K_START_UTC:
    put_json_time(out, TC_START_UTC, r->start_unix_ns, 0, true);
    return true;
  case K_TLS_CIPHER:
    if (r->tls)
      put_json_span(out, sp(r->tls_cipher));
    return r->tls;
  case K_TLS_CLIENT_SUBJECT:
    if (r->tls_client_subject)
      put_json_span(out, sp(r->tls_client_subject));
    return r->tls_client_subject != NULL;
  case K_TLS_VERSION:
    if (r->tls)
      put_json_span(out, sp(r->tls_version));
    return r->tls;
  case K_ENTRY_POINT_NAME:
    if (r->entrypoint)
      put_json_span(out, sp(r->entrypoint));
    return r->entrypoint != NULL;
  case K_COUNT:
    break;
  }
  return false;
}

static void format_json(const wh_access_log *l, const wh_xrec *r, const line_vals *v,
                        wh_strbuf *out) {
  bool first = true;
  putc1(out, '{');
  for (size_t i = 0; i < l->njitems; i++) {
    const jitem *it = &l->jitems[i];
    if (it->kind == JI_HEADERS) {
      if (it->which == HG_REQUEST)
        put_json_headers(l, r->req_headers, HG_REQUEST, out, &first);
      else if (it->which == HG_DOWNSTREAM)
        put_json_headers(l, r->resp_headers, HG_DOWNSTREAM, out, &first);
      else if (r->origin_status != 0)
        put_json_headers(l, r->resp_headers, HG_ORIGIN, out, &first);
      continue;
    }
    /* the key goes first; an absent value takes it back */
    size_t mark = out->len;
    if (!first)
      putc1(out, ',');
    put(out, it->key, it->key_len);
    bool present = true;
    if (it->kind == JI_LEVEL) {
      PUT_LIT(out, "\"info\"");
    } else if (it->kind == JI_MSG) {
      PUT_LIT(out, "\"\"");
    } else if (it->kind == JI_TIME) {
      /* logrus stamps the entry when it is written: the exchange's end */
      int64_t end_s = wh_fmt_floor_div(r->start_unix_ns + (int64_t)r->duration_ns, 1000000000);
      put_json_time(out, TC_END, end_s * 1000000000, local_offset(end_s), false);
    } else {
      present = put_json_core(r, v, (core_key)it->which, out);
    }
    if (present)
      first = false;
    else
      out->len = mark;
  }
  PUT_LIT(out, "}\n");
}

bool wh_access_log_format(const wh_access_log *l, const wh_xrec *r, wh_strbuf *out) {
  if (!l || !r || !keep_record(l, r))
    return false;
  line_vals v;
  compute_vals(r, &v);
  size_t before = out->len;
  /* most lines fit: the appends below then rarely leave their fast path */
  wh_strbuf_reserve(out, 512);
  if (l->format == FMT_JSON)
    format_json(l, r, &v, out);
  else
    format_clf(l, r, &v, out);
  if (out->data)
    out->data[out->len] = 0; /* room() always keeps a byte for it */
  return out->len > before;
}

/* ---------------------------------------------------------------------------
 * Output */

static void note_write_error(wh_access_log *l, int e) {
  atomic_fetch_add(&l->write_errors, 1);
  if (!atomic_exchange(&l->error_logged, true)) {
    char eb[128];
    wh_log_error("access log: cannot write to %s: %s (later write errors are not logged)",
                 l->path ? l->path : "stdout", strerror_r(e, eb, sizeof(eb)));
  }
}

/* One write(2) of whole lines (a short write, rare on a file, is completed
 * by further writes). A failure drops the lines: logging must never stall
 * or crash the data plane. */
static void write_lines(wh_access_log *l, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(l->fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      note_write_error(l, w < 0 ? errno : EIO);
      return;
    }
    p += w;
    n -= (size_t)w;
  }
}

static void flush_slot(wh_access_log *l, slot *s) {
  if (s->buf.len)
    write_lines(l, s->buf.data, s->buf.len);
  s->buf.len = 0;
  s->lines = 0;
}

void wh_access_log_record(wh_access_log *l, int worker, const wh_xrec *r) {
  if (!l || !r)
    return;
  if (worker < 0 || worker >= l->nslots) {
    /* a caller without a slot: a line of its own */
    wh_strbuf line = {0};
    if (wh_access_log_format(l, r, &line))
      write_lines(l, line.data, line.len);
    wh_strbuf_free(&line);
    return;
  }
  /* the slot's buffer keeps its capacity across flushes: no allocation per
   * line, buffered or not */
  slot *s = &l->slots[worker];
  if (!wh_access_log_format(l, r, &s->buf))
    return;
  s->lines++;
  if (s->lines >= l->buffering || s->buf.len >= SLOT_MAX_BYTES)
    flush_slot(l, s);
}

void wh_access_log_tick(wh_access_log *l, int worker) {
  if (!l || worker < 0 || worker >= l->nslots)
    return;
  flush_slot(l, &l->slots[worker]);
}

int wh_access_log_reopen(wh_access_log *l) {
  if (!l || !l->path)
    return WH_OK;
  int fd = open_log_file(l->path);
  if (fd < 0) {
    char eb[128];
    wh_log_error("access log: cannot reopen %s: %s", l->path, strerror_r(errno, eb, sizeof(eb)));
    return WH_EIO;
  }
  /* dup2 swaps the file under the descriptor atomically: a worker's write
   * lands wholly in the old file or wholly in the new one */
  int rc = dup2(fd, l->fd) < 0 ? WH_EIO : WH_OK;
  close(fd);
  if (rc == WH_OK)
    atomic_store(&l->error_logged, false);
  return rc;
}

void wh_access_log_free(wh_access_log *l) {
  if (!l)
    return;
  for (int i = 0; i < l->nslots; i++) {
    flush_slot(l, &l->slots[i]);
    wh_strbuf_free(&l->slots[i].buf);
  }
  if (l->own_fd && l->fd >= 0)
    close(l->fd);
  for (size_t i = 0; i < l->nhdr_rules; i++) {
    free(l->hdr_rules[i].canon);
    free(l->hdr_rules[i].jname);
  }
  free(l->hdr_rules);
  free(l->hdr_sorted);
  free(l->jitems);
  free(l->slots);
  free(l->ranges);
  free(l->path);
  free(l);
}
