#include "middleware/request_url.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/str.h"

void wh_mw_redirect(wh_mw_exchange *x, const char *location, bool permanent) {
  bool get = strcmp(x->req->method, "GET") == 0;
  int status = permanent ? (get ? 301 : 308) : (get ? 302 : 307);
  wh_http_resp_text(x->resp, status, wh_http_status_reason(status));
  wh_http_resp_header(x->resp, "Location", location);
}
