/* forwardAuth's messages, apart from the network: the header fields of the
 * request to the auth server (Traefik's writeHeader), the reading of its
 * answer, and what that answer does to the exchange (headers copied onto the
 * request on 2xx, the answer itself returned otherwise). Pure functions on
 * the loop thread, tested without sockets. */
#ifndef WH_MW_FORWARDAUTH_MSG_H
#define WH_MW_FORWARDAUTH_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/http/exchange.h"
#include "lib/http/headers.h"
#include "middleware/forwardauth.h"

/* Go's http.CanonicalHeaderKey: "x-auth-user" -> "X-Auth-User"; a name with
 * a byte that is not a token character is returned unchanged. Caller frees;
 * NULL on OOM. */
char *wh_fwdauth_canonical_key(const char *name);

/* The header fields sent to the auth server, appended to out (initialised
 * by the caller), from the request as the next handler would see it:
 * - what the entry point would have made of it first (untrusted peers lose
 *   their X-Forwarded-*, X-Real-Ip / X-Forwarded-Proto/Port/Host/Server
 *   filled in), as Traefik's middleware sees the request after its entry
 *   point's forwarded-headers handler; server is X-Forwarded-Server's value;
 * - hop-by-hop fields and those Connection names removed, Host and
 *   Content-Length left to the HTTP client;
 * - every managed X-Forwarded-* / X-Real-Ip dropped unless
 *   trustForwardHeader;
 * - only authRequestHeaders kept when that list is not empty (plus the
 *   managed X headers when trustForwardHeader);
 * - X-Forwarded-For: the client IP, after the kept value when trusted;
 *   X-Forwarded-Method, -Proto, -Port, -Host, -Uri set when absent.
 * 0 or WH_ENOMEM. */
int wh_fwdauth_request_headers(const wh_mw_forwardauth_conf *c, const wh_mw_exchange *x,
                               const char *server, wh_headers *out);

/* The request URI the next handler would see (Go's req.URL.RequestURI()):
 * the target as received unless a middleware rewrote the path. Caller
 * frees; NULL on OOM. */
char *wh_fwdauth_request_uri(const wh_mw_exchange *x);

/* One line of a response head as libcurl hands it over (CRLF included):
 * a status line starts the list afresh (interim 1xx answers), a field is
 * appended with its value trimmed, anything else ignored. 0 or WH_ENOMEM. */
int wh_fwdauth_parse_header_line(wh_headers *h, const char *line, size_t len);

/* ref resolved against the absolute URL base as Go's URL.Parse does for a
 * Location header (RFC 3986 §5.2, dot segments removed). NULL with *bad set
 * when ref is not a valid URL reference, NULL with *bad unset on OOM.
 * Caller frees. */
char *wh_fwdauth_resolve_url(const char *base, const char *ref, bool *bad);

/* 2xx: authResponseHeaders and authResponseHeadersRegex copied onto the
 * request (the request's own fields of those names removed first). 0, or
 * WH_ENOMEM. */
int wh_fwdauth_apply_allowed(const wh_mw_forwardauth_conf *c, wh_mw_exchange *x,
                             const wh_headers *auth);

/* The auth server's Set-Cookie fields whose cookie is named in
 * addAuthCookiesToResponse: how many there are. */
size_t wh_fwdauth_listed_cookies(const wh_mw_forwardauth_conf *c, const wh_headers *auth);

/* Any other status: x->resp becomes the auth server's answer (status,
 * fields but the hop-by-hop ones and those the server sets itself, body),
 * with Location resolved against the address unless preserveLocationHeader.
 * WH_EINVAL when the Location is not a valid URL (answer 500), WH_ENOMEM. */
int wh_fwdauth_fill_denied(const wh_mw_forwardauth_conf *c, wh_mw_exchange *x, int status,
                           const wh_headers *auth, const char *body, size_t len);

/* authSigninURL on a 401: Go's http.Redirect(w, r, url, 302). */
int wh_fwdauth_fill_signin(wh_mw_exchange *x, const char *url);

/* addAuthCookiesToResponse: registers, for each Set-Cookie of the auth
 * answer whose cookie is listed, the removal of the backend's cookie of that
 * name and the auth server's field itself. 0 or <0 (OOM). */
int wh_fwdauth_add_cookies(const wh_mw_forwardauth_conf *c, wh_mw_exchange *x,
                           const wh_headers *auth);

#endif
