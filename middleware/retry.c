#include "middleware/retry.h"

#include "middleware/option_check.h"

static int retry_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_retry_conf *c = obj;
  int n = 0;
  if (c->attempts <= 0) {
    wh_mw_opt_error(errs, path, "attempts", "must be > 0 (got %lld)", (long long)c->attempts);
    n++;
  }
  if (c->initial_interval < 0) {
    wh_mw_opt_error(errs, path, "initialInterval", "must be >= 0");
    n++;
  }
  return n ? WH_EINVAL : 0;
}

static const wh_field retry_fields[] = {
    WH_MW_FIELD(wh_mw_retry_conf, attempts, "attempts", WH_F_INT),
    WH_MW_FIELD(wh_mw_retry_conf, initial_interval, "initialInterval", WH_F_DURATION),
};

static const wh_schema retry_schema = {
    .name = "retry",
    .size = sizeof(wh_mw_retry_conf),
    .fields = retry_fields,
    .nfields = WH_MW_NFIELDS(retry_fields),
    .validate = retry_validate,
};

const wh_mw_type wh_mw_retry = {
    .name = "retry",
    .proto = WH_MW_HTTP,
    .schema = &retry_schema,
};
