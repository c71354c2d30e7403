#include "middleware/replacepath.h"

#include "middleware/option_check.h"

static const wh_field replacepath_fields[] = {
    WH_MW_FIELD(wh_mw_replacepath_conf, path, "path", WH_F_STRING),
};

/* No validate hook: Traefik accepts an empty path (the request path becomes ""). */
static const wh_schema replacepath_schema = {
    .name = "replacePath",
    .size = sizeof(wh_mw_replacepath_conf),
    .fields = replacepath_fields,
    .nfields = WH_MW_NFIELDS(replacepath_fields),
};

const wh_mw_type wh_mw_replacepath = {
    .name = "replacePath",
    .proto = WH_MW_HTTP,
    .schema = &replacepath_schema,
};
