/* What a middleware's request hook sees and may change. The data plane
 * extends this as middlewares gain runtimes. */
#ifndef WH_HTTP_EXCHANGE_H
#define WH_HTTP_EXCHANGE_H

#include <stdbool.h>

#include "lib/config/schema.h"
#include "lib/http/request.h"

enum { WH_MW_NEXT = 0, WH_MW_DONE = 1 };

typedef struct wh_mw_exchange {
  const wh_http_req *req; /* borrowed, as received */
  bool is_tls;            /* the client connection is TLS */
  char *path;             /* the canonical path the next handler sees; owned: a
                             middleware that rewrites it frees the old one */
  wh_strmap set_headers;  /* request headers to set for the next handler; owned */
  wh_http_resp *resp;     /* filled by a middleware that answers */
} wh_mw_exchange;

/* Sets (replaces) a request header for the next handler. Copies both. */
int wh_mw_exchange_set_header(wh_mw_exchange *x, const char *name, const char *value);
/* Value a request header has for the next handler (set_headers first). */
const char *wh_mw_exchange_header(const wh_mw_exchange *x, const char *name);
void wh_mw_exchange_free(wh_mw_exchange *x);

#endif
