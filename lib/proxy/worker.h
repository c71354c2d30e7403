/* The data plane's threads: N workers, each with its own uv loop, its own
 * SO_REUSEPORT listening socket per TCP entry point, its own upstream pool
 * and its own connection freelist. Nothing on the hot path is shared between
 * workers except the immutable snapshot (reference counted atomically).
 *
 * The control thread owns the wh_workers object: it starts the workers,
 * publishes every new snapshot to all of them (a mutex-protected pending
 * pointer plus uv_async_send; each worker swaps its current pointer on its
 * own loop), drains them on SIGTERM and joins them. */
#ifndef WH_PROXY_WORKER_H
#define WH_PROXY_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "lib/config/static.h"
#include "lib/net/ipset.h"
#include "lib/proxy/pool.h"
#include "lib/router/snapshot.h"

typedef struct wh_workers wh_workers;

/* stat is borrowed for the workers' lifetime. nworkers 0 = one per CPU.
 * snap (borrowed) is the snapshot to serve until the first publish. Binds
 * every TCP entry point (errors, e.g. address in use, are reported here, in
 * err) and starts the threads. NULL on failure. */
wh_workers *wh_workers_start(const wh_static_config *stat, int nworkers, wh_snapshot *snap,
                             char *err, size_t errlen);
int wh_workers_count(const wh_workers *ws);
/* Control thread: hands snap to every worker. Consumes the caller's
 * reference (NULL-safe). */
void wh_workers_publish(wh_workers *ws, wh_snapshot *snap);

typedef void (*wh_workers_done_fn)(void *ctx);
/* Control thread: graceful stop (HARDENING 49). /ping answers 503 at once
 * while listeners keep accepting for lifeCycle.requestAcceptGraceTimeout,
 * then listeners close, idle keep-alive connections close, in-flight
 * requests and tunnels get up to lifeCycle.graceTimeOut (the largest of the
 * entry points' values), then everything is closed and the threads exit.
 * done(ctx) runs on loop once the threads have been joined. */
void wh_workers_drain(wh_workers *ws, uv_loop_t *loop, wh_workers_done_fn done, void *ctx);
/* Stops (hard) if still running, joins and frees. NULL-safe. Call after
 * done, or instead of a drain on a start-up failure. */
void wh_workers_free(wh_workers *ws);

/* ---- internal to lib/proxy ---- */

#define WH_WORKER_RBUF (64 * 1024)
#define WH_WORKER_TLS_BUF (16 * 1024) /* one TLS record of plaintext */
/* Cap on connections per worker beyond which new ones are closed at accept
 * (not in Traefik's schema; documented in docs/internals/proxy.md). */
#define WH_WORKER_MAX_CONNS 10000

/* Per entry point, shared read-only by every worker. */
typedef struct wh_ep_ctx {
  const char *name;
  size_t index; /* in stat->entry_points, which is also the snapshot's table order */
  const wh_entrypoint *ep;
  wh_ipset *trusted; /* forwardedHeaders.trustedIPs; NULL when none */
  bool insecure;     /* forwardedHeaders.insecure */
  bool not_append_xff;
  bool sanitize;
  /* proxyProtocol: a PROXY header is read from trusted peers (optional:
   * a trusted peer that sends none is taken as it is) */
  bool pp_enabled, pp_insecure;
  wh_ipset *pp_trusted;
  uint64_t read_ms, write_ms, idle_ms; /* 0 = none */
  int fd_proto;                        /* listening fds are created per worker */
} wh_ep_ctx;

struct wh_worker;
struct wh_conn;

typedef struct wh_listener {
  uv_tcp_t tcp;
  struct wh_worker *w;
  const wh_ep_ctx *ep;
  int fd;
  bool open;
} wh_listener;

enum { WH_CMD_STOP_ACCEPT = 1, WH_CMD_STOP = 2 };

typedef struct wh_worker {
  int index;
  wh_workers *ws;
  uv_thread_t thread;
  uv_loop_t loop;
  uv_async_t async;
  uv_timer_t tick;
  uv_mutex_t mu;
  wh_snapshot *pending; /* under mu */
  unsigned cmds;        /* under mu: WH_CMD_* */
  wh_snapshot *current; /* loop thread only; one reference */
  wh_listener *listeners;
  size_t nlisteners;
  struct wh_conn *conns; /* every open client connection (for deadlines, drain) */
  atomic_size_t nconns;  /* read by the control thread while draining */
  struct wh_conn *free_conns;
  size_t nfree;
  /* Per-request buffers of connections between requests (conn.c): an idle
   * keep-alive connection holds none, the next request takes a set back. */
  struct wh_conn_bufs *spare;
  size_t nspare;
  size_t nupstreams;
  wh_pool pool;
  /* resumable TLS sessions per backend, made on the first https dial */
  struct wh_tls_session_cache *tls_sessions;
  bool accept_stopped;
  bool draining; /* no new requests on kept-alive connections */
  bool stopping;
  time_t date_sec;
  char date[40]; /* "Thu, 01 Jan 1970 00:00:00 GMT" */
  char rbuf[WH_WORKER_RBUF];
  char tls_plain[WH_WORKER_TLS_BUF]; /* decrypted bytes, consumed before the next read */
  char tls_out[WH_WORKER_TLS_BUF];   /* small writes coalesced into one record */
  char up_plain[WH_WORKER_TLS_BUF];  /* decrypted backend bytes (upstream.c) */
  char *spare_hello;                 /* lent to connections reading their first bytes */
  struct wh_ch_reader *spare_chr;
} wh_worker;

struct wh_workers {
  const wh_static_config *stat;
  int n;
  wh_worker **w;
  wh_ep_ctx *eps;
  size_t neps;
  atomic_bool terminating;
  char hostname[256];
  /* drain, on the control loop */
  uv_loop_t *ctl_loop;
  uv_timer_t drain_timer;
  int drain_phase;
  uint64_t drain_deadline;
  wh_workers_done_fn done;
  void *done_ctx;
  bool joined;
};

/* listener.c: a bound, listening, non-blocking socket with SO_REUSEPORT
 * (and TCP_DEFER_ACCEPT), IPv4 or IPv6 ("" = "::" dual stack). Returns the
 * fd or -1 with err set. */
int wh_listener_socket(const char *host, int port, char *err, size_t errlen);
/* Worker thread: wraps fd in l->tcp on the worker's loop and listens. */
int wh_listener_start(wh_listener *l, struct wh_worker *w);
void wh_listener_close(wh_listener *l);

/* The worker's cached Date value (refreshed at most once a second). */
const char *wh_worker_date(wh_worker *w);
uint64_t wh_worker_now(wh_worker *w);

#endif
