#include "lib/admin/dashboard.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Generated from lib/admin/dashboard.html by CMakeLists.txt; NUL-terminated,
 * the length excludes the NUL. */
extern const unsigned char wh_dashboard_page[];
extern const size_t wh_dashboard_page_len;

static pthread_once_t csp_once = PTHREAD_ONCE_INIT;
static char csp[512];

/* Appends " 'sha256-<base64>'" for the text between open and the next close,
 * the exact bytes the browser hashes; nothing when the page has no such
 * element, which then stays blocked. */
static void add_hash(const char *page, const char *open, const char *close, char *out, size_t len) {
  const char *a = strstr(page, open);
  const char *b = a ? strstr(a + strlen(open), close) : NULL;
  if (!b)
    return;
  a += strlen(open);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  if (!EVP_Digest(a, (size_t)(b - a), md, &mdlen, EVP_sha256(), NULL))
    return;
  EVP_EncodeBlock(b64, md, (int)mdlen);
  size_t n = strlen(out);
  snprintf(out + n, len - n, " 'sha256-%s'", (const char *)b64);
}

/* Hashes rather than 'unsafe-inline': even if a value from a container label
 * ever reached the page as markup, the browser would run none of it. */
static void build_csp(void) {
  const char *page = (const char *)wh_dashboard_page;
  char style[128] = "", script[128] = "";
  add_hash(page, "<style>", "</style>", style, sizeof(style));
  add_hash(page, "<script>", "</script>", script, sizeof(script));
  snprintf(csp, sizeof(csp),
           "default-src 'none'; script-src%s; style-src%s; connect-src 'self'; img-src data:; "
           "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
           *script ? script : " 'none'", *style ? style : " 'none'");
}

const char *wh_dashboard_csp(void) {
  pthread_once(&csp_once, build_csp);
  return csp;
}

void wh_dashboard_handle(const char *method, const char *path, wh_http_resp *resp) {
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    wh_http_resp_text(resp, 405, "Method Not Allowed");
    wh_http_resp_header(resp, "Allow", "GET, HEAD");
    return;
  }
  if (strcmp(path, "/") != 0 && strcmp(path, "/index.html") != 0 && strcmp(path, "") != 0) {
    wh_http_resp_text(resp, 404, "404 page not found\n");
    wh_http_resp_header(resp, "X-Content-Type-Options", "nosniff");
    return;
  }
  resp->status = 200;
  wh_http_resp_header(resp, "Content-Type", "text/html; charset=utf-8");
  wh_http_resp_header(resp, "Content-Security-Policy", wh_dashboard_csp());
  wh_http_resp_header(resp, "X-Content-Type-Options", "nosniff");
  wh_http_resp_header(resp, "Referrer-Policy", "no-referrer");
  wh_http_resp_header(resp, "Cache-Control", "no-cache");
  wh_strbuf_append(&resp->body, (const char *)wh_dashboard_page, wh_dashboard_page_len);
}
