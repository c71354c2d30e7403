/* Responses wharf writes itself: local answers (404, 502, internal
 * services) serialised with the framing the server owns. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/core/str.h"
#include "lib/proxy/conn.h"

static bool header_text_ok(const char *s) {
  for (; *s; s++)
    if (*s == '\r' || *s == '\n')
      return false;
  return true;
}

static bool server_owned(const char *name) {
  return strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Connection") == 0 ||
         strcasecmp(name, "Date") == 0 || strcasecmp(name, "Transfer-Encoding") == 0;
}

void wh_resp_serialize(wh_strbuf *out, const wh_http_resp *r, bool head_only, int http_minor,
                       bool close, const char *date) {
  int status = r->status ? r->status : 200;
  bool no_body = (status >= 100 && status < 200) || status == 204 || status == 304;
  out->len = 0;
  wh_strbuf_printf(out, "HTTP/1.1 %d %s\r\n", status, wh_http_status_reason(status));
  for (size_t i = 0; i < r->nheaders; i++) {
    /* a handler cannot split the response or contradict the framing */
    if (server_owned(r->hdr_names[i]) || !r->hdr_names[i][0] || !header_text_ok(r->hdr_names[i]) ||
        !header_text_ok(r->hdr_values[i]))
      continue;
    wh_strbuf_printf(out, "%s: %s\r\n", r->hdr_names[i], r->hdr_values[i]);
  }
  if (!no_body)
    wh_strbuf_printf(out, "Content-Length: %zu\r\n", r->body.len);
  wh_strbuf_printf(out, "Date: %s\r\n", date);
  if (close)
    wh_strbuf_puts(out, "Connection: close\r\n");
  else if (http_minor == 0)
    wh_strbuf_puts(out, "Connection: keep-alive\r\n");
  wh_strbuf_puts(out, "\r\n");
  if (!no_body && !head_only && r->body.len)
    wh_strbuf_append(out, r->body.data, r->body.len);
}

void wh_resp_status_text(wh_http_resp *r, int status) {
  /* Traefik's proxy errors carry the bare status text */
  wh_http_resp_text(r, status, wh_http_status_reason(status));
}
