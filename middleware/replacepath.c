#include "middleware/replacepath.h"

#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"
#include "lib/http/exchange.h"
#include "lib/http/path.h"
#include "middleware/option_check.h"

static const wh_field replacepath_fields[] = {
    WH_MW_FIELD(wh_mw_replacepath_conf, path, "path", WH_F_STRING),
};

/* No validate hook: Traefik accepts an empty path (the request path becomes ""). */
static const wh_schema replacepath_schema = {
    .name = "replacePath",
    .size = sizeof(wh_mw_replacepath_conf),
    .fields = replacepath_fields,
    .nfields = WH_MW_NFIELDS(replacepath_fields),
};

static bool needs_escape(unsigned char c) {
  return c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", c) != NULL;
}

char *wh_mw_path_escaped(const char *canonical) {
  wh_strbuf b = {0};
  if (wh_strbuf_puts(&b, "") < 0)
    return NULL;
  for (const unsigned char *p = (const unsigned char *)canonical; *p; p++) {
    int rc = needs_escape(*p) ? wh_strbuf_printf(&b, "%%%02X", *p) : wh_strbuf_putc(&b, (char)*p);
    if (rc < 0) {
      wh_strbuf_free(&b);
      return NULL;
    }
  }
  return wh_strbuf_take(&b);
}

static bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Go's url.PathUnescape error text for the first bad escape. */
static char *escape_error(const char *raw, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (raw[i] != '%')
      continue;
    if (i + 2 < len && is_hex(raw[i + 1]) && is_hex(raw[i + 2])) {
      i += 2;
      continue;
    }
    size_t n = len - i < 3 ? len - i : 3;
    return wh_asprintf("invalid URL escape \"%.*s\"", (int)n, raw + i);
  }
  return wh_strdup("invalid URL escape");
}

static bool has_dot_segment(const char *p) {
  for (const char *s = p; s; s = strchr(s, '/')) {
    s++; /* past '/' */
    size_t n = strcspn(s, "/");
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
      return true;
  }
  return false;
}

/* Go's http.Error, which Traefik answers these with: the text plus a
 * newline, and nosniff. */
static int answer(wh_mw_exchange *x, int status, const char *text) {
  wh_http_resp_free(x->resp);
  char *body = wh_asprintf("%s\n", text ? text : wh_http_status_reason(status));
  wh_http_resp_text(x->resp, status, body ? body : "");
  wh_http_resp_header(x->resp, "X-Content-Type-Options", "nosniff");
  free(body);
  return WH_MW_DONE;
}

int wh_mw_path_install(wh_mw_exchange *x, const char *raw, size_t len, wh_mw_path_check check) {
  bool bad;
  /* Decoding without sanitising first shows "%2e%2e" as the ".." it is. */
  char *canon = wh_path_canonical(raw, len, false, &bad);
  if (!canon) {
    if (!bad)
      return answer(x, 500, NULL);
    char *msg = escape_error(raw, len);
    int rc = answer(x, 500, msg ? msg : "invalid URL escape");
    free(msg);
    return rc;
  }
  if (check == WH_MW_PATH_CLEAN || has_dot_segment(canon)) {
    /* The canonical form is stable under canonicalisation: escapes it kept
     * stay as they are, so this only removes dot and empty segments. */
    char *clean = wh_path_canonical(canon, strlen(canon), true, &bad);
    if (!clean) {
      free(canon);
      return answer(x, 500, NULL);
    }
    if (strcmp(clean, canon) != 0 && check != WH_MW_PATH_RESOLVE) {
      free(clean);
      free(canon);
      return answer(x, 400, NULL);
    }
    free(canon);
    canon = clean;
  }
  free(x->path);
  x->path = canon;
  return WH_MW_NEXT;
}

/* Traefik: X-Replaced-Path gets the escaped current path, the configured
 * path is taken as an escaped path (RawPath) and unescaped. */
static int replacepath_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_replacepath_conf *c = cfg;
  const char *np = c->path ? c->path : "";
  char *old = wh_mw_path_escaped(x->path);
  if (!old || wh_mw_exchange_set_header(x, "X-Replaced-Path", old) < 0) {
    free(old);
    return answer(x, 500, NULL);
  }
  free(old);
  return wh_mw_path_install(x, np, strlen(np), WH_MW_PATH_RESOLVE);
}

const wh_mw_type wh_mw_replacepath = {
    .on_request = replacepath_on_request,
    .name = "replacePath",
    .proto = WH_MW_HTTP,
    .schema = &replacepath_schema,
};
