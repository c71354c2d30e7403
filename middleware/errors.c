#include "middleware/errors.h"

#include <stdio.h>

#include <stdlib.h>

#include "lib/config/runtime.h"
#include "lib/core/str.h"
#include "lib/http/exchange.h"
#include "middleware/option_check.h"

/* The data plane fetches the page when the response comes (it owns the
 * upstream side); the hook hands it the rules. With several errors
 * middlewares in a chain the innermost applies, as it sees the backend's
 * response first. */
static int errors_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_errors_conf *c = cfg;
  char *svc = wh_qualify(c->service, x->mw_provider ? x->mw_provider : "");
  if (!svc)
    return WH_MW_NEXT;
  free(x->errors_service);
  x->errors_service = svc;
  x->errors_status = &c->status;
  x->errors_rewrites = &c->status_rewrites;
  x->errors_query = c->query && *c->query ? c->query : "/";
  return WH_MW_NEXT;
}

static int errors_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_errors_conf *c = obj;
  int n = wh_mw_check_required(errs, path, "service", c->service);
  for (size_t i = 0; i < c->status.n; i++) {
    if (wh_mw_status_range_valid(c->status.v[i]))
      continue;
    char name[32];
    snprintf(name, sizeof name, "status[%zu]", i);
    wh_mw_opt_error(errs, path, name, "invalid status \"%s\" (expected \"N\" or \"N-M\")",
                    c->status.v[i]);
    n++;
  }
  for (size_t i = 0; i < c->status_rewrites.n; i++) {
    const char *key = c->status_rewrites.keys[i];
    const char *val = c->status_rewrites.vals[i];
    int64_t code = 0;
    if (!wh_mw_status_range_valid(key)) {
      wh_mw_opt_error(errs, path, "statusRewrites",
                      "invalid status \"%s\" (expected \"N\" or \"N-M\")", key);
      n++;
    } else if (!val || wh_parse_int(val, &code) != 0 || code < 100 || code > 599) {
      wh_mw_opt_error(errs, path, "statusRewrites",
                      "%s: invalid HTTP status code \"%s\" (expected 100..599)", key,
                      val ? val : "");
      n++;
    }
  }
  return n ? WH_EINVAL : 0;
}

static const wh_field errors_fields[] = {
    WH_MW_FIELD(wh_mw_errors_conf, status, "status", WH_F_STRLIST),
    WH_MW_FIELD(wh_mw_errors_conf, service, "service", WH_F_STRING),
    WH_MW_FIELD(wh_mw_errors_conf, query, "query", WH_F_STRING),
    WH_MW_FIELD(wh_mw_errors_conf, status_rewrites, "statusRewrites", WH_F_STRMAP),
};

static const wh_schema errors_schema = {
    .name = "errors",
    .size = sizeof(wh_mw_errors_conf),
    .fields = errors_fields,
    .nfields = WH_MW_NFIELDS(errors_fields),
    .validate = errors_validate,
};

const wh_mw_type wh_mw_errors = {
    .on_request = errors_on_request,
    .name = "errors",
    .proto = WH_MW_HTTP,
    .schema = &errors_schema,
};
