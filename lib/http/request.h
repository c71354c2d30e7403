/* A parsed HTTP/1.x request and the response a synchronous handler fills.
 * Kept free of libuv so that handlers (the admin API, ping) can be tested
 * and reused without sockets. */
#ifndef WH_HTTP_REQUEST_H
#define WH_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "lib/core/str.h"

/* Everything is borrowed from the connection for the duration of the handler
 * call only: copy what must outlive it. */
typedef struct wh_http_req {
  const char *method; /* "GET" */
  const char *target; /* request-target as received */
  const char *path;   /* raw (still percent-encoded) path part of target; "*" for OPTIONS * */
  const char *query;  /* after '?', NULL when none */
  const char *host;   /* Host header value, NULL when absent (HTTP/1.0 only) */
  size_t nheaders;
  char **hdr_names; /* spelling as received */
  char **hdr_values;
  const char *body; /* NUL-terminated for convenience; may contain NULs itself */
  size_t body_len;
  struct sockaddr_storage peer;
  int http_minor;  /* 0 or 1 */
  bool keep_alive; /* the connection stays open after the response unless resp->close */
} wh_http_req;

/* Owned by whoever initialised it (zero-initialise, or wh_http_resp_init);
 * release with wh_http_resp_free. */
typedef struct wh_http_resp {
  int status; /* 0 means 200 */
  wh_strbuf body;
  char **hdr_names; /* owned copies */
  char **hdr_values;
  size_t nheaders;
  bool close; /* handler asks to close the connection after this response */
} wh_http_resp;

void wh_http_resp_init(wh_http_resp *r);
void wh_http_resp_free(wh_http_resp *r); /* frees what r owns, leaves it zeroed */
/* Appends a header (copies both). Content-Length, Date and Connection are
 * set by the server and must not be given here. Returns 0 or WH_ENOMEM. */
int wh_http_resp_header(wh_http_resp *r, const char *name, const char *value);
/* First value of a response header (case-insensitive name), NULL when absent. */
const char *wh_http_resp_get_header(const wh_http_resp *r, const char *name);
/* Sets status, Content-Type "text/plain; charset=utf-8" and the body text. */
int wh_http_resp_text(wh_http_resp *r, int status, const char *text);

/* First value of a request header (case-insensitive name), NULL when absent. */
const char *wh_http_req_header(const wh_http_req *req, const char *name);

/* Reason phrase for a status code ("OK", "Not Found"); "Unknown" otherwise. */
const char *wh_http_status_reason(int status);

#endif
