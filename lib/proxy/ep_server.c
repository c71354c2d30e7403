#include "lib/proxy/ep_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/admin/api.h"
#include "lib/admin/dashboard.h"
#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/http/exchange.h"
#include "lib/http/path.h"
#include "lib/http/server.h"
#include "lib/router/route_table.h"

struct wh_ep_server {
  const char *name;
  const wh_entrypoint *ep;
  wh_ep_shared *shared;
  wh_http_server *http;
};

static const wh_route_table *table_for(const wh_snapshot *s, const char *ep) {
  for (size_t i = 0; i < s->ntables; i++)
    if (strcmp(s->tables[i]->entrypoint, ep) == 0)
      return s->tables[i];
  return NULL;
}

static void not_found(wh_http_resp *resp) {
  wh_http_resp_text(resp, 404, "404 page not found\n");
  wh_http_resp_header(resp, "X-Content-Type-Options", "nosniff");
}

/* Runs the router's middlewares in order. Returns true when one answered. */
static bool run_middlewares(const wh_snapshot *snap, const wh_rt_elem *router, wh_mw_exchange *x,
                            wh_http_resp *resp) {
  for (size_t i = 0; i < router->middleware_refs.n; i++) {
    const wh_rt_elem *m =
        wh_runtime_find(snap->rt, WH_KIND_HTTP_MIDDLEWARE, router->middleware_refs.v[i]);
    if (!m || !m->mw_type || m->status == WH_STATUS_DISABLED) {
      /* The runtime disables such routers; this is belt and braces. */
      wh_http_resp_text(resp, 500, "Internal Server Error");
      return true;
    }
    if (!m->mw_type->on_request) {
      /* Fail closed: a router is never served without its middlewares. */
      wh_log_error("router \"%s\": middleware \"%s\" (type %s) has no runtime in this build; "
                   "answering 500",
                   router->name, m->name, m->mw_type->name);
      wh_http_resp_text(resp, 500, "Internal Server Error");
      return true;
    }
    if (m->mw_type->on_request(m->mw_cfg, x) == WH_MW_DONE)
      return true;
  }
  return false;
}

static void serve_service(wh_ep_server *s, const wh_snapshot *snap, const wh_rt_elem *router,
                          const wh_http_req *req, wh_mw_exchange *x, wh_http_resp *resp) {
  const char *svc = router->service_ref;
  if (strcmp(svc, "api@internal") == 0) {
    /* As in Traefik, api@internal also serves the dashboard under
     * /dashboard/ when api.dashboard is on, so that one user router with
     * PathPrefix(`/api`) || PathPrefix(`/dashboard`) exposes both. */
    bool dash = snap->stat->api && snap->stat->api->dashboard;
    if (dash && strcmp(x->path, "/dashboard") == 0) {
      wh_http_resp_text(resp, 301, "Moved Permanently");
      wh_http_resp_header(resp, "Location", "/dashboard/");
    } else if (dash && strncmp(x->path, "/dashboard/", 11) == 0) {
      wh_dashboard_handle(req->method, x->path + 10, resp);
    } else if (wh_api_handle(snap, req->method, x->path, req->query, resp) != WH_OK) {
      not_found(resp);
    }
  } else if (strcmp(svc, "dashboard@internal") == 0) {
    wh_dashboard_handle(req->method, x->path, resp);
  } else if (strcmp(svc, "ping@internal") == 0) {
    const wh_ping *p = snap->stat->ping;
    wh_ping_handle(s->shared->terminating, p ? (int)p->terminating_status_code : 503, resp);
  } else if (strcmp(svc, "noop@internal") == 0) {
    wh_http_resp_text(resp, 418, "I'm a teapot");
  } else {
    static bool logged;
    if (!logged) {
      wh_log_warn("router \"%s\": forwarding to service \"%s\" needs the data plane, which this "
                  "build does not have yet; answering 502",
                  router->name, svc);
      logged = true;
    }
    wh_http_resp_text(resp, 502, "Bad Gateway");
  }
}

static void handle(void *ctx, const wh_http_req *req, wh_http_resp *resp) {
  wh_ep_server *s = ctx;
  wh_snapshot *snap = s->shared->get(s->shared->get_ctx);
  wh_mw_exchange x;
  memset(&x, 0, sizeof(x));
  x.req = req;
  x.resp = resp;
  x.is_tls = false;
  bool bad = false;
  bool sanitize = !s->ep->http.sanitize_path_set || s->ep->http.sanitize_path;
  x.path = wh_path_canonical(req->path, strlen(req->path), sanitize, &bad);
  if (!x.path) {
    wh_http_resp_text(resp, bad ? 400 : 503, bad ? "Bad Request" : "Service Unavailable");
    goto out;
  }
  wh_http_req_view view = {
      .method = req->method,
      .host = req->host,
      .path = x.path,
      .query = req->query,
      .nheaders = req->nheaders,
      .hdr_names = (const char *const *)req->hdr_names,
      .hdr_values = (const char *const *)req->hdr_values,
      .client = (const struct sockaddr *)&req->peer,
  };
  const wh_rt_elem *router = wh_route_match_http(table_for(snap, s->name), &view, false);
  if (!router) {
    not_found(resp);
    goto out;
  }
  if (!run_middlewares(snap, router, &x, resp))
    serve_service(s, snap, router, req, &x, resp);
out:
  wh_mw_exchange_free(&x);
  wh_snapshot_unref(snap);
}

wh_ep_server *wh_ep_server_start(uv_loop_t *loop, const char *name, const wh_entrypoint *ep,
                                 wh_ep_shared *shared, char *err, size_t errlen) {
  wh_ep_server *s = calloc(1, sizeof(*s));
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  s->name = name;
  s->ep = ep;
  s->shared = shared;
  wh_http_limits lim;
  wh_http_limits_default(&lim);
  if (ep->transport.responding_timeouts.idle_timeout > 0)
    lim.idle_timeout_ms = (uint64_t)(ep->transport.responding_timeouts.idle_timeout / WH_MS);
  s->http = wh_http_server_start(loop, ep->host, ep->port, &lim, handle, s, err, errlen);
  if (!s->http) {
    free(s);
    return NULL;
  }
  return s;
}

int wh_ep_server_port(const wh_ep_server *s) {
  return wh_http_server_port(s->http);
}

void wh_ep_server_stop(wh_ep_server *s) {
  if (!s)
    return;
  wh_http_server_stop(s->http);
  free(s);
}
