/* The internal services (api@internal, dashboard@internal, ping@internal,
 * noop@internal, prometheus@internal, acme-http@internal), answered by the workers from the
 * request's snapshot. The handlers are pure functions of the snapshot, safe on any thread. */
#include <string.h>

#include "lib/acme/challenges.h"
#include "lib/admin/api.h"
#include "lib/admin/dashboard.h"
#include "lib/admin/metrics.h"
#include "lib/proxy/conn.h"

static void not_found(wh_http_resp *resp) {
  wh_http_resp_text(resp, 404, "404 page not found\n");
  wh_http_resp_header(resp, "X-Content-Type-Options", "nosniff");
}

/* ACME HTTP-01: the key authorization of a pending token, for any Host and
 * method, as Traefik answers; anything else is a 404 at once (Traefik waits
 * up to a minute for a token to appear, HARDENING 45 does not). */
static void acme_http(const char *path, wh_http_resp *resp) {
  char tok[WH_ACME_TOKEN_MAX + 1], ka[WH_ACME_KEYAUTH_MAX + 1];
  if (wh_acme_chal_http_token(path, tok) && wh_acme_chal_http_get(tok, ka, sizeof(ka)))
    wh_http_resp_text(resp, 200, ka);
  else
    not_found(resp);
}

bool wh_internal_serve(const wh_snapshot *snap, const char *svc, const wh_http_req *req,
                       const char *path, bool terminating, wh_http_resp *resp) {
  if (!svc)
    return false;
  if (strcmp(svc, "api@internal") == 0) {
    /* As in Traefik, api@internal also serves the dashboard under
     * /dashboard/ when api.dashboard is on, so that one user router with
     * PathPrefix(`/api`) || PathPrefix(`/dashboard`) exposes both. */
    bool dash = snap->stat->api && snap->stat->api->dashboard;
    if (dash && strcmp(path, "/dashboard") == 0) {
      wh_http_resp_text(resp, 301, "Moved Permanently");
      wh_http_resp_header(resp, "Location", "/dashboard/");
    } else if (dash && strncmp(path, "/dashboard/", 11) == 0) {
      wh_dashboard_handle(req->method, path + 10, resp);
    } else if (wh_api_handle(snap, req->method, path, req->query, resp) != 0) {
      not_found(resp);
    }
    return true;
  }
  if (strcmp(svc, "dashboard@internal") == 0) {
    wh_dashboard_handle(req->method, path, resp);
    return true;
  }
  if (strcmp(svc, "ping@internal") == 0) {
    const wh_ping *p = snap->stat->ping;
    wh_ping_handle(terminating, p ? (int)p->terminating_status_code : 503, resp);
    return true;
  }
  if (strcmp(svc, "prometheus@internal") == 0) {
    wh_metrics_handle(snap, resp);
    return true;
  }
  if (strcmp(svc, "acme-http@internal") == 0) {
    acme_http(path, resp);
    return true;
  }
  if (strcmp(svc, "noop@internal") == 0) {
    wh_http_resp_text(resp, 418, "I'm a teapot");
    return true;
  }
  return false;
}
