#include "middleware/contenttype.h"

#include "middleware/option_check.h"

static const wh_field contenttype_fields[] = {
    WH_MW_FIELD(wh_mw_contenttype_conf, auto_detect, "autoDetect", WH_F_BOOL,
                .flags = WH_FF_DEPRECATED),
};

static const wh_schema contenttype_schema = {
    .name = "contentType",
    .size = sizeof(wh_mw_contenttype_conf),
    .fields = contenttype_fields,
    .nfields = WH_MW_NFIELDS(contenttype_fields),
};

const wh_mw_type wh_mw_contenttype = {
    .name = "contentType",
    .proto = WH_MW_HTTP,
    .schema = &contenttype_schema,
    .field_flags = WH_FF_ALLOW_EMPTY,
};
