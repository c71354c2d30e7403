#include "middleware/tcp_inflightconn.h"

#include "middleware/option_check.h"

static int tcp_inflightconn_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_tcp_inflightconn_conf *c = obj;
  if (c->amount > 0)
    return 0;
  wh_mw_opt_error(errs, path, "amount", "must be > 0 (got %lld)", (long long)c->amount);
  return WH_EINVAL;
}

static const wh_field tcp_inflightconn_fields[] = {
    WH_MW_FIELD(wh_mw_tcp_inflightconn_conf, amount, "amount", WH_F_INT),
};

static const wh_schema tcp_inflightconn_schema = {
    .name = "inFlightConn",
    .size = sizeof(wh_mw_tcp_inflightconn_conf),
    .fields = tcp_inflightconn_fields,
    .nfields = WH_MW_NFIELDS(tcp_inflightconn_fields),
    .validate = tcp_inflightconn_validate,
};

const wh_mw_type wh_mw_tcp_inflightconn = {
    .name = "inFlightConn",
    .proto = WH_MW_TCP,
    .schema = &tcp_inflightconn_schema,
};
