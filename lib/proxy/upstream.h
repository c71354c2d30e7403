/* An upstream (backend) connection: connect with DNS when needed, speak TLS
 * when the backend is https (or a TCP server with tls), send what the client
 * connection hands it, parse the response with llhttp (HTTP_RESPONSE,
 * strict) and relay through the wh_conn_resp_* hooks, then return to the
 * worker's pool only when the exchange ended exactly on a message boundary.
 * TLS runs over memory BIOs like the client side (lib/tls/tls_stream.h):
 * ciphertext in from the socket, plaintext on to the same parser as a plain
 * connection, so pooling, tunnels and back-pressure are one code path.
 * Loop thread only. */
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
  WH_US_HANDSHAKE, /* TLS: connected, handshake under way */
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
  char *key; /* "host:port", or "<transport id>@host:port" for TLS; owned */
  int port;
  struct wh_tls_stream *tls;        /* owned; NULL for plain TCP */
  const struct wh_tls_client *tcfg; /* borrowed from the exchange's snapshot, handshake only */
  char *label;                      /* "https://host:port" for log lines; owned */
  char *preface;                    /* raw bytes sent before TLS (PROXY protocol); owned */
  size_t preface_len;
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
/* What to connect to. Everything is copied except tls, which must stay valid
 * until the handshake ends or c detaches (c's snapshot holds it). */
typedef struct wh_upstream_target {
  const char *key; /* pool key */
  const char *host;
  int port;
  const struct wh_tls_client *tls; /* NULL: plain TCP */
  const char *label;               /* for log lines, e.g. the server URL */
  const void *preface;             /* sent in the clear first (PROXY protocol), may be NULL */
  size_t preface_len;
} wh_upstream_target;

/* Starts connecting for c: wh_conn_up_connected(c) once the connection (and
 * the TLS handshake) is up, wh_conn_up_failed otherwise. NULL on OOM. */
wh_upstream *wh_upstream_connect(wh_worker *w, wh_conn *c, const wh_upstream_target *t);
/* Sends close_notify on a TLS connection (before a half-close). */
void wh_upstream_close_notify(wh_upstream *u);
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
