/* An upstream (backend) connection: connect with DNS when needed, send what
 * the client connection hands it, parse the response with llhttp
 * (HTTP_RESPONSE, strict) and relay through the wh_conn_resp_* hooks, then
 * return to the worker's pool only when the exchange ended exactly on a
 * message boundary. Loop thread only. */
#ifndef WH_PROXY_UPSTREAM_H
#define WH_PROXY_UPSTREAM_H

#include <llhttp.h>
#include <stdbool.h>
#include <uv.h>

#include "lib/proxy/conn.h"
#include "lib/proxy/pool.h"

typedef enum {
  WH_US_RESOLVING = 0,
  WH_US_CONNECTING,
  WH_US_ACTIVE,
  WH_US_IDLE, /* pooled */
  WH_US_CLOSED
} wh_us_state;

typedef struct wh_upstream {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_getaddrinfo_t gai;
  uv_shutdown_t sreq; /* tunnel half-close */
  wh_worker *w;
  wh_conn *c; /* the exchange using it; NULL when pooled or closing */
  wh_pool_entry pe;
  char *key; /* "host:port", owned */
  int port;
  wh_us_state state;
  bool tcp_inited, gai_pending, connect_pending;
  bool reused;   /* came from the pool */
  bool got_byte; /* a response byte arrived for this exchange */
  bool reading;
  bool bp_paused;
  bool msg_done;    /* the final response message completed */
  bool upgraded;    /* 101 accepted: bytes are a tunnel now */
  bool no_reuse;    /* close after this exchange */
  bool is_head_req; /* response to HEAD: no body */
  bool in_trailers;
  int status;
  llhttp_t parser;
  wh_head head;
  wh_headers hdrs;
} wh_upstream;

/* Takes a pooled connection for key or NULL. */
wh_upstream *wh_upstream_from_pool(wh_worker *w, const char *key);
/* Starts connecting to host:port for c. NULL on OOM. */
wh_upstream *wh_upstream_connect(wh_worker *w, wh_conn *c, const char *key, const char *host,
                                 int port);
/* Prepares u for one exchange of c (parser reset, reading started). */
void wh_upstream_begin(wh_upstream *u, wh_conn *c, bool head_request);
int wh_upstream_write(wh_upstream *u, const uv_buf_t *bufs, unsigned n);
/* Exchange over: pool it (when clean and allowed) or close it. */
void wh_upstream_release(wh_upstream *u, bool reusable, size_t cap, uint64_t idle_ms);
/* Hard close (u->c is detached first). */
void wh_upstream_close(wh_upstream *u);
void wh_upstream_update_reading(wh_upstream *u);
/* Worker tick: idle pool deadlines. */
void wh_upstream_expire_idle(wh_worker *w, uint64_t now);

#endif
