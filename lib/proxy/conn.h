/* A downstream (client) connection of a worker and the one request/response
 * exchange it runs at a time. See docs/internals/proxy.md for the state
 * machine, buffers, backpressure and deadlines. Loop thread only. */
#ifndef WH_PROXY_CONN_H
#define WH_PROXY_CONN_H

#include <llhttp.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "lib/core/str.h"
#include "lib/http/headers.h"
#include "lib/http/request.h"
#include "lib/lb/lb.h"
#include "lib/proxy/worker.h"

#define WH_HEAD_MAX_BYTES (64 * 1024) /* HARDENING 9: 431 beyond */
#define WH_HEAD_MAX_FIELDS 100
/* Stop reading one side while the other side's write queue holds more. */
#define WH_BACKPRESSURE_BYTES (256 * 1024)
#define WH_CONN_MAX_HOLDS 4

/* A message head being received: every span is copied into buf (the read
 * buffer is shared by the worker's connections and reused at once). */
typedef struct wh_hspan {
  uint32_t no, nl, vo, vl;
} wh_hspan;

typedef struct wh_head {
  char *buf;
  size_t len, cap;
  wh_hspan *f;
  size_t n, fcap;
  uint32_t url_off, url_len;
  wh_hspan cur;
  bool in_field, in_value;
  bool split_ok;        /* the last value span ended where its read ended */
  const char *exec_end; /* end of the bytes being parsed */
  int err;              /* HTTP status for a head error found in a callback */
} wh_head;

void wh_head_reset(wh_head *h);
void wh_head_free(wh_head *h);
int wh_head_url(wh_head *h, const char *at, size_t len);
int wh_head_field(wh_head *h, const char *at, size_t len);
int wh_head_field_done(wh_head *h);
int wh_head_value(wh_head *h, const char *at, size_t len);
int wh_head_value_done(wh_head *h);
/* Copies the fields into hs (cleared first). 0 or WH_ENOMEM. */
int wh_head_to_headers(const wh_head *h, wh_headers *hs);

/* Writes bufs to a stream: uv_try_write first, then only the remainder is
 * copied and queued. done (may be NULL) runs after a queued write completes
 * (status < 0 on error, UV_ECANCELED when the handle closed). Returns 0 or a
 * libuv error (nothing queued). */
typedef void (*wh_io_done_fn)(void *owner, int status);
int wh_io_write(uv_tcp_t *t, const uv_buf_t *bufs, unsigned n, wh_io_done_fn done, void *owner);
/* wh_io_write of what the TLS session s produced (records, handshake,
 * alerts), which it then forgets: either direction of TLS. */
struct wh_tls_stream;
int wh_io_write_tls(uv_tcp_t *t, struct wh_tls_stream *s, wh_io_done_fn done, void *owner);

struct wh_upstream;
struct wh_tls_stream;
struct wh_ch_reader;

typedef enum {
  WH_RD_NONE = 0,
  WH_RD_FIRST, /* accepted, waiting for the first request */
  WH_RD_IDLE,  /* keep-alive wait */
  WH_RD_HEAD,  /* request head in progress (absolute) */
  WH_RD_BODY,  /* request body, renewed on progress */
  WH_RD_LINGER /* closing: draining the peer before the final close */
} wh_rd_kind;

typedef enum {
  WH_UP_NONE = 0,
  WH_UP_DIAL,
  WH_UP_RESP_HEAD,
  WH_UP_TUNNEL,
} wh_up_kind;

typedef enum { WH_RESP_NONE = 0, WH_RESP_CL, WH_RESP_CHUNKED, WH_RESP_RAW } wh_resp_mode;

typedef struct wh_conn {
  uv_tcp_t tcp;
  wh_worker *w;
  const wh_ep_ctx *ep;
  struct wh_conn *prev, *next; /* worker's list; next doubles as freelist link */
  struct sockaddr_storage peer;
  llhttp_t parser;
  wh_head head;
  /* read side */
  char *tail; /* pipelined bytes not parsed yet */
  size_t tail_len, tail_cap;
  bool reading;
  bool bp_paused; /* the upstream's write queue is full */
  bool closing;   /* shutdown queued; draining reads */
  bool dead;      /* uv_close called */
  bool got_eof;
  bool tunnel;
  bool tunnel_eof_up, tunnel_eof_down;
  /* deadlines (ms, worker clock; 0 = none), checked by the worker tick */
  uint64_t rd_deadline, up_deadline, wr_deadline;
  wh_rd_kind rd_kind;
  wh_up_kind up_kind;
  unsigned requests; /* served on this connection */
  /* the current exchange */
  bool in_msg, req_done, resp_done, head_sent, local, close_after;
  bool is_head, req_chunked, req_body, upgrade_ws, upgrade_other;
  bool body_sent, retried;
  bool head_pending; /* the relayed response head waits in out for its first body bytes */
  int http_minor;
  wh_snapshot *snap; /* reference held for the whole exchange */
  wh_headers hdrs;
  char *host;       /* the routing host (absolute-form authority or Host), owned */
  char *set_cookie; /* sticky Set-Cookie for the response, owned */
  wh_lb *lb;
  const wh_lb_server *server;
  const struct wh_tls_client *up_tls; /* the service's TLS client for https servers (snap's) */
  wh_strbuf up_head;                  /* upstream request head, kept for one retry */
  int status;                         /* of the response sent (for the end callbacks) */
  struct wh_resp_edit *edits;         /* middlewares' response edits, outermost last; owned */
  size_t nedits;
  struct wh_parked *parked;   /* a delayed request waiting for its timer; owned */
  struct wh_pending *pending; /* an exchange a middleware suspended (it frees it) */
  bool holding;               /* parked, suspended or buffering: body bytes wait in pend */
  size_t buffer_cap;          /* buffering: the request body is read whole, up to this */
  int64_t resp_max;           /* buffering: maxResponseBodyBytes (0: none) */
  uint64_t resp_bytes;
  bool resp_over; /* the response was refused for its size: 500 */
  /* errors middleware: the rules (lists borrowed from the snapshot), and the
   * page fetch once a response matched */
  char *errp_service;
  const wh_strlist *errp_status;
  const wh_strmap *errp_rewrites;
  const char *errp_query;
  int errp_code, errp_orig;
  bool errp_active, errp_started;
  struct wh_retry_wait *retry_wait; /* retry backoff timer; owned */
  unsigned retry_left, retry_n;     /* retry middleware: attempts left, made */
  uint32_t retry_ms;                /* its initialInterval */
  /* compress middleware: what the request negotiated, and the encoder once
   * the response qualified */
  int cz_enc;
  int64_t cz_min;
  const wh_strlist *cz_include, *cz_exclude;
  struct wh_compressor *cz;
  wh_strbuf czbuf;
  struct wh_mw_end *ends; /* middlewares' end-of-exchange callbacks; owned */
  size_t nends;
  struct wh_upstream *up;
  wh_resp_mode resp_mode;
  bool resp_trailers_ok; /* client gets chunked: trailers can be relayed */
  uint64_t dial_ms, resp_head_ms, idle_conn_ms;
  size_t max_idle;
  wh_strbuf out;   /* scratch for heads written to the client */
  wh_strbuf pend;  /* bytes for the upstream while it is still connecting */
  char **hn, **hv; /* header name/value views of hdrs for wh_http_req */
  size_t hcap;
  int err_status; /* status for an error found in a parser callback */
  bool in_exec;   /* inside llhttp_execute on the client parser */
  uv_shutdown_t sreq;
  bool shutdown_done;
  /* llhttp 8 skips the two bytes after chunk data without looking at them:
   * they are checked here (HARDENING 5) */
  const char *exec_start, *chunk_end;
  bool chunk_end_here, chunk_has_data;
  char crlf_buf[2];
  size_t crlf_seen;
  char last2[2]; /* the last two bytes of the previous buffer parsed */
  size_t nlast;
  /* The first bytes decide what the connection is (docs/internals/tls.md):
   * a TLS ClientHello is read ahead to route by SNI, then either replayed
   * to a TCP backend (passthrough) or into the TLS session; plaintext goes
   * to the HTTP parser or to a catch-all TCP router. */
  uint8_t sniff;            /* WH_SNIFF_* */
  struct wh_ch_reader *chr; /* while the ClientHello is read; owned */
  char *hello;              /* the bytes read ahead; owned */
  size_t hello_len;
  struct wh_tls_stream *tls; /* terminated TLS; owned; NULL for plaintext */
  char *tls_pol;             /* name of the TLS options the SNI selected (421 check) */
  bool tcp_mode;             /* a TCP router took the connection: a byte tunnel */
  bool tcp_after_handshake;  /* TLS-terminating TCP router: dial once established */
  const void *tcp_target;    /* the TCP router elem chosen (borrowed until dialled) */
  wh_snapshot *tcp_snap;     /* keeps tcp_target alive until the dial */
  /* Observability (lib/observe/observe.h): filled only while something
   * consumes exchanges (an access log, metrics); obs_t0 0 = not observed. */
  uint64_t obs_t0;               /* monotonic ns at dispatch */
  int64_t obs_unix;              /* wall clock ns at dispatch */
  uint64_t obs_up_t0, obs_up_t1; /* upstream dial and response end */
  const void *obs_router;        /* the wh_rt_elem chosen (lives in snap) */
  char *obs_user;                /* ClientUsername from basicAuth; owned */
  char *obs_xff;                 /* X-Forwarded-For as received; owned */
  bool obs_xff_taken;            /* obs_xff holds it (NULL: there was none) */
  uint64_t obs_req_bytes, obs_origin_bytes, obs_down_bytes;
  int obs_origin_status;
  bool obs_sse;              /* the response is text/event-stream */
  char obs_grpc[4];          /* the response head's Grpc-Status ("" when none) */
  bool obs_counted;          /* the open-connections gauge counted this one */
  bool obs_trusted;          /* the dispatch's forwardedHeaders trust decision */
  wh_headers *obs_resp_hdrs; /* the response head, when the access log keeps some; owned */
  /* tokens of TCP middlewares that count connections (inFlightConn) */
  void *mw_holds[WH_CONN_MAX_HOLDS];
  void (*mw_ends[WH_CONN_MAX_HOLDS])(void *);
  unsigned nmw_holds;
} wh_conn;

enum { WH_SNIFF_FIRST = 0, WH_SNIFF_HELLO, WH_SNIFF_DONE, WH_SNIFF_PROXY };

/* listener callback */
void wh_conn_on_accept(uv_stream_t *ls, int status);
/* worker tick: deadlines */
void wh_conn_check_deadlines(wh_conn *c, uint64_t now);
/* drain: close if idle between requests; else close after the exchange */
void wh_conn_drain(wh_conn *c);
/* immediate close */
void wh_conn_abort(wh_conn *c);
/* worker teardown: free the freelist, and the spare first-bytes buffers */
void wh_conn_free_list(wh_worker *w);
void wh_conn_free_spares(wh_worker *w);

/* ---- called by upstream.c / tunnel.c ---- */
void wh_conn_up_connected(wh_conn *c);
/* The upstream deadline becomes now + ms (a TLS handshake after the connect). */
void wh_conn_up_deadline(wh_conn *c, uint64_t ms);
/* The upstream failed before a response head was relayed: answers status,
 * or retries when allowed. After the head: aborts the client. */
void wh_conn_up_failed(wh_conn *c, int status, bool before_any_byte);
/* Writes a response head still waiting for body bytes. */
void wh_conn_flush_head(wh_conn *c);
/* Response head ready in the upstream's parser (status >= 100). Returns 0,
 * 1 to tell llhttp the response has no body, or -1 (relay failed). */
int wh_conn_resp_head(wh_conn *c, struct wh_upstream *u);
int wh_conn_resp_body(wh_conn *c, const char *at, size_t len);
/* The final response ended; the upstream decides pooling itself. */
void wh_conn_resp_done(wh_conn *c, struct wh_upstream *u);
/* The client's write queue drained below the mark (resume the upstream). */
void wh_conn_client_drained(wh_conn *c);
void wh_conn_update_reading(wh_conn *c);
void wh_conn_close(wh_conn *c);
/* Queues bytes for the client (backpressure on the upstream included). */
int wh_conn_write(wh_conn *c, const uv_buf_t *bufs, unsigned n);
/* Closes at once without a reset (tunnels end this way). */
void wh_conn_destroy(wh_conn *c);

/* TLS: close_notify queued before a FIN (tunnels and graceful closes). */
void wh_conn_close_notify(wh_conn *c);
/* The ClientHello must be complete within this, or the entry point's
 * readTimeout when shorter (HARDENING 22). */
#define WH_TLS_HANDSHAKE_MS 10000

/* tcp_route.c: TCP routers (TRAEFIK-COMPAT §3, tried before HTTP routers).
 * ch is the ClientHello, NULL for a plaintext connection. 1 when a TCP
 * router takes the connection (c->tcp_target, c->tcp_snap set), 0 when none
 * matches, -1 when the router's middlewares refuse it (close it). */
struct wh_client_hello;
int wh_tcp_route(wh_conn *c, const struct wh_client_hello *ch);
/* The chosen router passes TLS through untouched. */
bool wh_tcp_route_passthrough(const wh_conn *c);
/* Dials a server of the chosen router's service; the bytes in c->pend go
 * first once connected. Destroys c when there is no server. */
void wh_tcp_dial(wh_conn *c);
/* Called on connect: sends the PROXY header when configured and c->pend.
 * <0 when c was destroyed. */
int wh_tcp_connected(wh_conn *c);

/* tunnel.c */
void wh_tunnel_start(wh_conn *c, const char *early_up, size_t nup);
void wh_tunnel_on_client_data(wh_conn *c, const char *data, size_t len);
void wh_tunnel_on_client_eof(wh_conn *c);
void wh_tunnel_on_up_data(wh_conn *c, const char *data, size_t len);
void wh_tunnel_on_up_eof(wh_conn *c);

/* errors.c: local responses */
/* Serialises resp into out (cleared first). */
void wh_resp_serialize(wh_strbuf *out, const wh_http_resp *resp, bool head_only, int http_minor,
                       bool close, const char *date);
/* Text response ("Bad Gateway") with the bare status text. */
void wh_resp_status_text(wh_http_resp *r, int status);

/* internal_services.c: answers api@internal, dashboard@internal,
 * ping@internal, noop@internal; false when svc is none of them. */
bool wh_internal_serve(const wh_snapshot *snap, const char *svc, const wh_http_req *req,
                       const char *path, bool terminating, wh_http_resp *resp);

#endif
