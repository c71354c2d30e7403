/* Worker threads: loops, snapshot posting, the coarse deadline tick and the
 * graceful drain. */
#include "lib/proxy/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/core/duration.h"
#include "lib/core/log.h"
#include "lib/observe/observe.h"
#include "lib/proxy/conn.h"
#include "lib/proxy/upstream.h"
#include "lib/tls/client.h"

/* Deadlines are checked lazily by one coarse tick per loop rather than a
 * libuv timer per connection (a binary heap start/stop per request). */
#define WH_TICK_MS 250
#define WH_DRAIN_POLL_MS 50

uint64_t wh_worker_now(wh_worker *w) {
  return uv_now(&w->loop);
}

const char *wh_worker_date(wh_worker *w) {
  time_t now = time(NULL);
  if (now != w->date_sec || !w->date[0]) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(w->date, sizeof(w->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    w->date_sec = now;
  }
  return w->date;
}

/* ---- on the worker's loop ---- */

static void close_listeners(wh_worker *w) {
  for (size_t i = 0; i < w->nlisteners; i++)
    wh_listener_close(&w->listeners[i]);
  w->accept_stopped = true;
}

static void stop_accept(wh_worker *w) {
  close_listeners(w);
  w->draining = true;
  for (wh_conn *c = w->conns, *nx; c; c = nx) {
    nx = c->next;
    wh_conn_drain(c);
  }
}

static void stop_all(wh_worker *w) {
  if (w->stopping)
    return;
  w->stopping = true;
  w->draining = true;
  close_listeners(w);
  for (wh_conn *c = w->conns, *nx; c; c = nx) {
    nx = c->next;
    wh_conn_destroy(c);
  }
  wh_upstream_expire_idle(w, UINT64_MAX);
  uv_timer_stop(&w->tick);
  uv_close((uv_handle_t *)&w->tick, NULL);
  uv_close((uv_handle_t *)&w->async, NULL);
}

static void on_async(uv_async_t *a) {
  wh_worker *w = a->data;
  uv_mutex_lock(&w->mu);
  wh_snapshot *snap = w->pending;
  w->pending = NULL;
  unsigned cmds = w->cmds;
  w->cmds = 0;
  uv_mutex_unlock(&w->mu);
  if (snap) {
    /* Requests in flight keep their own references to the old one. */
    wh_snapshot_unref(w->current);
    w->current = snap;
  }
  if (w->stopping)
    return;
  if (cmds & WH_CMD_STOP) {
    stop_all(w);
    return;
  }
  if ((cmds & WH_CMD_STOP_ACCEPT) && !w->accept_stopped)
    stop_accept(w);
}

static void on_tick(uv_timer_t *t) {
  wh_worker *w = t->data;
  uint64_t now = wh_worker_now(w);
  for (wh_conn *c = w->conns, *nx; c; c = nx) {
    nx = c->next;
    wh_conn_check_deadlines(c, now);
  }
  wh_upstream_expire_idle(w, now);
  wh_observe_tick(wh_observe_global(), w->index);
  if (w->draining) {
    /* connections that finished their exchange since the drain began */
    for (wh_conn *c = w->conns, *nx; c; c = nx) {
      nx = c->next;
      wh_conn_drain(c);
    }
  }
}

static void worker_main(void *arg) {
  wh_worker *w = arg;
  uv_run(&w->loop, UV_RUN_DEFAULT);
}

/* ---- control thread ---- */

static void post(wh_worker *w, wh_snapshot *snap, unsigned cmds) {
  uv_mutex_lock(&w->mu);
  if (snap) {
    wh_snapshot_unref(w->pending);
    w->pending = wh_snapshot_ref(snap);
  }
  w->cmds |= cmds;
  uv_mutex_unlock(&w->mu);
  uv_async_send(&w->async);
}

void wh_workers_publish(wh_workers *ws, wh_snapshot *snap) {
  if (!snap)
    return;
  if (ws && !ws->joined)
    for (int i = 0; i < ws->n; i++)
      post(ws->w[i], snap, 0);
  wh_snapshot_unref(snap);
}

int wh_workers_count(const wh_workers *ws) {
  return ws->n;
}

static void free_worker(wh_worker *w) {
  if (!w)
    return;
  wh_snapshot_unref(w->current);
  wh_snapshot_unref(w->pending);
  wh_conn_free_list(w);
  wh_conn_free_spares(w);
  wh_pool_free(&w->pool);
  wh_tls_session_cache_free(w->tls_sessions);
  for (size_t i = 0; i < w->nlisteners; i++)
    if (!w->listeners[i].open && w->listeners[i].fd >= 0 && !w->listeners[i].w)
      close(w->listeners[i].fd);
  free(w->listeners);
  uv_mutex_destroy(&w->mu);
  free(w);
}

static int init_worker(wh_workers *ws, int index, wh_snapshot *snap, char *err, size_t errlen) {
  wh_worker *w = calloc(1, sizeof(*w));
  if (!w) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  ws->w[index] = w;
  w->index = index;
  w->ws = ws;
  wh_pool_init(&w->pool);
  uv_mutex_init(&w->mu);
  atomic_init(&w->nconns, 0);
  w->current = wh_snapshot_ref(snap);
  w->listeners = calloc(ws->neps ? ws->neps : 1, sizeof(*w->listeners));
  if (!w->listeners || uv_loop_init(&w->loop) < 0) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < ws->neps; i++)
    w->listeners[i].fd = -1;
  uv_async_init(&w->loop, &w->async, on_async);
  w->async.data = w;
  uv_timer_init(&w->loop, &w->tick);
  w->tick.data = w;
  uv_timer_start(&w->tick, on_tick, WH_TICK_MS, WH_TICK_MS);
  for (size_t i = 0; i < ws->neps; i++) {
    const wh_ep_ctx *e = &ws->eps[i];
    if (e->ep->is_udp)
      continue;
    wh_listener *l = &w->listeners[w->nlisteners];
    l->ep = e;
    l->fd = wh_listener_socket(e->ep->host, e->ep->port, err, errlen);
    if (l->fd < 0)
      return -1;
    w->nlisteners++;
    int rc = wh_listener_start(l, w);
    if (rc < 0) {
      snprintf(err, errlen, "listen: %s", uv_strerror(rc));
      return -1;
    }
  }
  return 0;
}

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

/* Closes a loop whose thread never ran (start-up failure). */
static void discard_loop(wh_worker *w) {
  uv_walk(&w->loop, close_walk, NULL);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  uv_loop_close(&w->loop);
}

static int ep_ctx_init(wh_ep_ctx *e, const wh_static_config *stat, size_t i, char *err,
                       size_t errlen) {
  const wh_entrypoint *ep = stat->entry_points.vals[i];
  e->name = stat->entry_points.keys[i];
  e->index = i;
  e->ep = ep;
  e->sanitize = !ep->http.sanitize_path_set || ep->http.sanitize_path;
  const wh_ep_responding_timeouts *rt = &ep->transport.responding_timeouts;
  e->read_ms = rt->read_timeout > 0 ? (uint64_t)(rt->read_timeout / WH_MS) : 0;
  e->write_ms = rt->write_timeout > 0 ? (uint64_t)(rt->write_timeout / WH_MS) : 0;
  e->idle_ms = rt->idle_timeout > 0 ? (uint64_t)(rt->idle_timeout / WH_MS) : 0;
  if (ep->forwarded_headers) {
    e->insecure = ep->forwarded_headers->insecure;
    e->not_append_xff = ep->forwarded_headers->not_append_x_forwarded_for;
    if (ep->forwarded_headers->trusted_ips.n) {
      const char *bad = NULL;
      e->trusted = wh_ipset_parse(ep->forwarded_headers->trusted_ips.v,
                                  ep->forwarded_headers->trusted_ips.n, &bad);
      if (!e->trusted) {
        snprintf(err, errlen, "entry point \"%s\": forwardedHeaders.trustedIPs: invalid \"%s\"",
                 e->name, bad ? bad : "?");
        return -1;
      }
    }
  }
  if (ep->proxy_protocol) {
    e->pp_insecure = ep->proxy_protocol->insecure;
    e->pp_enabled = e->pp_insecure || ep->proxy_protocol->trusted_ips.n > 0;
    if (ep->proxy_protocol->trusted_ips.n) {
      const char *bad = NULL;
      e->pp_trusted = wh_ipset_parse(ep->proxy_protocol->trusted_ips.v,
                                     ep->proxy_protocol->trusted_ips.n, &bad);
      if (!e->pp_trusted) {
        snprintf(err, errlen, "entry point \"%s\": proxyProtocol.trustedIPs: invalid \"%s\"",
                 e->name, bad ? bad : "?");
        return -1;
      }
    }
  }
  return 0;
}

static void free_all(wh_workers *ws, bool ran) {
  for (int i = 0; i < ws->n; i++) {
    if (!ws->w[i])
      continue;
    if (!ran)
      discard_loop(ws->w[i]);
    else
      uv_loop_close(&ws->w[i]->loop);
    free_worker(ws->w[i]);
  }
  for (size_t i = 0; i < ws->neps; i++) {
    wh_ipset_free(ws->eps[i].trusted);
    wh_ipset_free(ws->eps[i].pp_trusted);
  }
  free(ws->eps);
  free(ws->w);
  free(ws);
}

wh_workers *wh_workers_start(const wh_static_config *stat, int nworkers, wh_snapshot *snap,
                             char *err, size_t errlen) {
  if (nworkers <= 0) {
    nworkers = (int)uv_available_parallelism();
    if (nworkers <= 0)
      nworkers = 1;
  }
  wh_workers *ws = calloc(1, sizeof(*ws));
  if (!ws) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  ws->stat = stat;
  atomic_init(&ws->terminating, false);
  if (gethostname(ws->hostname, sizeof(ws->hostname) - 1) != 0)
    strcpy(ws->hostname, "localhost");
  ws->neps = stat->entry_points.n;
  ws->eps = calloc(ws->neps ? ws->neps : 1, sizeof(*ws->eps));
  ws->w = calloc((size_t)nworkers, sizeof(*ws->w));
  if (!ws->eps || !ws->w) {
    snprintf(err, errlen, "out of memory");
    free(ws->eps);
    free(ws->w);
    free(ws);
    return NULL;
  }
  ws->n = nworkers;
  for (size_t i = 0; i < ws->neps; i++) {
    if (ep_ctx_init(&ws->eps[i], stat, i, err, errlen) < 0) {
      free_all(ws, false);
      return NULL;
    }
  }
  for (int i = 0; i < nworkers; i++) {
    if (init_worker(ws, i, snap, err, errlen) < 0) {
      free_all(ws, false);
      return NULL;
    }
  }
  /* Every socket is bound: only now do the loops start running. */
  for (int i = 0; i < nworkers; i++) {
    if (uv_thread_create(&ws->w[i]->thread, worker_main, ws->w[i]) != 0) {
      wh_log_error("cannot start worker thread %d", i);
      /* the threads already started are stopped and joined by free */
      ws->n = i;
      for (int j = i; j < nworkers; j++) {
        discard_loop(ws->w[j]);
        free_worker(ws->w[j]);
        ws->w[j] = NULL;
      }
      wh_workers_free(ws);
      snprintf(err, errlen, "cannot start worker threads");
      return NULL;
    }
  }
  wh_log_info("%d worker thread%s serving %zu entry point%s", nworkers, nworkers == 1 ? "" : "s",
              ws->neps, ws->neps == 1 ? "" : "s");
  return ws;
}

static void join_all(wh_workers *ws) {
  if (ws->joined)
    return;
  for (int i = 0; i < ws->n; i++)
    post(ws->w[i], NULL, WH_CMD_STOP);
  for (int i = 0; i < ws->n; i++)
    uv_thread_join(&ws->w[i]->thread);
  ws->joined = true;
}

void wh_workers_free(wh_workers *ws) {
  if (!ws)
    return;
  join_all(ws);
  free_all(ws, true);
}

/* ---- drain ---- */

enum { DRAIN_ACCEPTING = 1, DRAIN_FINISHING, DRAIN_DONE };

static size_t total_conns(const wh_workers *ws) {
  size_t n = 0;
  for (int i = 0; i < ws->n; i++)
    n += atomic_load(&ws->w[i]->nconns);
  return n;
}

static void on_drain_closed(uv_handle_t *h) {
  wh_workers *ws = h->data;
  if (ws->done)
    ws->done(ws->done_ctx);
}

static void on_drain_timer(uv_timer_t *t) {
  wh_workers *ws = t->data;
  uint64_t now = uv_now(ws->ctl_loop);
  if (ws->drain_phase == DRAIN_ACCEPTING) {
    for (int i = 0; i < ws->n; i++)
      post(ws->w[i], NULL, WH_CMD_STOP_ACCEPT);
    ws->drain_phase = DRAIN_FINISHING;
    uint64_t grace = 0;
    for (size_t i = 0; i < ws->neps; i++) {
      wh_duration g = ws->eps[i].ep->transport.life_cycle.grace_time_out;
      if (g > 0 && (uint64_t)(g / WH_MS) > grace)
        grace = (uint64_t)(g / WH_MS);
    }
    ws->drain_deadline = now + grace;
    uv_timer_start(t, on_drain_timer, WH_DRAIN_POLL_MS, WH_DRAIN_POLL_MS);
    return;
  }
  if (ws->drain_phase == DRAIN_FINISHING) {
    size_t left = total_conns(ws);
    if (left > 0 && now < ws->drain_deadline)
      return;
    if (left > 0)
      wh_log_info("grace period over: closing %zu connection%s", left, left == 1 ? "" : "s");
    ws->drain_phase = DRAIN_DONE;
    uv_timer_stop(t);
    join_all(ws);
    uv_close((uv_handle_t *)t, on_drain_closed);
  }
}

void wh_workers_drain(wh_workers *ws, uv_loop_t *loop, wh_workers_done_fn done, void *ctx) {
  if (ws->drain_phase)
    return;
  atomic_store(&ws->terminating, true); /* /ping answers 503 from now on */
  ws->ctl_loop = loop;
  ws->done = done;
  ws->done_ctx = ctx;
  ws->drain_phase = DRAIN_ACCEPTING;
  uint64_t accept_grace = 0;
  for (size_t i = 0; i < ws->neps; i++) {
    wh_duration g = ws->eps[i].ep->transport.life_cycle.request_accept_grace_timeout;
    if (g > 0 && (uint64_t)(g / WH_MS) > accept_grace)
      accept_grace = (uint64_t)(g / WH_MS);
  }
  uv_timer_init(loop, &ws->drain_timer);
  ws->drain_timer.data = ws;
  uv_timer_start(&ws->drain_timer, on_drain_timer, accept_grace, 0);
}
