#include "middleware/stripprefixregex.h"

#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"
#include "lib/http/exchange.h"
#include "middleware/option_check.h"
#include "middleware/replacepath.h"
#include "middleware/replacepathregex.h"

static int stripprefixregex_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_stripprefixregex_conf *c = obj;
  /* an empty list would strip nothing: a configuration mistake, not a no-op */
  int n = wh_mw_check_nonempty(errs, path, "regex", &c->regex);
  n += wh_mw_check_regex_list(errs, path, "regex", &c->regex);
  return n ? WH_EINVAL : 0;
}

static const wh_field stripprefixregex_fields[] = {
    WH_MW_FIELD(wh_mw_stripprefixregex_conf, regex, "regex", WH_F_STRLIST),
};

static const wh_schema stripprefixregex_schema = {
    .name = "stripPrefixRegex",
    .size = sizeof(wh_mw_stripprefixregex_conf),
    .fields = stripprefixregex_fields,
    .nfields = WH_MW_NFIELDS(stripprefixregex_fields),
    .validate = stripprefixregex_validate,
};

/* Traefik: for the first regex whose leftmost non-empty match is also a
 * prefix of the path, that text is removed from the front (leading '/'
 * ensured) and sent in X-Forwarded-Prefix; a result that path cleaning
 * would change ("/pub.." stripped of "/pub" leaves "/..") answers 400. */
static int stripprefixregex_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_stripprefixregex_conf *c = cfg;
  size_t len = strlen(x->path);
  for (size_t i = 0; i < c->regex.n; i++) {
    size_t so, eo;
    int m = wh_mw_regex_find(c->regex.v[i], x->path, len, &so, &eo);
    if (m < 0) {
      wh_http_resp_free(x->resp);
      wh_http_resp_text(x->resp, 500, "Internal Server Error");
      return WH_MW_DONE;
    }
    size_t n = eo - so;
    if (m == 0 || n == 0 || memcmp(x->path, x->path + so, n) != 0)
      continue;
    char *prefix = wh_strndup(x->path, n);
    char *np = wh_asprintf("%s%s", x->path[n] == '/' ? "" : "/", x->path + n);
    int rc;
    if (!prefix || !np || wh_mw_exchange_set_header(x, "X-Forwarded-Prefix", prefix) < 0) {
      wh_http_resp_free(x->resp);
      wh_http_resp_text(x->resp, 500, "Internal Server Error");
      rc = WH_MW_DONE;
    } else {
      rc = wh_mw_path_install(x, np, strlen(np), WH_MW_PATH_CLEAN);
    }
    free(prefix);
    free(np);
    return rc;
  }
  return WH_MW_NEXT;
}

const wh_mw_type wh_mw_stripprefixregex = {
    .on_request = stripprefixregex_on_request,
    .name = "stripPrefixRegex",
    .proto = WH_MW_HTTP,
    .schema = &stripprefixregex_schema,
};
