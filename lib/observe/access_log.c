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
    [K_TLS_VERSION] = "TLSVersion",
    [K_ENTRY_POINT_NAME] = "entryPointName",
};

typedef struct code_range {
  int lo, hi;
} code_range;

typedef struct hdr_rule {
  const char *name; /* borrowed from the configuration */
  hdr_mode mode;
} hdr_rule;

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
  hdr_rule *hdr_rules;
  size_t nhdr_rules;
  bool wants_resp;
  slot *slots;
  int nslots;
  atomic_ullong write_errors;
  atomic_bool error_logged;
};

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

static void setup_fields(wh_access_log *l) {
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
  /* Traefik's defaults set headers.defaultMode to drop */
  l->hdr_default = HDR_DROP;
  const wh_accesslog_header_fields *h = f ? f->headers : NULL;
  if (h && h->default_mode && *h->default_mode)
    l->hdr_default = header_mode_of(h->default_mode, HDR_KEEP);
  bool any = l->hdr_default != HDR_DROP;
  if (h && h->names.n) {
    l->hdr_rules = calloc(h->names.n, sizeof(*l->hdr_rules));
    if (l->hdr_rules) {
      l->nhdr_rules = h->names.n;
      for (size_t i = 0; i < h->names.n; i++) {
        l->hdr_rules[i].name = h->names.keys[i];
        l->hdr_rules[i].mode = header_mode_of(h->names.vals[i], l->hdr_default);
        any |= l->hdr_rules[i].mode != HDR_DROP;
      }
    }
  }
  /* CLF lines show only request headers */
  l->wants_resp = any && l->format == FMT_JSON;
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
  setup_fields(l);
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
 * Time, as Go formats it */

typedef struct civil_time {
  int64_t year;
  int mon, day, hour, min, sec; /* mon 1..12 */
} civil_time;

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Our own conversion: glibc's gmtime_r/localtime_r take a process-wide lock,
 * and this runs on every worker for every line. (Days to civil date after
 * H. Hinnant's algorithm.) */
static void civil_from_unix(int64_t secs, civil_time *c) {
  int64_t days = floor_div(secs, 86400);
  int64_t rem = secs - days * 86400;
  c->hour = (int)(rem / 3600);
  c->min = (int)(rem % 3600 / 60);
  c->sec = (int)(rem % 60);
  int64_t z = days + 719468;
  int64_t era = floor_div(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  c->day = (int)(doy - (153 * mp + 2) / 5 + 1);
  c->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
  c->year = yoe + era * 400 + (c->mon <= 2);
}

/* The local UTC offset, asked of the C library once per quarter hour per
 * thread (offsets change on quarter-hour boundaries). */
static long local_offset(int64_t secs) {
  static _Thread_local int64_t bucket = INT64_MIN;
  static _Thread_local long off;
  int64_t b = floor_div(secs, 900);
  if (b != bucket) {
    time_t t = (time_t)secs;
    struct tm tm;
    off = localtime_r(&t, &tm) ? tm.tm_gmtoff : 0;
    bucket = b;
  }
  return off;
}

static const char *const month_abbr[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* "02/Jan/2006:15:04:05 -0700" */
static void put_clf_time(wh_strbuf *out, int64_t unix_ns, long off) {
  civil_time c;
  civil_from_unix(floor_div(unix_ns, 1000000000) + off, &c);
  long a = off < 0 ? -off : off;
  wh_strbuf_printf(out, "%02d/%s/%04lld:%02d:%02d:%02d %c%02ld%02ld", c.day, month_abbr[c.mon - 1],
                   (long long)c.year, c.hour, c.min, c.sec, off < 0 ? '-' : '+', a / 3600,
                   a % 3600 / 60);
}

/* RFC 3339 as Go prints it: fraction (nano) without trailing zeros, "Z" for
 * a zero offset. */
static void put_rfc3339(wh_strbuf *out, int64_t unix_ns, long off, bool nano) {
  int64_t secs = floor_div(unix_ns, 1000000000);
  long frac = (long)(unix_ns - secs * 1000000000);
  civil_time c;
  civil_from_unix(secs + off, &c);
  wh_strbuf_printf(out, "%04lld-%02d-%02dT%02d:%02d:%02d", (long long)c.year, c.mon, c.day, c.hour,
                   c.min, c.sec);
  if (nano && frac) {
    char f[16];
    int n = snprintf(f, sizeof(f), ".%09ld", frac);
    while (n > 1 && f[n - 1] == '0')
      n--;
    wh_strbuf_append(out, f, (size_t)n);
  }
  if (off == 0) {
    wh_strbuf_putc(out, 'Z');
  } else {
    long a = off < 0 ? -off : off;
    wh_strbuf_printf(out, "%c%02ld:%02ld", off < 0 ? '-' : '+', a / 3600, a % 3600 / 60);
  }
}

/* ---------------------------------------------------------------------------
 * Escaping */

static const char hexdig[] = "0123456789abcdef";

/* CLF: `"` as `\"` (Traefik's quoting), `\` as `\\` and control bytes as
 * \xHH, so no value can end a field or a line early. */
static void put_clf_escaped(wh_strbuf *out, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      wh_strbuf_append(out, e, 2);
    } else if (c < 0x20 || c == 0x7f) {
      char e[4] = {'\\', 'x', hexdig[c >> 4], hexdig[c & 15]};
      wh_strbuf_append(out, e, 4);
    } else {
      wh_strbuf_putc(out, (char)c);
    }
  }
}

/* Traefik's toLog for a string: "-" (or `"-"`) when absent or empty. */
static void put_clf_str(wh_strbuf *out, const char *s, size_t n, bool quoted) {
  if (!s || n == 0) {
    wh_strbuf_puts(out, quoted ? "\"-\"" : "-");
    return;
  }
  if (quoted)
    wh_strbuf_putc(out, '"');
  put_clf_escaped(out, s, n);
  if (quoted)
    wh_strbuf_putc(out, '"');
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned char c = s[0];
  size_t len;
  uint32_t v, min;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if ((c & 0xe0) == 0xc0) {
    len = 2, v = c & 0x1f, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3, v = c & 0x0f, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    v = (v << 6) | (s[i] & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
    return 0;
  *cp = v;
  return len;
}

/* A JSON string as Go's encoding/json writes it (HTML-safe, U+FFFD for
 * invalid UTF-8). */
static void put_json_str(wh_strbuf *out, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  wh_strbuf_putc(out, '"');
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    uint32_t cp;
    size_t len = utf8_len(p + i, n - i, &cp);
    if (len == 0) {
      wh_strbuf_puts(out, "\\ufffd");
      i++;
      continue;
    }
    if (len > 1) {
      if (cp == 0x2028 || cp == 0x2029)
        wh_strbuf_printf(out, "\\u%04x", (unsigned)cp);
      else
        wh_strbuf_append(out, s + i, len);
      i += len;
      continue;
    }
    switch (c) {
    case '"':
      wh_strbuf_puts(out, "\\\"");
      break;
    case '\\':
      wh_strbuf_puts(out, "\\\\");
      break;
    case '\n':
      wh_strbuf_puts(out, "\\n");
      break;
    case '\r':
      wh_strbuf_puts(out, "\\r");
      break;
    case '\t':
      wh_strbuf_puts(out, "\\t");
      break;
    case '\b':
      wh_strbuf_puts(out, "\\b");
      break;
    case '\f':
      wh_strbuf_puts(out, "\\f");
      break;
    default:
      if (c < 0x20 || c == '<' || c == '>' || c == '&')
        wh_strbuf_printf(out, "\\u00%c%c", hexdig[c >> 4], hexdig[c & 15]);
      else
        wh_strbuf_putc(out, (char)c);
    }
    i++;
  }
  wh_strbuf_putc(out, '"');
}

/* A float64 as Go's encoding/json writes it: the shortest decimal that reads
 * back exactly, in %f style unless the exponent is < -6 or >= 21. */
static void put_json_float(wh_strbuf *out, double v) {
  if (v == 0) {
    wh_strbuf_putc(out, '0');
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
    wh_strbuf_putc(out, '-');
  if (exp < -6 || exp >= 21) {
    wh_strbuf_putc(out, digits[0]);
    if (nd > 1) {
      wh_strbuf_putc(out, '.');
      wh_strbuf_append(out, digits + 1, nd - 1);
    }
    wh_strbuf_printf(out, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    /* Go trims e-07 to e-7 */
    if (exp < 0 && -exp < 10) {
      out->data[out->len - 2] = out->data[out->len - 1];
      out->data[--out->len] = 0;
    }
    return;
  }
  if (exp < 0) {
    wh_strbuf_puts(out, "0.");
    for (int i = 0; i < -exp - 1; i++)
      wh_strbuf_putc(out, '0');
    wh_strbuf_append(out, digits, nd);
    return;
  }
  for (int i = 0; i <= exp; i++)
    wh_strbuf_putc(out, (size_t)i < nd ? digits[i] : '0');
  if (nd > (size_t)exp + 1) {
    wh_strbuf_putc(out, '.');
    wh_strbuf_append(out, digits + exp + 1, nd - (size_t)exp - 1);
  }
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
  span client_host;
  span req_host, req_port;
  span path;
  char proto[24];
} line_vals;

static void peer_strings(const struct sockaddr *sa, line_vals *v) {
  v->client_ip[0] = v->client_port[0] = v->client_addr[0] = 0;
  if (!sa)
    return;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in->sin_addr, v->client_ip, sizeof(v->client_ip));
    snprintf(v->client_port, sizeof(v->client_port), "%u", ntohs(in->sin_port));
    snprintf(v->client_addr, sizeof(v->client_addr), "%s:%s", v->client_ip, v->client_port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    /* Go prints an IPv4-mapped address in dotted form, without brackets */
    bool mapped = IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
    if (mapped)
      inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], v->client_ip, sizeof(v->client_ip));
    else
      inet_ntop(AF_INET6, &in6->sin6_addr, v->client_ip, sizeof(v->client_ip));
    snprintf(v->client_port, sizeof(v->client_port), "%u", ntohs(in6->sin6_port));
    snprintf(v->client_addr, sizeof(v->client_addr), mapped ? "%s:%s" : "[%s]:%s", v->client_ip,
             v->client_port);
  }
}

static void compute_vals(const wh_xrec *r, line_vals *v) {
  peer_strings(r->peer, v);
  v->client_host = sp(v->client_ip);
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
  if (r->http_major >= 2)
    snprintf(v->proto, sizeof(v->proto), "HTTP/2.0");
  else
    snprintf(v->proto, sizeof(v->proto), "HTTP/%d.%d", r->http_major, r->http_minor);
}

/* ---------------------------------------------------------------------------
 * Headers */

static hdr_mode header_mode(const wh_access_log *l, const char *name) {
  /* names are matched as Traefik matches canonical forms: case-insensitively */
  for (size_t i = 0; i < l->nhdr_rules; i++)
    if (wh_strcaseeq(l->hdr_rules[i].name, name))
      return l->hdr_rules[i].mode;
  return l->hdr_default;
}

static bool is_token_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Go's textproto.CanonicalMIMEHeaderKey ("user-agent" → "User-Agent"); a
 * name with a byte outside the token set is left as it is. */
static void put_canonical(wh_strbuf *out, const char *name) {
  for (const char *p = name; *p; p++) {
    if (!is_token_byte((unsigned char)*p)) {
      wh_strbuf_puts(out, name);
      return;
    }
  }
  bool upper = true;
  for (const char *p = name; *p; p++) {
    char c = *p;
    if (upper && c >= 'a' && c <= 'z')
      c = (char)(c - 32);
    else if (!upper && c >= 'A' && c <= 'Z')
      c = (char)(c + 32);
    wh_strbuf_putc(out, c);
    upper = c == '-';
  }
}

/* The value Traefik logs for field i of h: every field of that name joined
 * with ",", or REDACTED. Returns false when the header is dropped or when an
 * earlier field of the same name already stood for it. */
static bool header_value(const wh_access_log *l, const wh_headers *h, size_t i, wh_strbuf *val) {
  const char *name = h->v[i].name;
  for (size_t j = 0; j < i; j++)
    if (wh_strcaseeq(h->v[j].name, name))
      return false;
  hdr_mode m = header_mode(l, name);
  if (m == HDR_DROP)
    return false;
  val->len = 0;
  if (m == HDR_REDACT || wh_header_is_credential(name)) {
    wh_strbuf_puts(val, "REDACTED");
    return true;
  }
  bool first = true;
  for (size_t j = i; j < h->n; j++) {
    if (!wh_strcaseeq(h->v[j].name, name))
      continue;
    if (!first)
      wh_strbuf_putc(val, ',');
    wh_strbuf_append(val, h->v[j].value, h->v[j].value_len);
    first = false;
  }
  return true;
}

/* The logged value of one request header (CLF's Referer and User-Agent);
 * false when the header is absent or dropped. */
static bool request_header(const wh_access_log *l, const wh_xrec *r, const char *name,
                           wh_strbuf *val) {
  const wh_headers *h = r->req_headers;
  for (size_t i = 0; h && i < h->n; i++)
    if (wh_strcaseeq(h->v[i].name, name))
      return header_value(l, h, i, val);
  return false;
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
    wh_strbuf_printf(out, "%llu", (unsigned long long)v);
  else
    wh_strbuf_putc(out, '-');
}

static void format_clf(const wh_access_log *l, const wh_xrec *r, const line_vals *v,
                       wh_strbuf *out) {
  const bool *k = l->keep;
  span none = {NULL, 0};
  span host = k[K_CLIENT_HOST] ? v->client_host : none;
  put_clf_str(out, host.p, host.n, false);
  wh_strbuf_puts(out, " - ");
  /* Traefik's ClientUsername is "-" when nobody authenticated */
  put_clf_str(out, k[K_CLIENT_USERNAME] ? r->username : NULL,
              k[K_CLIENT_USERNAME] && r->username ? strlen(r->username) : 0, false);
  wh_strbuf_puts(out, " [");
  if (k[K_START_UTC])
    put_clf_time(out, r->start_unix_ns, 0);
  else if (k[K_START_LOCAL])
    put_clf_time(out, r->start_unix_ns, local_offset(floor_div(r->start_unix_ns, 1000000000)));
  else
    wh_strbuf_putc(out, '-');
  wh_strbuf_puts(out, "] \"");
  span m = k[K_REQUEST_METHOD] ? sp(r->method) : none;
  span p = k[K_REQUEST_PATH] ? v->path : none;
  span pr = k[K_REQUEST_PROTOCOL] ? sp(v->proto) : none;
  put_clf_str(out, m.p, m.n, false);
  wh_strbuf_putc(out, ' ');
  put_clf_str(out, p.p, p.n, false);
  wh_strbuf_putc(out, ' ');
  put_clf_str(out, pr.p, pr.n, false);
  wh_strbuf_puts(out, "\" ");
  put_clf_num(out, k[K_DOWNSTREAM_STATUS], (uint64_t)(r->status < 0 ? 0 : r->status));
  wh_strbuf_putc(out, ' ');
  put_clf_num(out, k[K_DOWNSTREAM_CONTENT_SIZE], r->resp_bytes);
  wh_strbuf_putc(out, ' ');
  wh_strbuf val = {0};
  static const char *const hdrs[] = {"Referer", "User-Agent"};
  for (size_t i = 0; i < 2; i++) {
    if (request_header(l, r, hdrs[i], &val))
      put_clf_str(out, val.data, val.len, true);
    else
      put_clf_str(out, NULL, 0, true);
    wh_strbuf_putc(out, i == 0 ? ' ' : '\n');
  }
  wh_strbuf_free(&val);
  if (l->format == FMT_GENERIC_CLF)
    return;
  out->data[out->len - 1] = ' ';
  put_clf_num(out, k[K_REQUEST_COUNT], r->request_count);
  wh_strbuf_putc(out, ' ');
  span rn = k[K_ROUTER_NAME] ? sp(r->router) : none;
  put_clf_str(out, rn.p, rn.n, true);
  wh_strbuf_putc(out, ' ');
  span su = k[K_SERVICE_URL] ? sp(r->service_url) : none;
  put_clf_str(out, su.p, su.n, true);
  wh_strbuf_printf(out, " %llums\n",
                   (unsigned long long)(k[K_DURATION] ? r->duration_ns / 1000000 : 0));
}

/* ---------------------------------------------------------------------------
 * JSON (logrus's JSONFormatter: keys sorted, plus level, msg and time) */

typedef struct jent {
  size_t koff, klen, soff, slen;
} jent;

typedef struct jobj {
  wh_strbuf keys, segs;
  jent *v;
  size_t n, cap;
  bool oom;
} jobj;

typedef struct jsorted {
  const char *k;
  size_t klen;
  const char *s;
  size_t slen;
} jsorted;

/* Starts member `key` (prefix + name, name canonicalised when canon); the
 * caller then appends the value to o->segs and calls jobj_end. */
static void jobj_begin(jobj *o, const char *prefix, const char *name, bool canon) {
  if (o->n == o->cap) {
    size_t nc = o->cap ? o->cap * 2 : 48;
    jent *nv = realloc(o->v, nc * sizeof(*nv));
    if (!nv) {
      o->oom = true;
      return;
    }
    o->v = nv;
    o->cap = nc;
  }
  jent *e = &o->v[o->n];
  e->koff = o->keys.len;
  wh_strbuf_puts(&o->keys, prefix);
  if (canon)
    put_canonical(&o->keys, name);
  else
    wh_strbuf_puts(&o->keys, name);
  e->klen = o->keys.len - e->koff;
  e->soff = o->segs.len;
  put_json_str(&o->segs, o->keys.data + e->koff, e->klen);
  wh_strbuf_putc(&o->segs, ':');
}

static void jobj_end(jobj *o) {
  if (o->oom || o->n == o->cap)
    return;
  jent *e = &o->v[o->n++];
  e->slen = o->segs.len - e->soff;
}

static void jstr(jobj *o, core_key k, const wh_access_log *l, span s) {
  if (!l->keep[k])
    return;
  jobj_begin(o, "", key_names[k], false);
  put_json_str(&o->segs, s.p ? s.p : "", s.p ? s.n : 0);
  jobj_end(o);
}

static void juint(jobj *o, core_key k, const wh_access_log *l, uint64_t v) {
  if (!l->keep[k])
    return;
  jobj_begin(o, "", key_names[k], false);
  wh_strbuf_printf(&o->segs, "%llu", (unsigned long long)v);
  jobj_end(o);
}

static void jint(jobj *o, core_key k, const wh_access_log *l, int64_t v) {
  if (!l->keep[k])
    return;
  jobj_begin(o, "", key_names[k], false);
  wh_strbuf_printf(&o->segs, "%lld", (long long)v);
  jobj_end(o);
}

static void jtime(jobj *o, core_key k, const wh_access_log *l, int64_t ns, long off) {
  if (!l->keep[k])
    return;
  jobj_begin(o, "", key_names[k], false);
  wh_strbuf_putc(&o->segs, '"');
  put_rfc3339(&o->segs, ns, off, true);
  wh_strbuf_putc(&o->segs, '"');
  jobj_end(o);
}

static void jheaders(jobj *o, const wh_access_log *l, const wh_headers *h, const char *prefix) {
  wh_strbuf val = {0};
  for (size_t i = 0; h && i < h->n; i++) {
    if (!header_value(l, h, i, &val))
      continue;
    jobj_begin(o, prefix, h->v[i].name, true);
    put_json_str(&o->segs, val.data, val.len);
    jobj_end(o);
  }
  wh_strbuf_free(&val);
}

static int jsorted_cmp(const void *a, const void *b) {
  const jsorted *x = a, *y = b;
  size_t n = x->klen < y->klen ? x->klen : y->klen;
  int c = memcmp(x->k, y->k, n);
  if (c)
    return c;
  return x->klen < y->klen ? -1 : x->klen > y->klen;
}

static void format_json(const wh_access_log *l, const wh_xrec *r, const line_vals *v,
                        wh_strbuf *out) {
  jobj o = {0};
  int64_t start_s = floor_div(r->start_unix_ns, 1000000000);
  int64_t end_ns = r->start_unix_ns + (int64_t)r->duration_ns;
  span none = {NULL, 0};

  jstr(&o, K_CLIENT_ADDR, l, sp(v->client_addr));
  jstr(&o, K_CLIENT_HOST, l, v->client_host);
  jstr(&o, K_CLIENT_PORT, l, v->client_port[0] ? sp(v->client_port) : sp("-"));
  jstr(&o, K_CLIENT_USERNAME, l, r->username && *r->username ? sp(r->username) : sp("-"));
  juint(&o, K_DOWNSTREAM_CONTENT_SIZE, l, r->resp_bytes);
  jint(&o, K_DOWNSTREAM_STATUS, l, r->status);
  juint(&o, K_DURATION, l, r->duration_ns);
  /* Traefik v3 initialises the origin fields to 0 at the entry point, so
   * they are present (0) when wharf answered itself */
  if (l->keep[K_GZIP_RATIO] && r->resp_bytes != 0 && r->resp_bytes != r->origin_bytes) {
    jobj_begin(&o, "", key_names[K_GZIP_RATIO], false);
    put_json_float(&o.segs, (double)r->origin_bytes / (double)r->resp_bytes);
    jobj_end(&o);
  }
  juint(&o, K_ORIGIN_CONTENT_SIZE, l, r->origin_bytes);
  juint(&o, K_ORIGIN_DURATION, l, r->origin_duration_ns);
  jint(&o, K_ORIGIN_STATUS, l, r->origin_status);
  jint(&o, K_OVERHEAD, l, (int64_t)r->duration_ns - (int64_t)r->origin_duration_ns);
  if (r->host && *r->host) {
    jstr(&o, K_REQUEST_ADDR, l, sp(r->host));
    jstr(&o, K_REQUEST_HOST, l, v->req_host);
    jstr(&o, K_REQUEST_PORT, l, v->req_port);
  }
  juint(&o, K_REQUEST_CONTENT_SIZE, l, r->req_bytes);
  juint(&o, K_REQUEST_COUNT, l, r->request_count);
  jstr(&o, K_REQUEST_METHOD, l, sp(r->method));
  jstr(&o, K_REQUEST_PATH, l, v->path);
  jstr(&o, K_REQUEST_PROTOCOL, l, sp(v->proto));
  jstr(&o, K_REQUEST_SCHEME, l, sp(r->tls ? "https" : "http"));
  juint(&o, K_RETRY_ATTEMPTS, l, r->retries);
  if (r->router)
    jstr(&o, K_ROUTER_NAME, l, sp(r->router));
  if (r->service_addr)
    jstr(&o, K_SERVICE_ADDR, l, sp(r->service_addr));
  if (r->service)
    jstr(&o, K_SERVICE_NAME, l, sp(r->service));
  if (r->service_url)
    jstr(&o, K_SERVICE_URL, l, sp(r->service_url));
  jtime(&o, K_START_LOCAL, l, r->start_unix_ns, local_offset(start_s));
  jtime(&o, K_START_UTC, l, r->start_unix_ns, 0);
  if (r->tls) {
    jstr(&o, K_TLS_CIPHER, l, r->tls_cipher ? sp(r->tls_cipher) : none);
    jstr(&o, K_TLS_VERSION, l, r->tls_version ? sp(r->tls_version) : none);
  }
  if (r->entrypoint)
    jstr(&o, K_ENTRY_POINT_NAME, l, sp(r->entrypoint));

  jheaders(&o, l, r->req_headers, "request_");
  if (r->resp_headers) {
    jheaders(&o, l, r->resp_headers, "downstream_");
    if (r->origin_status != 0)
      jheaders(&o, l, r->resp_headers, "origin_");
  }

  jobj_begin(&o, "", "level", false);
  wh_strbuf_puts(&o.segs, "\"info\"");
  jobj_end(&o);
  jobj_begin(&o, "", "msg", false);
  wh_strbuf_puts(&o.segs, "\"\"");
  jobj_end(&o);
  /* logrus stamps the entry when it is written: the exchange's end */
  int64_t end_s = floor_div(end_ns, 1000000000);
  jobj_begin(&o, "", "time", false);
  wh_strbuf_putc(&o.segs, '"');
  put_rfc3339(&o.segs, end_s * 1000000000, local_offset(end_s), false);
  wh_strbuf_putc(&o.segs, '"');
  jobj_end(&o);

  jsorted *s = o.n ? calloc(o.n, sizeof(*s)) : NULL;
  if (s && o.keys.data && o.segs.data) {
    for (size_t i = 0; i < o.n; i++)
      s[i] =
          (jsorted){o.keys.data + o.v[i].koff, o.v[i].klen, o.segs.data + o.v[i].soff, o.v[i].slen};
    qsort(s, o.n, sizeof(*s), jsorted_cmp);
    wh_strbuf_putc(out, '{');
    for (size_t i = 0; i < o.n; i++) {
      if (i)
        wh_strbuf_putc(out, ',');
      wh_strbuf_append(out, s[i].s, s[i].slen);
    }
    wh_strbuf_puts(out, "}\n");
  }
  free(s);
  free(o.v);
  wh_strbuf_free(&o.keys);
  wh_strbuf_free(&o.segs);
}

bool wh_access_log_format(const wh_access_log *l, const wh_xrec *r, wh_strbuf *out) {
  if (!l || !r || !keep_record(l, r))
    return false;
  line_vals v;
  compute_vals(r, &v);
  size_t before = out->len;
  if (l->format == FMT_JSON)
    format_json(l, r, &v, out);
  else
    format_clf(l, r, &v, out);
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
  if (worker < 0 || worker >= l->nslots || l->buffering == 0) {
    /* unbuffered (or a caller without a slot): one write per line */
    wh_strbuf line = {0};
    if (wh_access_log_format(l, r, &line))
      write_lines(l, line.data, line.len);
    wh_strbuf_free(&line);
    return;
  }
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
  free(l->slots);
  free(l->ranges);
  free(l->hdr_rules);
  free(l->path);
  free(l);
}
