/* Hop-by-hop removal and X-Forwarded-* handling at the proxy, exactly as
 * TRAEFIK-COMPAT.md §9 ("Forwarded headers") describes, applied to the
 * request headers before they go to the backend. */
#ifndef WH_HTTP_FORWARDED_H
#define WH_HTTP_FORWARDED_H

#include <stdbool.h>
#include <sys/socket.h>

#include "lib/http/headers.h"
#include "lib/net/ipset.h"

/* Removes the hop-by-hop fields (Connection, Keep-Alive, Proxy-Connection,
 * Proxy-Authenticate, Proxy-Authorization, TE, Trailer, Transfer-Encoding,
 * Upgrade) and every field named by a token of Connection (case-insensitive),
 * except the X-Forwarded-* / X-Real-Ip fields the proxy itself manages,
 * which a client cannot make disappear this way (HARDENING 17).
 * When keep_upgrade is set (a WebSocket upgrade being forwarded) Upgrade is
 * kept and "Connection: Upgrade" re-added. "Upgrade: h2c" is never kept. */
void wh_hop_by_hop_strip(wh_headers *h, bool keep_upgrade);

typedef struct wh_fwd_ctx {
  const struct sockaddr *client; /* TCP peer */
  bool trusted;                  /* peer in forwardedHeaders.trustedIPs, or insecure */
  bool is_tls;                   /* client connection is TLS */
  bool is_websocket;             /* request is a WebSocket upgrade */
  const char *host;              /* the request's Host header value (may be NULL) */
  const char *server;            /* this proxy's host name, for X-Forwarded-Server */
  bool not_append_xff;           /* forwardedHeaders.notAppendXForwardedFor */
} wh_fwd_ctx;

/* Step 1-4 of §9: untrusted peers lose every managed X header (and their
 * underscore spellings), then absent ones are filled in, X-Forwarded-Server
 * is always set, and the client IP is appended to X-Forwarded-For. */
int wh_forwarded_apply(wh_headers *h, const wh_fwd_ctx *ctx);

/* The client IP as text (IPv4-mapped IPv6 shown as IPv4). */
void wh_addr_ip_string(const struct sockaddr *sa, char *buf, size_t len);

#endif
