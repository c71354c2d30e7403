#include "middleware/retry.h"

#include "lib/core/duration.h"
#include "lib/http/exchange.h"
#include "middleware/option_check.h"

/* The retrying itself is the data plane's (it owns the upstream attempt):
 * this hook hands it the budget. With several retry middlewares in a chain
 * the largest budget applies, as nested retries in Traefik multiply rather
 * than add and a larger bound is the closest single number. */
static int retry_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_retry_conf *c = cfg;
  uint32_t attempts = c->attempts > 1000 ? 1000 : (uint32_t)c->attempts;
  if (attempts > x->retry_attempts)
    x->retry_attempts = attempts;
  int64_t ms = c->initial_interval / WH_MS;
  x->retry_interval_ms = ms > 60000 ? 60000 : (uint32_t)(ms < 0 ? 0 : ms);
  return WH_MW_NEXT;
}

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
    .on_request = retry_on_request,
};
