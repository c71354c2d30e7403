#include "middleware/replacepathregex.h"

#include "middleware/option_check.h"

static int replacepathregex_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_replacepathregex_conf *c = obj;
  return wh_mw_check_regex(errs, path, "regex", c->regex ? c->regex : "") ? WH_EINVAL : 0;
}

static const wh_field replacepathregex_fields[] = {
    WH_MW_FIELD(wh_mw_replacepathregex_conf, regex, "regex", WH_F_STRING),
    WH_MW_FIELD(wh_mw_replacepathregex_conf, replacement, "replacement", WH_F_STRING),
};

static const wh_schema replacepathregex_schema = {
    .name = "replacePathRegex",
    .size = sizeof(wh_mw_replacepathregex_conf),
    .fields = replacepathregex_fields,
    .nfields = WH_MW_NFIELDS(replacepathregex_fields),
    .validate = replacepathregex_validate,
};

const wh_mw_type wh_mw_replacepathregex = {
    .name = "replacePathRegex",
    .proto = WH_MW_HTTP,
    .schema = &replacepathregex_schema,
};
