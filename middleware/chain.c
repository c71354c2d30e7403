#include "middleware/chain.h"

#include "middleware/option_check.h"

static int chain_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_chain_conf *c = obj;
  return wh_mw_check_nonempty(errs, path, "middlewares", &c->middlewares) ? WH_EINVAL : 0;
}

static const wh_field chain_fields[] = {
    WH_MW_FIELD(wh_mw_chain_conf, middlewares, "middlewares", WH_F_STRLIST),
};

static const wh_schema chain_schema = {
    .name = "chain",
    .size = sizeof(wh_mw_chain_conf),
    .fields = chain_fields,
    .nfields = WH_MW_NFIELDS(chain_fields),
    .validate = chain_validate,
};

const wh_mw_type wh_mw_chain = {
    .name = "chain",
    .proto = WH_MW_HTTP,
    .schema = &chain_schema,
};
