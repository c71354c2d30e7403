/* What a middleware's request hook sees and may change. The data plane
 * extends this as middlewares gain runtimes. */
#ifndef WH_HTTP_EXCHANGE_H
#define WH_HTTP_EXCHANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/config/schema.h"
#include "lib/http/request.h"

enum { WH_MW_NEXT = 0, WH_MW_DONE = 1, WH_MW_ASYNC = 2 };

/* A request a middleware finishes later (forwardAuth's call to the auth
 * server, a password hash computed off the loop): the hook calls
 * wh_mw_exchange_suspend, starts its work and returns WH_MW_ASYNC; later, on
 * the same worker loop and never from inside the hook, it calls
 * wh_mw_async_done with WH_MW_NEXT (go on with the chain) or WH_MW_DONE
 * (answer with a->x->resp). The exchange moves when it is suspended: use
 * a->x from then on, never the x the hook was given, and do not read
 * a->x->req after the call to done. done must be called exactly once, also
 * when the client has gone meanwhile (it then just frees). */
typedef struct wh_mw_async {
  void (*done)(struct wh_mw_async *a, int rc); /* the data plane's */
  struct wh_mw_exchange *x;                    /* valid until done */
  void *loop;                                  /* the worker's uv_loop_t */
  void *arg;                                   /* the middleware's own */
} wh_mw_async;

struct wh_runtime;

/* An edit a middleware asks for on the response the rest of the chain will
 * produce (the backend's, or a local answer of a later middleware or an
 * internal service). Edits apply outermost last: the middleware listed first
 * wraps the others, so its SET wins. */
typedef enum {
  WH_RESP_SET = 0,   /* replace every value */
  WH_RESP_DEL,       /* remove */
  WH_RESP_APPEND,    /* add to a comma list ("Vary: Origin"), unless already listed */
  WH_RESP_DEFAULT,   /* set only when the response does not carry it */
  WH_RESP_ADD,       /* one more field of that name (Set-Cookie) */
  WH_RESP_DEL_COOKIE /* remove the Set-Cookie fields of the cookie named value */
} wh_resp_op;

typedef struct wh_resp_edit {
  wh_resp_op op;
  unsigned level;     /* which middleware of the chain asked (1 = outermost) */
  char *name, *value; /* owned; value NULL for DEL */
} wh_resp_edit;

/* Called once when the exchange ends: status is the status sent to the
 * client, 0 when the exchange was aborted before one was (client gone,
 * backend failed mid-way). Loop thread of the worker that ran the exchange;
 * arg belongs to the middleware. */
typedef void (*wh_mw_end_fn)(void *arg, int status);

typedef struct wh_mw_end {
  wh_mw_end_fn fn;
  void *arg;
} wh_mw_end;

typedef struct wh_mw_exchange {
  const wh_http_req *req; /* borrowed, as received; req->peer is the socket's peer */
  bool is_tls;            /* the client connection is TLS */
  bool fwd_trusted;       /* the peer is in forwardedHeaders.trustedIPs (or insecure): its
                             X-Forwarded-* headers are believed */
  char *path;             /* the canonical path the next handler sees; owned: a
                             middleware that rewrites it frees the old one */
  /* Request headers for the next handler; owned. A NULL value removes the
   * header (customRequestHeaders with an empty value). */
  wh_strmap set_headers;
  wh_http_resp *resp; /* filled by a middleware that answers */
  /* Set by the data plane before each hook: the middleware's qualified
   * name ("ratelimit@file", state is keyed by it), the runtime (chain looks
   * its members up there) and the provider that defined the middleware. */
  const char *mw_name;
  const char *mw_provider;
  const char *router_name; /* the router's qualified name (per-router state) */
  const struct wh_runtime *rt;
  unsigned level; /* incremented for each middleware run */
  /* rateLimit: wait this long before the next handler runs (the data plane
   * parks the request on a timer; the largest delay asked wins). */
  uint32_t delay_ms;
  /* retry: total attempts (0 = the data plane's default) and the initial
   * backoff; the data plane retries network errors before any byte. */
  uint32_t retry_attempts, retry_interval_ms;
  /* compress: the encoding negotiated from Accept-Encoding (a
   * wh_encoding, 0 = none) and the response rules, borrowed from the
   * middleware's configuration (which the exchange's snapshot keeps). */
  /* buffering: read the whole request body before the backend is dialled,
   * 413 past buffer_req_max (0: the data plane's own bound) */
  bool buffer_req;
  int64_t buffer_req_max;
  int64_t buffer_resp_max; /* > 0: larger responses answered 500 (or aborted) */
  /* errors: responses whose status is in errors_status are replaced by a page
   * from errors_service (qualified, owned) at errors_query, with the status
   * kept or rewritten (errors_rewrites). Borrowed lists live in the
   * middleware's configuration. */
  const wh_strlist *errors_status;
  const wh_strmap *errors_rewrites;
  const char *errors_query;
  char *errors_service;
  /* basicAuth: the authenticated user, for the access log's ClientUsername
   * (owned; replace freeing the old one) */
  char *username;
  int compress_enc;
  int64_t compress_min_bytes;
  const wh_strlist *compress_include, *compress_exclude;
  /* Set by the data plane: how a hook suspends the exchange (NULL: it
   * cannot, e.g. in a unit test that did not provide one). */
  wh_mw_async *(*suspend)(void *ctx);
  void *suspend_ctx;
  /* Response edits and end callbacks registered so far, in chain order. */
  wh_resp_edit *edits;
  size_t nedits;
  wh_mw_end *ends;
  size_t nends;
} wh_mw_exchange;

/* Sets (replaces) a request header for the next handler; value NULL removes
 * it. Copies both. 0 or WH_ENOMEM. */
int wh_mw_exchange_set_header(wh_mw_exchange *x, const char *name, const char *value);
/* Value a request header has for the next handler (set_headers first; NULL
 * when absent or removed). */
const char *wh_mw_exchange_header(const wh_mw_exchange *x, const char *name);
/* Registers a response edit (copies name and value). 0 or WH_ENOMEM. */
int wh_mw_exchange_resp(wh_mw_exchange *x, wh_resp_op op, const char *name, const char *value);
/* Registers a callback for the end of the exchange. 0 or WH_ENOMEM (then
 * fn is not called: release what arg holds yourself). */
int wh_mw_exchange_on_end(wh_mw_exchange *x, wh_mw_end_fn fn, void *arg);
/* The handle to finish a suspended exchange with; NULL when suspending is
 * not possible (OOM, or no data plane): answer 500 instead. */
wh_mw_async *wh_mw_exchange_suspend(wh_mw_exchange *x);
void wh_mw_async_done(wh_mw_async *a, int rc);

/* Runs the middlewares named (qualified) in order, as the router's chain
 * does: WH_MW_DONE when one answered (or one cannot run: 500, fail closed). */
int wh_mw_run_list(wh_mw_exchange *x, char *const *names, size_t n);
/* Applies edits to a response's header list / to a local response: the
 * innermost middleware's first, each middleware's in the order it made
 * them, the outermost's last (so its SET wins, as wrapping handlers do). */
struct wh_headers;
void wh_resp_edits_apply(const wh_resp_edit *e, size_t n, struct wh_headers *h);
void wh_resp_edits_apply_local(const wh_resp_edit *e, size_t n, wh_http_resp *r);
void wh_resp_edits_free(wh_resp_edit *e, size_t n);
/* Frees what x owns. End callbacks still registered run with status 0: the
 * data plane takes edits and callbacks over (and clears them in x) when the
 * exchange goes on past the middlewares. */
void wh_mw_exchange_free(wh_mw_exchange *x);

#endif
