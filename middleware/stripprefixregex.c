#include "middleware/stripprefixregex.h"

#include "middleware/option_check.h"

static int stripprefixregex_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_stripprefixregex_conf *c = obj;
  /* an empty list would strip nothing: a configuration mistake, not a no-op */
  int n = wh_mw_check_nonempty(errs, path, "regex", &c->regex);
  n += wh_mw_check_regex_list(errs, path, "regex", &c->regex);
  return n ? WH_EINVAL : 0;
}

static const wh_field stripprefixregex_fields[] = {
    WH_MW_FIELD(wh_mw_stripprefixregex_conf, regex, "regex", WH_F_STRLIST),
};

static const wh_schema stripprefixregex_schema = {
    .name = "stripPrefixRegex",
    .size = sizeof(wh_mw_stripprefixregex_conf),
    .fields = stripprefixregex_fields,
    .nfields = WH_MW_NFIELDS(stripprefixregex_fields),
    .validate = stripprefixregex_validate,
};

const wh_mw_type wh_mw_stripprefixregex = {
    .name = "stripPrefixRegex",
    .proto = WH_MW_HTTP,
    .schema = &stripprefixregex_schema,
};
