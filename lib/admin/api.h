/* The Traefik-compatible admin API (TRAEFIK-COMPAT.md §8) and /ping, as pure
 * functions of a snapshot: no sockets, so the HTTP server, the data plane's
 * api@internal service and the unit tests all call the same code. */
#ifndef WH_ADMIN_API_H
#define WH_ADMIN_API_H

#include <stdbool.h>
#include <time.h>

#include "lib/http/request.h"
#include "lib/router/snapshot.h"

/* Fills resp for <method> <path>?<query> of the API. path is the raw
 * (percent-encoded) request path, query the raw query string or NULL; both
 * borrowed. Returns 0 when path is under /api (including 404/405 answers),
 * WH_ENOENT when it is not an API path (resp untouched). snap may be NULL
 * before the first configuration is built (empty collections). */
int wh_api_handle(const wh_snapshot *snap, const char *method, const char *path, const char *query,
                  wh_http_resp *resp);

/* The process start time reported by /api/version ("startDate"). Defaults to
 * the time of the first call to wh_api_handle; the main program sets it at
 * start-up. */
void wh_api_set_start_time(time_t t);

/* /ping: 200 "OK", or terminating_status (503 when 0) with its reason phrase
 * while shutting down, like Traefik. */
void wh_ping_handle(bool terminating, int terminating_status, wh_http_resp *resp);

#endif
