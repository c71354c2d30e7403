#include "lib/http/forwarded.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/err.h"
#include "lib/core/str.h"

/* The X headers the proxy owns (TRAEFIK-COMPAT §9). */
static const char *const managed[] = {
    "X-Forwarded-Proto",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Port",
    "X-Forwarded-Server",
    "X-Forwarded-Uri",
    "X-Forwarded-Method",
    "X-Forwarded-Prefix",
    "X-Forwarded-Scheme",
    "X-Forwarded-Tls-Client-Cert",
    "X-Forwarded-Tls-Client-Cert-Info",
    "X-Scheme",
    "X-Real-Ip",
};
#define N_MANAGED (sizeof managed / sizeof managed[0])

/* Always connection-specific, whatever Connection says. HTTP2-Settings is
 * only meaningful on an h2c upgrade, which is never forwarded (HARDENING 11). */
static const char *const hop_by_hop[] = {
    "Connection", "Keep-Alive", "Proxy-Connection",  "Proxy-Authenticate", "Proxy-Authorization",
    "TE",         "Trailer",    "Transfer-Encoding", "HTTP2-Settings",
};
#define N_HOP_BY_HOP (sizeof hop_by_hop / sizeof hop_by_hop[0])

static bool name_is(const wh_header *f, const char *name) {
  size_t n = strlen(name);
  return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}

static bool name_in(const wh_header *f, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (name_is(f, list[i]))
      return true;
  return false;
}

/* Compares treating '-', '_' and '.' as one character, case-insensitively:
 * servers such as PHP-FPM, Django or nginx-to-CGI turn X_Forwarded_For into
 * the same variable as X-Forwarded-For, so a client must not be able to slip
 * one past the strip in a different spelling (HARDENING 16). */
static bool name_is_loose(const wh_header *f, const char *name) {
  size_t n = strlen(name);
  if (f->name_len != n)
    return false;
  for (size_t i = 0; i < n; i++) {
    char a = f->name[i], b = name[i];
    if (a == '_' || a == '.')
      a = '-';
    if (tolower((unsigned char)a) != tolower((unsigned char)b))
      return false;
  }
  return true;
}

static bool is_managed_loose(const wh_header *f) {
  for (size_t i = 0; i < N_MANAGED; i++)
    if (name_is_loose(f, managed[i]))
      return true;
  return false;
}

/* Field storage belongs to the list's arena (headers.c): dropping a field
 * only takes it out of the array. */
static void drop(wh_header *f) {
  (void)f;
}

/* Fields a Connection token may never remove: the proxy-owned X headers
 * (HARDENING 17), and the two fields that Go keeps outside its header map
 * (Host, Content-Length), which are therefore immune to Connection there:
 * removing either here would let a client change routing or framing. */
static bool connection_may_remove(const wh_header *f) {
  return !name_in(f, managed, N_MANAGED) && !name_is(f, "Host") && !name_is(f, "Content-Length");
}

static bool listed_in(const wh_header *conn, const wh_header *f) {
  return name_is(conn, "Connection") &&
         wh_header_value_has_token(conn->value, conn->value_len, f->name, f->name_len);
}

static bool upgrade_value_has(const wh_headers *h, const char *needle) {
  for (size_t i = 0; i < h->n; i++)
    if (name_is(&h->v[i], "Upgrade") && strcasestr(h->v[i].value, needle))
      return true;
  return false;
}

void wh_hop_by_hop_strip(wh_headers *h, bool keep_upgrade) {
  if (!h)
    return;
  /* Forward an upgrade only when the request really is one (Connection
   * carries the upgrade token): otherwise the backend would switch protocols
   * on a request the proxy handles as an ordinary one. */
  bool keep = keep_upgrade && wh_headers_has_token(h, "Connection", "upgrade") &&
              upgrade_value_has(h, "websocket") && !upgrade_value_has(h, "h2c");

  /* Pass 1: fields named by Connection. Connection fields themselves stay in
   * place during this pass, in the kept prefix [0, out) or the unread suffix
   * [i, n), so both ranges are searched for tokens. */
  size_t out = 0;
  for (size_t i = 0; i < h->n; i++) {
    wh_header *f = &h->v[i];
    bool remove = false;
    if (!name_is(f, "Connection") && !(keep && name_is(f, "Upgrade")) && connection_may_remove(f)) {
      for (size_t j = 0; j < out && !remove; j++)
        remove = listed_in(&h->v[j], f);
      for (size_t j = i + 1; j < h->n && !remove; j++)
        remove = listed_in(&h->v[j], f);
    }
    if (remove)
      drop(f);
    else
      h->v[out++] = *f;
  }
  h->n = out;

  /* Pass 2: the fixed hop-by-hop set. */
  out = 0;
  for (size_t i = 0; i < h->n; i++) {
    wh_header *f = &h->v[i];
    if (name_in(f, hop_by_hop, N_HOP_BY_HOP) || (!keep && name_is(f, "Upgrade")))
      drop(f);
    else
      h->v[out++] = *f;
  }
  h->n = out;

  /* Without its Connection the kept Upgrade means nothing, so on OOM both go:
   * the backend then answers a plain request, never a half upgrade. */
  if (keep && wh_headers_add_cstr(h, "Connection", "Upgrade") != WH_OK)
    wh_headers_remove(h, "Upgrade");
}

void wh_addr_ip_string(const struct sockaddr *sa, char *buf, size_t len) {
  if (!buf || len == 0)
    return;
  buf[0] = '\0';
  if (!sa)
    return;
  const void *src = NULL;
  int af = sa->sa_family;
  if (af == AF_INET) {
    src = &((const struct sockaddr_in *)sa)->sin_addr;
  } else if (af == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
      af = AF_INET;
      src = a->s6_addr + 12;
    } else {
      src = a;
    }
  } else {
    return;
  }
  if (!inet_ntop(af, src, buf, (socklen_t)(len > 0x7fffffff ? 0x7fffffff : len)))
    buf[0] = '\0';
}

/* Absent or empty, as Go's Header.Get(name) == "" that Traefik tests. */
static bool absent(const wh_headers *h, const char *name) {
  const char *v = wh_headers_get(h, name);
  return !v || !*v;
}

/* The port of a Host value, as Go's net.SplitHostPort finds it: after
 * "[v6]:" or after the only colon; NULL when there is none or it is empty. */
static const char *host_port(const char *host) {
  if (!host)
    return NULL;
  const char *p;
  if (host[0] == '[') {
    const char *rb = strchr(host, ']');
    if (!rb || rb[1] != ':')
      return NULL;
    p = rb + 2;
  } else {
    const char *c = strchr(host, ':');
    if (!c || strchr(c + 1, ':'))
      return NULL;
    p = c + 1;
  }
  return *p ? p : NULL;
}

/* Joins every X-Forwarded-For field into one, in order, then appends ip
 * unless it is NULL. Traefik joins even with notAppendXForwardedFor. */
static int join_xff(wh_headers *h, const char *ip) {
  if (!ip && wh_headers_count(h, "X-Forwarded-For") < 2)
    return WH_OK; /* nothing to join: leave it exactly as received */
  wh_strbuf b = {0};
  int rc = WH_OK;
  for (size_t i = 0; i < h->n && rc == WH_OK; i++) {
    const wh_header *f = &h->v[i];
    if (!name_is(f, "X-Forwarded-For") || f->value_len == 0)
      continue;
    if (b.len)
      rc = wh_strbuf_append(&b, ", ", 2);
    if (rc == WH_OK)
      rc = wh_strbuf_append(&b, f->value, f->value_len);
  }
  if (rc == WH_OK && ip && b.len)
    rc = wh_strbuf_append(&b, ", ", 2);
  if (rc == WH_OK && ip)
    rc = wh_strbuf_puts(&b, ip);
  if (rc == WH_OK)
    rc = wh_headers_set(h, "X-Forwarded-For", wh_strbuf_cstr(&b));
  wh_strbuf_free(&b);
  return rc < 0 ? WH_ENOMEM : WH_OK;
}

int wh_forwarded_apply(wh_headers *h, const wh_fwd_ctx *ctx) {
  if (!h || !ctx)
    return WH_EINVAL;

  if (!ctx->trusted) {
    /* Forwarded (RFC 7239) goes too, which Traefik leaves alone: a backend
     * reading it must not see what an untrusted client wrote (HARDENING 16). */
    size_t out = 0;
    for (size_t i = 0; i < h->n; i++) {
      wh_header *f = &h->v[i];
      if (is_managed_loose(f) || name_is(f, "Forwarded"))
        drop(f);
      else
        h->v[out++] = *f;
    }
    h->n = out;
  }

  char ip[INET6_ADDRSTRLEN];
  wh_addr_ip_string(ctx->client, ip, sizeof ip);
  int rc = WH_OK;

  if (ip[0] && absent(h, "X-Real-Ip"))
    rc = wh_headers_set(h, "X-Real-Ip", ip);

  if (rc == WH_OK && absent(h, "X-Forwarded-Proto")) {
    const char *proto =
        ctx->is_websocket ? (ctx->is_tls ? "wss" : "ws") : (ctx->is_tls ? "https" : "http");
    rc = wh_headers_set(h, "X-Forwarded-Proto", proto);
  }

  if (rc == WH_OK && absent(h, "X-Forwarded-Port")) {
    /* The proto tested here may be a trusted upstream's, as in Traefik. */
    const char *port = host_port(ctx->host);
    if (!port) {
      const char *proto = wh_headers_get(h, "X-Forwarded-Proto");
      bool secure = ctx->is_tls || wh_streq(proto, "https") || wh_streq(proto, "wss");
      port = secure ? "443" : "80";
    }
    rc = wh_headers_set(h, "X-Forwarded-Port", port);
  }

  if (rc == WH_OK && ctx->host && *ctx->host && absent(h, "X-Forwarded-Host"))
    rc = wh_headers_set(h, "X-Forwarded-Host", ctx->host);

  if (rc == WH_OK && ctx->server && *ctx->server)
    rc = wh_headers_set(h, "X-Forwarded-Server", ctx->server);

  if (rc == WH_OK)
    rc = join_xff(h, ip[0] && !ctx->not_append_xff ? ip : NULL);

  return rc;
}
