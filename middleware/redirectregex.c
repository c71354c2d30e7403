#include "middleware/redirectregex.h"

#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"
#include "middleware/option_check.h"
#include "middleware/replacepathregex.h"
#include "middleware/request_url.h"

static int redirectregex_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_redirectregex_conf *c = obj;
  int n = wh_mw_check_required(errs, path, "regex", c->regex);
  if (!n)
    n += wh_mw_check_regex(errs, path, "regex", c->regex);
  n += wh_mw_check_required(errs, path, "replacement", c->replacement);
  return n ? WH_EINVAL : 0;
}

static const wh_field redirectregex_fields[] = {
    WH_MW_FIELD(wh_mw_redirectregex_conf, regex, "regex", WH_F_STRING),
    WH_MW_FIELD(wh_mw_redirectregex_conf, replacement, "replacement", WH_F_STRING),
    WH_MW_FIELD(wh_mw_redirectregex_conf, permanent, "permanent", WH_F_BOOL),
};

static const wh_schema redirectregex_schema = {
    .name = "redirectRegex",
    .size = sizeof(wh_mw_redirectregex_conf),
    .fields = redirectregex_fields,
    .nfields = WH_MW_NFIELDS(redirectregex_fields),
    .validate = redirectregex_validate,
};

/* Traefik's rawURL: scheme (TLS -> https; X-Forwarded-Proto plays no part
 * here, unlike redirectScheme) :// Host <RequestURI>. Caller frees. */
static char *raw_url(const wh_mw_exchange *x) {
  const char *host = x->req->host ? x->req->host : "";
  const char *t = x->req->target;
  bool origin = t && t[0] == '/';
  const char *q = origin ? NULL : x->req->query;
  return wh_asprintf("%s://%s%s%s%s", x->is_tls ? "https" : "http", host, origin ? t : x->req->path,
                     q ? "?" : "", q ? q : "");
}

/* Go's regexp.ReplaceAllString(url, replacement) when the regex matches
 * (wh_mw_regex_replace_all: ${1} / $1 / $name, a group that did not take
 * part expands to nothing); a result equal to the URL passes through, as in
 * Traefik, so a rule that maps a URL onto itself cannot loop. A regex that
 * cannot run (match limit) fails closed. */
static int redirectregex_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_redirectregex_conf *c = cfg;
  char *url = raw_url(x);
  char *out = NULL;
  int m = url ? wh_mw_regex_replace_all(c->regex ? c->regex : "", url,
                                        c->replacement ? c->replacement : "", &out)
              : -1;
  int rc = WH_MW_NEXT;
  if (m < 0) {
    wh_http_resp_free(x->resp);
    wh_http_resp_text(x->resp, 500, "Internal Server Error");
    rc = WH_MW_DONE;
  } else if (m == 1 && strcmp(out, url) != 0) {
    wh_mw_redirect(x, out, c->permanent);
    rc = WH_MW_DONE;
  }
  free(out);
  free(url);
  return rc;
}

const wh_mw_type wh_mw_redirectregex = {
    .on_request = redirectregex_on_request,
    .name = "redirectRegex",
    .proto = WH_MW_HTTP,
    .schema = &redirectregex_schema,
};
