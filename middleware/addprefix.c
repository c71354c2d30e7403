#include "middleware/addprefix.h"

#include "middleware/option_check.h"

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

const wh_mw_type wh_mw_addprefix = {
    .name = "addPrefix",
    .proto = WH_MW_HTTP,
    .schema = &addprefix_schema,
};
