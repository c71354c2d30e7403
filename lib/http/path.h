/* The routing path: the one canonical form of a request path that both the
 * router matches and the backend receives (TRAEFIK-COMPAT §3, HARDENING 14).
 *
 * - %XX escapes are decoded, except bytes that would change the meaning of
 *   the path (the reserved set ": / ? # [ ] @ ! $ & ' ( ) * + , ; = %" and
 *   control bytes), which stay encoded with uppercase hex;
 * - when sanitize is set, "//" collapses and "." / ".." segments are
 *   removed (after decoding, so "%2e%2e" cannot escape), never above root. */
#ifndef WH_HTTP_PATH_H
#define WH_HTTP_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* raw: the path part of the request target (no query). Returns a malloc'd
 * canonical path, or NULL with *bad set when the escape syntax is invalid
 * (answer 400), or NULL with *bad unset on OOM. An empty raw path gives "/". */
char *wh_path_canonical(const char *raw, size_t len, bool sanitize, bool *bad);

#endif
