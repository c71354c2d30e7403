/* Sticky cookies as Traefik writes and reads them (TRAEFIK-COMPAT §10;
 * pkg/server/cookie/cookie.go and the wrr balancer's sticky handling).
 * Internal to lib/lb; exposed for the unit tests. */
#ifndef WH_LB_STICKY_H
#define WH_LB_STICKY_H

#include <stddef.h>

#include "lib/config/dynamic.h"

/* The cookie name: configured (characters outside
 * [A-Za-z0-9!#$%&'*+-.^`|~] become '_') or, when configured is NULL or "",
 * "_" + the first 5 hex digits of sha1("_TRAEFIK_BACKEND_" + service).
 * Caller frees; NULL on OOM. */
char *wh_lb_sticky_name(const char *configured, const char *service);
/* v3 value: the first 16 hex digits of sha256(url). out: 17 bytes. */
void wh_lb_sticky_value(const char *url, char out[17]);
/* Legacy (v2) value: FNV-64a of url in lowercase hex without leading zeros.
 * out: 17 bytes. */
void wh_lb_sticky_legacy_value(const char *url, char out[17]);
/* The value of the first valid cookie called name in a Cookie header
 * ("a=1; b=\"2\""), as Go's net/http reads it: parts split on ';' and
 * trimmed, surrounding double quotes removed, a value with a byte Go rejects
 * skips that cookie. Returns a pointer into header and its length in *len,
 * or NULL. */
const char *wh_lb_cookie_get(const char *header, const char *name, size_t *len);
/* The Set-Cookie value for name=value with cfg's attributes, in Go's
 * http.Cookie order: Path, Domain, Max-Age, HttpOnly, Secure, SameSite.
 * cfg may be NULL (Path=/ only). Caller frees; NULL on OOM. */
char *wh_lb_sticky_set_cookie(const char *name, const char *value, const wh_cookie *cfg);

#endif
