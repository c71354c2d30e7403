#include "middleware/tcp_ipallowlist.h"

#include "lib/http/exchange.h"
#include "lib/net/ipset.h"
#include "middleware/option_check.h"

/* The list is parsed per connection: a handful of CIDRs cost less than a
 * TCP handshake, and the configuration stays the only state. */
static int tcp_ipallowlist_on_conn(const void *cfg, const char *name, const struct sockaddr *client,
                                   void **hold) {
  (void)name;
  *hold = NULL;
  const wh_mw_tcp_ipallowlist_conf *c = cfg;
  wh_ipset *set = wh_ipset_parse(c->source_range.v, c->source_range.n, NULL);
  if (!set)
    return WH_MW_DONE; /* validated at load: only OOM gets here; fail closed */
  bool ok = wh_ipset_contains(set, client);
  wh_ipset_free(set);
  return ok ? WH_MW_NEXT : WH_MW_DONE;
}

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
    .on_conn = tcp_ipallowlist_on_conn,
};

const wh_mw_type wh_mw_tcp_ipwhitelist = {
    .name = "ipWhiteList",
    .proto = WH_MW_TCP,
    .schema = &tcp_ipallowlist_schema,
    .alias_of = "ipAllowList",
    .field_flags = WH_FF_DEPRECATED,
    .on_conn = tcp_ipallowlist_on_conn,
};
