#include "middleware/errors.h"

#include <stdio.h>

#include "middleware/option_check.h"

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
    .name = "errors",
    .proto = WH_MW_HTTP,
    .schema = &errors_schema,
};
