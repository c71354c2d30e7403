/* The URL a redirect middleware matches and rewrites: scheme://Host<RequestURI>,
 * with the scheme taken from the connection (TLS -> https) unless a trusted
 * X-Forwarded-Proto (http, https, ws, wss) says otherwise, as Traefik does. */
#ifndef WH_MW_REQUEST_URL_H
#define WH_MW_REQUEST_URL_H

#include "lib/http/exchange.h"

/* Caller frees. NULL on OOM. */
char *wh_mw_request_url(const wh_mw_exchange *x, const char **scheme_out);
/* Answers a redirect: 302/307 (temporary, by method) or 301/308 (permanent). */
void wh_mw_redirect(wh_mw_exchange *x, const char *location, bool permanent);

#endif
