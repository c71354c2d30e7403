#include "middleware/tcp_ipallowlist.h"

#include "middleware/option_check.h"

static int tcp_ipallowlist_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_tcp_ipallowlist_conf *c = obj;
  int n = wh_mw_check_nonempty(errs, path, "sourceRange", &c->source_range);
  n += wh_mw_check_ip_list(errs, path, "sourceRange", &c->source_range);
  return n ? WH_EINVAL : 0;
}

static const wh_field tcp_ipallowlist_fields[] = {
    WH_MW_FIELD(wh_mw_tcp_ipallowlist_conf, source_range, "sourceRange", WH_F_STRLIST),
};

static const wh_schema tcp_ipallowlist_schema = {
    .name = "ipAllowList",
    .size = sizeof(wh_mw_tcp_ipallowlist_conf),
    .fields = tcp_ipallowlist_fields,
    .nfields = WH_MW_NFIELDS(tcp_ipallowlist_fields),
    .validate = tcp_ipallowlist_validate,
};

const wh_mw_type wh_mw_tcp_ipallowlist = {
    .name = "ipAllowList",
    .proto = WH_MW_TCP,
    .schema = &tcp_ipallowlist_schema,
};

const wh_mw_type wh_mw_tcp_ipwhitelist = {
    .name = "ipWhiteList",
    .proto = WH_MW_TCP,
    .schema = &tcp_ipallowlist_schema,
    .alias_of = "ipAllowList",
    .field_flags = WH_FF_DEPRECATED,
};
