/* A small Docker Engine API client: asynchronous GET requests on a uv loop,
 * driven through libcurl's multi-socket interface (libcurl is loaded with
 * dlopen, lib/net/curl_dl.h). Nothing here blocks. See
 * docs/internals/docker-provider.md. */
#ifndef WH_PROVIDERS_DOCKER_ENGINE_H
#define WH_PROVIDERS_DOCKER_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/config/static.h"
#include "lib/core/err.h"

struct cJSON;

/* A list or inspect answer larger than this fails the request. */
#define WH_ENGINE_MAX_BODY (16u * 1024u * 1024u)
/* An event line longer than this ends the event stream with an error. */
#define WH_ENGINE_MAX_LINE (1024u * 1024u)
/* Payloads nested deeper than this are refused before cJSON sees them. */
#define WH_ENGINE_MAX_DEPTH 64

typedef struct wh_engine wh_engine;
typedef struct wh_engine_req wh_engine_req;

typedef struct wh_engine_opts {
  const char *endpoint;            /* unix:///path, tcp://host:port, http://, https:// */
  const wh_client_tls *tls;        /* may be NULL; with tcp:// it selects https */
  const char *username, *password; /* Basic auth, both may be NULL */
  int64_t timeout_ms;              /* whole-request timeout of wh_engine_get; 0 means none */
  const char *user_agent;
} wh_engine_opts;

/* Parses the endpoint and loads libcurl. Returns NULL with a message in errs
 * for an unsupported endpoint (ssh://) or when libcurl cannot be loaded. The
 * strings of opts are copied. */
wh_engine *wh_engine_new(uv_loop_t *loop, const wh_engine_opts *opts, wh_errlist *errs);

/* The engine of a provider's static options (docker and swarm share their
 * names): http_client_timeout 0 means default_ms for list/inspect calls;
 * errors are prefixed with `prefix` ("providers.docker: "). */
wh_engine *wh_engine_for_provider(uv_loop_t *loop, const char *endpoint, const wh_client_tls *tls,
                                  const char *username, const char *password,
                                  wh_duration http_client_timeout, int64_t default_ms,
                                  const char *prefix, wh_errlist *errs);

/* Called once when a request ends. status is the HTTP status, or 0 when the
 * transfer failed (err then says why; err is NULL otherwise). body is
 * NUL-terminated and borrowed for the duration of the call. The callback may
 * start, cancel or close anything, including the engine. */
typedef void (*wh_engine_done_fn)(void *ud, long status, const char *body, size_t len,
                                  const char *err);
/* One newline-delimited element of a streaming answer (without the newline,
 * NUL-terminated, borrowed for the call; empty lines are skipped). */
typedef void (*wh_engine_line_fn)(void *ud, const char *line, size_t len);

/* Starts GET path (path includes the query). The answer is collected up to
 * WH_ENGINE_MAX_BODY. Returns NULL (and calls nothing) on OOM. The request
 * is owned by the engine; it is valid until done runs or it is cancelled. */
wh_engine_req *wh_engine_get(wh_engine *e, const char *path, wh_engine_done_fn done, void *ud);
/* Starts a streaming GET: each line of a 2xx answer goes to on_line as it
 * arrives, then done runs once at the end of the stream (body empty). A
 * non-2xx answer is collected and given to done like wh_engine_get. No
 * timeout applies. */
wh_engine_req *wh_engine_stream(wh_engine *e, const char *path, wh_engine_line_fn on_line,
                                wh_engine_done_fn done, void *ud);
/* No callback of r runs after this; r is freed (now or once the engine is out
 * of libcurl). NULL is ignored. */
void wh_engine_cancel(wh_engine_req *r);

/* Cancels every request and frees e once its handles have closed; closed
 * (may be NULL) runs then. No callback runs after this returns. */
void wh_engine_close(wh_engine *e, void (*closed)(void *ud), void *ud);

/* Deepest nesting of objects and arrays in s (strings are skipped), or -1
 * when it exceeds max before the end. */
int wh_engine_json_depth(const char *s, size_t n, int max);
/* Parses a JSON payload of the engine. Returns NULL with *why set (static
 * text) when it is nested deeper than WH_ENGINE_MAX_DEPTH, malformed or
 * truncated. The result is owned by the caller (cJSON_Delete). */
struct cJSON *wh_engine_parse_json(const char *s, size_t n, const char **why);

#endif
