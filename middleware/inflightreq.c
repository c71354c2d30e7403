#include "middleware/inflightreq.h"

#include "middleware/option_check.h"

static int inflightreq_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_inflightreq_conf *c = obj;
  if (c->amount > 0)
    return 0;
  wh_mw_opt_error(errs, path, "amount", "must be > 0 (got %lld)", (long long)c->amount);
  return WH_EINVAL;
}

static const wh_field inflightreq_fields[] = {
    WH_MW_FIELD(wh_mw_inflightreq_conf, amount, "amount", WH_F_INT),
    WH_MW_FIELD(wh_mw_inflightreq_conf, source_criterion, "sourceCriterion", WH_F_STRUCT_PTR,
                .sub = &wh_mw_schema_source_criterion),
};

static const wh_schema inflightreq_schema = {
    .name = "inFlightReq",
    .size = sizeof(wh_mw_inflightreq_conf),
    .fields = inflightreq_fields,
    .nfields = WH_MW_NFIELDS(inflightreq_fields),
    .validate = inflightreq_validate,
};

const wh_mw_type wh_mw_inflightreq = {
    .name = "inFlightReq",
    .proto = WH_MW_HTTP,
    .schema = &inflightreq_schema,
};
