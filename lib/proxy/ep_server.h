/* Serves one entry point on the control loop: canonical path, route match
 * through the current snapshot, the router's middlewares, then the service.
 * In this foundation stage only internal services (api, dashboard, ping,
 * noop) are answered here; forwarding to backends is the data plane's. */
#ifndef WH_PROXY_EP_SERVER_H
#define WH_PROXY_EP_SERVER_H

#include <stdbool.h>
#include <uv.h>

#include "lib/config/static.h"
#include "lib/router/snapshot.h"

typedef struct wh_ep_server wh_ep_server;

/* Returns a new reference to the snapshot to serve from. */
typedef wh_snapshot *(*wh_snapshot_get_fn)(void *ctx);

/* Shared process state the internal services read. */
typedef struct wh_ep_shared {
  wh_snapshot_get_fn get;
  void *get_ctx;
  bool terminating; /* /ping answers ping.terminatingStatusCode while set */
} wh_ep_shared;

/* name and ep are borrowed for the server's lifetime; shared too. */
wh_ep_server *wh_ep_server_start(uv_loop_t *loop, const char *name, const wh_entrypoint *ep,
                                 wh_ep_shared *shared, char *err, size_t errlen);
int wh_ep_server_port(const wh_ep_server *s);
void wh_ep_server_stop(wh_ep_server *s);

#endif
