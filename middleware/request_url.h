/* The answer both redirect middlewares give. (Each builds the URL it
 * matches itself: redirectScheme as Traefik's clientRequestURL, with a
 * trusted X-Forwarded-Proto; redirectRegex as its rawURL, from TLS only.) */
#ifndef WH_MW_REQUEST_URL_H
#define WH_MW_REQUEST_URL_H

#include "lib/http/exchange.h"

/* Answers a redirect: 302/307 (temporary, by method) or 301/308 (permanent). */
void wh_mw_redirect(wh_mw_exchange *x, const char *location, bool permanent);

#endif
