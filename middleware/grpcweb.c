#include "middleware/grpcweb.h"

#include "middleware/option_check.h"

static const wh_field grpcweb_fields[] = {
    WH_MW_FIELD(wh_mw_grpcweb_conf, allow_origins, "allowOrigins", WH_F_STRLIST),
};

static const wh_schema grpcweb_schema = {
    .name = "grpcWeb",
    .size = sizeof(wh_mw_grpcweb_conf),
    .fields = grpcweb_fields,
    .nfields = WH_MW_NFIELDS(grpcweb_fields),
};

const wh_mw_type wh_mw_grpcweb = {
    .name = "grpcWeb",
    .proto = WH_MW_HTTP,
    .schema = &grpcweb_schema,
};
