/* A libcurl multi handle driven by one libuv loop: curl's sockets are
 * watched with uv_poll handles and its timeout with a uv_timer, and each
 * transfer reports its end through its own callback. Everything here runs
 * on the loop's thread.
 *
 * The uv handles exist only while libcurl needs them (a socket it watches,
 * a timeout it asked for): an idle multi holds no uv handle, so a loop can
 * end (and uv_loop_close succeed) while a multi bound to it stays alive with
 * its cache of idle connections. */
#ifndef WH_NET_CURL_UV_H
#define WH_NET_CURL_UV_H

#include <stddef.h>
#include <uv.h>

#include "lib/net/curl_dl.h"

typedef struct wh_curl_uv wh_curl_uv;

/* The end of a transfer: result is curl's code (CURLE_OK when a response was
 * received, whatever its status). The easy handle has been removed from the
 * multi and belongs to the caller again (clean it up or reuse it). Called
 * on the loop, never from inside wh_curl_uv_add. */
typedef void (*wh_curl_uv_done_fn)(void *arg, CURL *easy, CURLcode result);

/* Loads libcurl (lib/net/curl_dl.h) and creates a multi bound to loop.
 * NULL when libcurl cannot be loaded or on OOM. Free with wh_curl_uv_close. */
wh_curl_uv *wh_curl_uv_new(uv_loop_t *loop);
/* The libcurl calls (valid once a multi exists). */
const wh_curl_api *wh_curl_uv_api(const wh_curl_uv *m);
uv_loop_t *wh_curl_uv_loop(const wh_curl_uv *m);

/* Starts a transfer of easy (configured by the caller, which keeps owning
 * it; CURLOPT_PRIVATE is reserved to this module). done(arg, ...) is called
 * exactly once unless the transfer is cancelled. May be called from done
 * callbacks and from inside libcurl callbacks (write, header): the handle is
 * then added when libcurl returns. 0, or WH_ENOMEM / WH_ERR (not started,
 * done will not be called). */
int wh_curl_uv_add(wh_curl_uv *m, CURL *easy, wh_curl_uv_done_fn done, void *arg);
/* Stops a transfer without calling its done callback. Outside libcurl's
 * callbacks the easy handle is the caller's again when this returns. From
 * inside a libcurl callback (of any transfer of m) the transfer is only
 * marked and removed once libcurl returns: the handle must not be freed or
 * reused before then (the Docker engine client never cancels from there;
 * from the callback of that very transfer, return an error instead). */
void wh_curl_uv_cancel(wh_curl_uv *m, CURL *easy);
/* Transfers started and not finished. */
size_t wh_curl_uv_running(const wh_curl_uv *m);

/* Ends every transfer still running (their done callbacks run from here
 * with CURLE_ABORTED_BY_CALLBACK and must not start new ones on m), closes
 * the uv handles and frees m once they are closed (so the loop must run
 * again). Not from inside a libcurl callback. */
void wh_curl_uv_close(wh_curl_uv *m);

#endif
