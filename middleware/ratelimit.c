#include "middleware/ratelimit.h"

#include "middleware/option_check.h"

static int ratelimit_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_ratelimit_conf *c = obj;
  int n = 0;
  if (c->average < 0) {
    wh_mw_opt_error(errs, path, "average", "must be >= 0 (got %lld)", (long long)c->average);
    n++;
  }
  if (c->burst < 0) {
    wh_mw_opt_error(errs, path, "burst", "must be >= 0 (got %lld)", (long long)c->burst);
    n++;
  }
  if (c->period <= 0) {
    char buf[32];
    wh_duration_format(c->period, buf, sizeof buf);
    wh_mw_opt_error(errs, path, "period", "must be > 0 (got %s)", buf);
    n++;
  }
  return n ? WH_EINVAL : 0;
}

static const wh_field ratelimit_fields[] = {
    WH_MW_FIELD(wh_mw_ratelimit_conf, average, "average", WH_F_INT),
    WH_MW_FIELD(wh_mw_ratelimit_conf, period, "period", WH_F_DURATION, .dflt = "1s"),
    WH_MW_FIELD(wh_mw_ratelimit_conf, burst, "burst", WH_F_INT, .dflt = "1"),
    WH_MW_FIELD(wh_mw_ratelimit_conf, source_criterion, "sourceCriterion", WH_F_STRUCT_PTR,
                .sub = &wh_mw_schema_source_criterion),
};

static const wh_schema ratelimit_schema = {
    .name = "rateLimit",
    .size = sizeof(wh_mw_ratelimit_conf),
    .fields = ratelimit_fields,
    .nfields = WH_MW_NFIELDS(ratelimit_fields),
    .validate = ratelimit_validate,
};

const wh_mw_type wh_mw_ratelimit = {
    .name = "rateLimit",
    .proto = WH_MW_HTTP,
    .schema = &ratelimit_schema,
};
