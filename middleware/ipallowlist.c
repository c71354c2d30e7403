#include "middleware/ipallowlist.h"

#include "middleware/option_check.h"

static int ipallowlist_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_ipallowlist_conf *c = obj;
  int n = wh_mw_check_nonempty(errs, path, "sourceRange", &c->source_range);
  n += wh_mw_check_ip_list(errs, path, "sourceRange", &c->source_range);
  n += wh_mw_check_status_code(errs, path, "rejectStatusCode", c->reject_status_code, true);
  return n ? WH_EINVAL : 0;
}

static const wh_field ipallowlist_fields[] = {
    WH_MW_FIELD(wh_mw_ipallowlist_conf, source_range, "sourceRange", WH_F_STRLIST),
    WH_MW_FIELD(wh_mw_ipallowlist_conf, ip_strategy, "ipStrategy", WH_F_STRUCT_PTR,
                .sub = &wh_mw_schema_ip_strategy, .flags = WH_FF_ALLOW_EMPTY),
    WH_MW_FIELD(wh_mw_ipallowlist_conf, reject_status_code, "rejectStatusCode", WH_F_INT),
};

static const wh_schema ipallowlist_schema = {
    .name = "ipAllowList",
    .size = sizeof(wh_mw_ipallowlist_conf),
    .fields = ipallowlist_fields,
    .nfields = WH_MW_NFIELDS(ipallowlist_fields),
    .validate = ipallowlist_validate,
};

const wh_mw_type wh_mw_ipallowlist = {
    .name = "ipAllowList",
    .proto = WH_MW_HTTP,
    .schema = &ipallowlist_schema,
};

/* v2's ipWhiteList had no rejectStatusCode; accepting it there too costs
 * nothing and lets the runtime treat both names as one type. */
const wh_mw_type wh_mw_ipwhitelist = {
    .name = "ipWhiteList",
    .proto = WH_MW_HTTP,
    .schema = &ipallowlist_schema,
    .alias_of = "ipAllowList",
    .field_flags = WH_FF_DEPRECATED,
};
