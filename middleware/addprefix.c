#include "middleware/addprefix.h"

#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"
#include "lib/http/exchange.h"
#include "middleware/option_check.h"
#include "middleware/replacepath.h"

static int addprefix_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_addprefix_conf *c = obj;
  return wh_mw_check_required(errs, path, "prefix", c->prefix) ? WH_EINVAL : 0;
}

static const wh_field addprefix_fields[] = {
    WH_MW_FIELD(wh_mw_addprefix_conf, prefix, "prefix", WH_F_STRING),
};

static const wh_schema addprefix_schema = {
    .name = "addPrefix",
    .size = sizeof(wh_mw_addprefix_conf),
    .fields = addprefix_fields,
    .nfields = WH_MW_NFIELDS(addprefix_fields),
    .validate = addprefix_validate,
};

/* prefix + path, with a leading '/' ensured (Traefik). The result carries
 * the client's path, so a "." or ".." segment in it (an entry point with
 * sanitizePath off, or a prefix ending in "..") answers 400 rather than
 * reaching the backend. */
static int addprefix_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_addprefix_conf *c = cfg;
  char *np = wh_asprintf("%s%s", c->prefix ? c->prefix : "", x->path);
  if (!np) {
    wh_http_resp_free(x->resp);
    wh_http_resp_text(x->resp, 500, "Internal Server Error");
    return WH_MW_DONE;
  }
  int rc = wh_mw_path_install(x, np, strlen(np), WH_MW_PATH_NO_DOTS);
  free(np);
  return rc;
}

const wh_mw_type wh_mw_addprefix = {
    .on_request = addprefix_on_request,
    .name = "addPrefix",
    .proto = WH_MW_HTTP,
    .schema = &addprefix_schema,
};
