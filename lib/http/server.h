/* A compact HTTP/1.1 server for wharf's internal services (admin API, ping,
 * dashboard, metrics) on one uv loop. Handlers are synchronous, so pipelined
 * requests are answered in order by construction. Parsing is llhttp with
 * every lenient flag off; limits and deadlines bound what a peer can hold. */
#ifndef WH_HTTP_SERVER_H
#define WH_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/http/request.h"

/* Fills resp for req. Runs on the loop thread; must not block. resp starts
 * zeroed and is freed by the server after the response is queued. */
typedef void (*wh_http_handler_fn)(void *ctx, const wh_http_req *req, wh_http_resp *resp);

typedef struct wh_http_limits {
  size_t max_head_bytes;    /* request line + headers [64 KiB] -> 431 */
  size_t max_headers;       /* [100] -> 431 */
  size_t max_body_bytes;    /* [1 MiB] -> 413 */
  uint64_t head_timeout_ms; /* first byte of a request to its end [10 s] -> 408 */
  uint64_t idle_timeout_ms; /* keep-alive wait for the next request [60 s] */
  size_t max_write_queue;   /* stop reading while more is queued [1 MiB] */
} wh_http_limits;

void wh_http_limits_default(wh_http_limits *l);

typedef struct wh_http_server wh_http_server;

/* Binds host:port and starts listening. host "" or NULL listens on every
 * address (IPv6 "::" dual stack, falling back to 0.0.0.0); port 0 picks a
 * free port (see wh_http_server_port). limits may be NULL for the defaults
 * (copied). Returns NULL with a message in err on failure. */
wh_http_server *wh_http_server_start(uv_loop_t *loop, const char *host, int port,
                                     const wh_http_limits *limits, wh_http_handler_fn fn, void *ctx,
                                     char *err, size_t errlen);
/* The bound port. */
int wh_http_server_port(const wh_http_server *s);
/* Number of open connections (for tests and metrics). */
size_t wh_http_server_connections(const wh_http_server *s);
/* Closes the listener and every connection (pending responses are dropped).
 * The server is freed from the close callbacks: run the loop afterwards,
 * and do not use s again. NULL-safe. */
void wh_http_server_stop(wh_http_server *s);

#endif
