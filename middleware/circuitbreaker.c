#include "middleware/circuitbreaker.h"

#include "middleware/option_check.h"

static int circuitbreaker_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_circuitbreaker_conf *c = obj;
  int n = wh_mw_check_required(errs, path, "expression", c->expression);
  n += wh_mw_check_status_code(errs, path, "responseCode", c->response_code, false);
  return n ? WH_EINVAL : 0;
}

#define CB(member, name, type, ...)                                                                \
  WH_MW_FIELD(wh_mw_circuitbreaker_conf, member, name, type, __VA_ARGS__)

static const wh_field circuitbreaker_fields[] = {
    CB(expression, "expression", WH_F_STRING),
    CB(check_period, "checkPeriod", WH_F_DURATION, .dflt = "100ms"),
    CB(fallback_duration, "fallbackDuration", WH_F_DURATION, .dflt = "10s"),
    CB(recovery_duration, "recoveryDuration", WH_F_DURATION, .dflt = "10s"),
    CB(response_code, "responseCode", WH_F_INT, .dflt = "503"),
};

static const wh_schema circuitbreaker_schema = {
    .name = "circuitBreaker",
    .size = sizeof(wh_mw_circuitbreaker_conf),
    .fields = circuitbreaker_fields,
    .nfields = WH_MW_NFIELDS(circuitbreaker_fields),
    .validate = circuitbreaker_validate,
};

const wh_mw_type wh_mw_circuitbreaker = {
    .name = "circuitBreaker",
    .proto = WH_MW_HTTP,
    .schema = &circuitbreaker_schema,
};
