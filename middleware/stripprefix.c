#include "middleware/stripprefix.h"

#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"
#include "lib/http/exchange.h"
#include "middleware/option_check.h"
#include "middleware/replacepath.h"

static int stripprefix_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_stripprefix_conf *c = obj;
  return wh_mw_check_nonempty(errs, path, "prefixes", &c->prefixes) ? WH_EINVAL : 0;
}

static const wh_field stripprefix_fields[] = {
    WH_MW_FIELD(wh_mw_stripprefix_conf, prefixes, "prefixes", WH_F_STRLIST),
    WH_MW_FIELD(wh_mw_stripprefix_conf, force_slash, "forceSlash", WH_F_BOOL, .dflt = "true",
                .flags = WH_FF_DEPRECATED,
                .set_offset = offsetof(wh_mw_stripprefix_conf, force_slash_set)),
};

static const wh_schema stripprefix_schema = {
    .name = "stripPrefix",
    .size = sizeof(wh_mw_stripprefix_conf),
    .fields = stripprefix_fields,
    .nfields = WH_MW_NFIELDS(stripprefix_fields),
    .validate = stripprefix_validate,
};

/* The first prefix that the path starts with is removed (leading '/' kept)
 * and reported in X-Forwarded-Prefix. A result that path cleaning would
 * change ("/api.." stripped of "/api" leaves "/..") answers 400, as Traefik
 * does (HARDENING 15). */
static int stripprefix_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_stripprefix_conf *c = cfg;
  for (size_t i = 0; i < c->prefixes.n; i++) {
    const char *p = c->prefixes.v[i];
    size_t n = strlen(p);
    if (n == 0 || strncmp(x->path, p, n) != 0)
      continue;
    const char *rest = x->path + n;
    char *np = wh_asprintf("%s%s", rest[0] == '/' ? "" : "/", rest);
    int rc;
    if (!np || wh_mw_exchange_set_header(x, "X-Forwarded-Prefix", p) < 0) {
      wh_http_resp_free(x->resp);
      wh_http_resp_text(x->resp, 500, "Internal Server Error");
      rc = WH_MW_DONE;
    } else {
      rc = wh_mw_path_install(x, np, strlen(np), WH_MW_PATH_CLEAN);
    }
    free(np);
    return rc;
  }
  return WH_MW_NEXT;
}

const wh_mw_type wh_mw_stripprefix = {
    .on_request = stripprefix_on_request,
    .name = "stripPrefix",
    .proto = WH_MW_HTTP,
    .schema = &stripprefix_schema,
};
