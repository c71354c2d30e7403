/* After a 101 answer to a WebSocket upgrade, the client and upstream sockets
 * become a byte tunnel: each side's bytes are written to the other with the
 * same backpressure as bodies, a FIN is passed on as a half-close, and the
 * tunnel closes when both directions ended or nothing moved for the entry
 * point's transport.respondingTimeouts.idleTimeout (HARDENING 30). */
#include "lib/proxy/upstream.h"

static void touch(wh_conn *c) {
  uint64_t idle = c->ep->idle_ms;
  c->up_kind = WH_UP_TUNNEL;
  c->up_deadline = idle ? wh_worker_now(c->w) + idle : 0;
}

static void on_half_closed(uv_shutdown_t *req, int status) {
  (void)req;
  (void)status; /* errors surface on the read side */
}

void wh_tunnel_start(wh_conn *c, const char *early_up, size_t nup) {
  wh_upstream *u = c->up;
  c->tunnel = true;
  c->resp_done = true;
  c->rd_deadline = 0;
  c->rd_kind = WH_RD_NONE;
  c->wr_deadline = 0;
  c->bp_paused = false;
  touch(c);
  if (nup)
    wh_tunnel_on_up_data(c, early_up, nup);
  if (c->tail_len && !c->dead) {
    /* bytes the client sent right after its upgrade request */
    uv_buf_t b = uv_buf_init(c->tail, (unsigned)c->tail_len);
    c->tail_len = 0;
    if (wh_upstream_write(u, &b, 1) < 0) {
      wh_conn_destroy(c);
      return;
    }
  }
  wh_conn_update_reading(c);
  wh_upstream_update_reading(u);
}

void wh_tunnel_on_client_data(wh_conn *c, const char *data, size_t len) {
  if (!c->up) {
    wh_conn_destroy(c);
    return;
  }
  touch(c);
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  if (wh_upstream_write(c->up, &b, 1) < 0)
    wh_conn_destroy(c);
}

void wh_tunnel_on_up_data(wh_conn *c, const char *data, size_t len) {
  touch(c);
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  wh_conn_write(c, &b, 1);
}

void wh_tunnel_on_client_eof(wh_conn *c) {
  c->tunnel_eof_down = true;
  wh_conn_update_reading(c);
  if (c->tunnel_eof_up || !c->up) {
    wh_conn_destroy(c);
    return;
  }
  wh_upstream *u = c->up;
  wh_upstream_close_notify(u); /* a TLS backend reads the end of the stream first */
  u->sreq.data = u;
  if (uv_shutdown(&u->sreq, (uv_stream_t *)&u->tcp, on_half_closed) < 0)
    wh_conn_destroy(c);
}

void wh_tunnel_on_up_eof(wh_conn *c) {
  c->tunnel_eof_up = true;
  wh_upstream *u = c->up;
  if (u && u->reading) {
    uv_read_stop((uv_stream_t *)&u->tcp);
    u->reading = false;
  }
  if (c->tunnel_eof_down) {
    wh_conn_destroy(c);
    return;
  }
  wh_conn_close_notify(c);
  c->sreq.data = c;
  if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_half_closed) < 0)
    wh_conn_destroy(c);
}
