#include "middleware/request_url.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/str.h"

char *wh_mw_request_url(const wh_mw_exchange *x, const char **scheme_out) {
  const char *scheme = x->is_tls ? "https" : "http";
  const char *xfp = wh_mw_exchange_header(x, "X-Forwarded-Proto");
  if (xfp) {
    static const char *const allowed[] = {"http", "https", "ws", "wss"};
    for (size_t i = 0; i < 4; i++)
      if (strcasecmp(xfp, allowed[i]) == 0)
        scheme = allowed[i];
  }
  if (scheme_out)
    *scheme_out = scheme;
  const char *host = x->req->host ? x->req->host : "";
  /* RequestURI: the target as received for origin-form, path+query otherwise. */
  const char *uri = x->req->target;
  if (!uri || uri[0] != '/') {
    return wh_asprintf("%s://%s%s%s%s", scheme, host, x->req->path, x->req->query ? "?" : "",
                       x->req->query ? x->req->query : "");
  }
  return wh_asprintf("%s://%s%s", scheme, host, uri);
}

void wh_mw_redirect(wh_mw_exchange *x, const char *location, bool permanent) {
  bool get = strcmp(x->req->method, "GET") == 0;
  int status = permanent ? (get ? 301 : 308) : (get ? 302 : 307);
  wh_http_resp_text(x->resp, status, wh_http_status_reason(status));
  wh_http_resp_header(x->resp, "Location", location);
}
