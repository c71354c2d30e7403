#include "lib/http/request.h"

#include <stdlib.h>
#include <string.h>

#include "lib/core/err.h"

void wh_http_resp_init(wh_http_resp *r) {
  memset(r, 0, sizeof(*r));
}

void wh_http_resp_free(wh_http_resp *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->nheaders; i++) {
    free(r->hdr_names[i]);
    free(r->hdr_values[i]);
  }
  free(r->hdr_names);
  free(r->hdr_values);
  wh_strbuf_free(&r->body);
  memset(r, 0, sizeof(*r));
}

int wh_http_resp_header(wh_http_resp *r, const char *name, const char *value) {
  char **names = realloc(r->hdr_names, (r->nheaders + 1) * sizeof(*names));
  if (!names)
    return WH_ENOMEM;
  r->hdr_names = names;
  char **values = realloc(r->hdr_values, (r->nheaders + 1) * sizeof(*values));
  if (!values)
    return WH_ENOMEM;
  r->hdr_values = values;
  char *n = strdup(name), *v = strdup(value ? value : "");
  if (!n || !v) {
    free(n);
    free(v);
    return WH_ENOMEM;
  }
  names[r->nheaders] = n;
  values[r->nheaders] = v;
  r->nheaders++;
  return 0;
}

const char *wh_http_resp_get_header(const wh_http_resp *r, const char *name) {
  for (size_t i = 0; i < r->nheaders; i++)
    if (wh_strcaseeq(r->hdr_names[i], name))
      return r->hdr_values[i];
  return NULL;
}

int wh_http_resp_text(wh_http_resp *r, int status, const char *text) {
  r->status = status;
  r->body.len = 0;
  if (r->body.data)
    r->body.data[0] = '\0';
  if (wh_http_resp_header(r, "Content-Type", "text/plain; charset=utf-8") < 0)
    return WH_ENOMEM;
  return wh_strbuf_puts(&r->body, text);
}

const char *wh_http_req_header(const wh_http_req *req, const char *name) {
  for (size_t i = 0; i < req->nheaders; i++)
    if (wh_strcaseeq(req->hdr_names[i], name))
      return req->hdr_values[i];
  return NULL;
}

/* Go's http.StatusText spellings, so that bodies match Traefik's. */
static const struct {
  int code;
  const char *text;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Request Entity Too Large"},
    {414, "Request URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Requested Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {418, "I'm a teapot"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Entity"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
    {507, "Insufficient Storage"},
};

const char *wh_http_status_reason(int status) {
  for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
    if (reasons[i].code == status)
      return reasons[i].text;
  return "Unknown";
}
