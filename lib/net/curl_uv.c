#include "lib/net/curl_uv.h"

#include <stdbool.h>
#include <stdlib.h>

#include "lib/core/err.h"
#include "lib/core/log.h"

typedef struct xfer {
  CURL *easy;
  wh_curl_uv_done_fn done;
  void *arg;
  bool added;     /* in the multi (false: waiting for libcurl to return) */
  bool cancelled; /* done is not to be called; removed when libcurl returns */
  struct xfer *prev, *next;
} xfer;

typedef struct sock_ctx {
  wh_curl_uv *m; /* first: on_handle_closed reads it */
  uv_poll_t poll;
  curl_socket_t fd;
  struct sock_ctx *prev, *next;
} sock_ctx;

struct wh_curl_uv {
  uv_loop_t *loop;
  const wh_curl_api *api;
  CURLM *multi;
  uv_timer_t *timer; /* NULL while libcurl wants no timeout and nothing runs */
  sock_ctx *socks;
  xfer *xfers;
  size_t running;
  int in_curl;      /* >0 inside a libcurl call: multi calls are refused there */
  int busy;         /* >0 inside a dispatch: m must outlive it */
  int open_handles; /* uv handles not yet closed */
  bool closing;
};

static void maybe_free(wh_curl_uv *m) {
  if (m->closing && m->busy == 0 && m->open_handles == 0) {
    const wh_curl_api *api = m->api;
    free(m);
    api->global_cleanup();
  }
}

static void on_handle_closed(uv_handle_t *h) {
  wh_curl_uv *m = *(wh_curl_uv **)h->data;
  free(h->data);
  m->open_handles--;
  maybe_free(m);
}

/* ---- timer ---- */

typedef struct timer_ctx {
  wh_curl_uv *m; /* first: on_handle_closed reads it */
  uv_timer_t t;
} timer_ctx;

static void close_timer(wh_curl_uv *m) {
  if (!m->timer)
    return;
  uv_timer_stop(m->timer);
  uv_close((uv_handle_t *)m->timer, on_handle_closed);
  m->timer = NULL;
}

static void dispatch(wh_curl_uv *m, curl_socket_t fd, int flags);

static void on_timeout(uv_timer_t *t) {
  timer_ctx *tc = t->data;
  dispatch(tc->m, CURL_SOCKET_TIMEOUT, 0);
}

static int on_curl_timer(CURLM *multi, long ms, void *userp) {
  (void)multi;
  wh_curl_uv *m = userp;
  if (ms < 0) {
    if (m->timer) {
      uv_timer_stop(m->timer);
      if (m->running == 0)
        close_timer(m);
    }
    return 0;
  }
  if (m->closing)
    return 0;
  if (!m->timer) {
    timer_ctx *tc = calloc(1, sizeof(*tc));
    if (!tc || uv_timer_init(m->loop, &tc->t) != 0) {
      free(tc);
      return -1;
    }
    tc->m = m;
    tc->t.data = tc;
    m->timer = &tc->t;
    m->open_handles++;
  }
  /* libcurl asks for 0 to be run "now": from the loop, never from inside
   * this callback (a multi call here would be refused) */
  uv_timer_start(m->timer, on_timeout, (uint64_t)ms, 0);
  return 0;
}

/* ---- sockets ---- */

static void sock_close(wh_curl_uv *m, sock_ctx *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    m->socks = c->next;
  if (c->next)
    c->next->prev = c->prev;
  uv_poll_stop(&c->poll);
  uv_close((uv_handle_t *)&c->poll, on_handle_closed);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  sock_ctx *c = p->data;
  int flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  else {
    if (events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
  }
  dispatch(c->m, c->fd, flags);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  (void)easy;
  wh_curl_uv *m = userp;
  sock_ctx *c = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (c) {
      m->api->multi_assign(m->multi, fd, NULL);
      sock_close(m, c);
    }
    return 0;
  }
  if (!c) {
    c = calloc(1, sizeof(*c));
    if (!c || uv_poll_init_socket(m->loop, &c->poll, fd) != 0) {
      free(c);
      return -1;
    }
    c->m = m;
    c->fd = fd;
    c->poll.data = c;
    m->open_handles++;
    c->next = m->socks;
    if (m->socks)
      m->socks->prev = c;
    m->socks = c;
    m->api->multi_assign(m->multi, fd, c);
  }
  int ev = 0;
  if (what & CURL_POLL_IN)
    ev |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    ev |= UV_WRITABLE;
  uv_poll_start(&c->poll, ev, on_poll);
  return 0;
}

/* ---- transfers ---- */

static void unlink_xfer(wh_curl_uv *m, xfer *t) {
  if (t->prev)
    t->prev->next = t->next;
  else
    m->xfers = t->next;
  if (t->next)
    t->next->prev = t->prev;
  m->running--;
}

/* Takes t out of the multi and frees it; the caller calls done if due. */
static void xfer_remove(wh_curl_uv *m, xfer *t) {
  unlink_xfer(m, t);
  m->api->easy_setopt(t->easy, CURLOPT_PRIVATE, (void *)NULL);
  if (t->added) {
    m->in_curl++;
    m->api->multi_remove_handle(m->multi, t->easy);
    m->in_curl--;
  }
  free(t);
  if (m->running == 0 && m->timer && !uv_is_active((uv_handle_t *)m->timer))
    close_timer(m);
}

static void finish(wh_curl_uv *m, xfer *t, CURLcode rc) {
  wh_curl_uv_done_fn done = t->cancelled ? NULL : t->done;
  void *arg = t->arg;
  CURL *easy = t->easy;
  xfer_remove(m, t);
  if (done)
    done(arg, easy, rc);
}

/* Additions and cancellations asked for while libcurl was running. */
static void flush(wh_curl_uv *m) {
  bool again = true;
  while (again && !m->closing) {
    again = false;
    for (xfer *t = m->xfers, *nx; t; t = nx) {
      nx = t->next;
      if (t->cancelled) {
        xfer_remove(m, t);
      } else if (!t->added) {
        if (m->api->multi_add_handle(m->multi, t->easy) == CURLM_OK) {
          t->added = true;
          continue;
        }
        finish(m, t, CURLE_FAILED_INIT);
        again = true; /* the callback may have changed the list */
        break;
      }
    }
  }
}

static void read_info(wh_curl_uv *m) {
  CURLMsg *msg;
  int left;
  while (!m->closing && (msg = m->api->multi_info_read(m->multi, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    CURL *easy = msg->easy_handle;
    CURLcode rc = msg->data.result;
    xfer *t = NULL;
    m->api->easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
    if (t)
      finish(m, t, rc);
  }
}

static void dispatch(wh_curl_uv *m, curl_socket_t fd, int flags) {
  if (m->closing)
    return;
  m->busy++;
  int running = 0;
  m->in_curl++;
  m->api->multi_socket_action(m->multi, fd, flags, &running);
  m->in_curl--;
  flush(m);
  read_info(m);
  flush(m);
  m->busy--;
  maybe_free(m);
}

/* ---- public ---- */

wh_curl_uv *wh_curl_uv_new(uv_loop_t *loop) {
  const wh_curl_api *api = wh_curl_load();
  if (!api || api->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return NULL;
  wh_curl_uv *m = calloc(1, sizeof(*m));
  if (!m || !(m->multi = api->multi_init())) {
    free(m);
    api->global_cleanup();
    return NULL;
  }
  m->loop = loop;
  m->api = api;
  api->multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  api->multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
  api->multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  api->multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
  return m;
}

const wh_curl_api *wh_curl_uv_api(const wh_curl_uv *m) {
  return m->api;
}

uv_loop_t *wh_curl_uv_loop(const wh_curl_uv *m) {
  return m->loop;
}

size_t wh_curl_uv_running(const wh_curl_uv *m) {
  return m->running;
}

int wh_curl_uv_add(wh_curl_uv *m, CURL *easy, wh_curl_uv_done_fn done, void *arg) {
  if (!m || m->closing || !easy || !done)
    return WH_ERR;
  xfer *t = calloc(1, sizeof(*t));
  if (!t)
    return WH_ENOMEM;
  t->easy = easy;
  t->done = done;
  t->arg = arg;
  m->api->easy_setopt(easy, CURLOPT_PRIVATE, (void *)t);
  t->next = m->xfers;
  if (m->xfers)
    m->xfers->prev = t;
  m->xfers = t;
  m->running++;
  if (m->in_curl > 0)
    return 0; /* added by flush once libcurl returns */
  m->in_curl++;
  CURLMcode rc = m->api->multi_add_handle(m->multi, easy);
  m->in_curl--;
  if (rc != CURLM_OK) {
    unlink_xfer(m, t);
    m->api->easy_setopt(easy, CURLOPT_PRIVATE, (void *)NULL);
    free(t);
    return rc == CURLM_OUT_OF_MEMORY ? WH_ENOMEM : WH_ERR;
  }
  t->added = true;
  return 0;
}

void wh_curl_uv_cancel(wh_curl_uv *m, CURL *easy) {
  if (!m || !easy)
    return;
  xfer *t = NULL;
  m->api->easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
  if (!t)
    return;
  if (m->in_curl > 0) {
    t->cancelled = true; /* flush removes it */
    return;
  }
  xfer_remove(m, t);
}

void wh_curl_uv_close(wh_curl_uv *m) {
  if (!m || m->closing)
    return;
  m->busy++;
  m->closing = true; /* done callbacks run below cannot add transfers */
  while (m->xfers)
    finish(m, m->xfers, CURLE_ABORTED_BY_CALLBACK);
  m->api->multi_cleanup(m->multi);
  m->multi = NULL;
  /* sockets libcurl did not report removed before its cleanup */
  while (m->socks)
    sock_close(m, m->socks);
  close_timer(m);
  m->busy--;
  maybe_free(m);
}
