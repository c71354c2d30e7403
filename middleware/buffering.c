#include "middleware/buffering.h"

#include "middleware/option_check.h"

static const wh_field buffering_fields[] = {
    WH_MW_FIELD(wh_mw_buffering_conf, max_request_body_bytes, "maxRequestBodyBytes", WH_F_INT),
    WH_MW_FIELD(wh_mw_buffering_conf, mem_request_body_bytes, "memRequestBodyBytes", WH_F_INT,
                .dflt = "1048576"),
    WH_MW_FIELD(wh_mw_buffering_conf, max_response_body_bytes, "maxResponseBodyBytes", WH_F_INT),
    WH_MW_FIELD(wh_mw_buffering_conf, mem_response_body_bytes, "memResponseBodyBytes", WH_F_INT,
                .dflt = "1048576"),
    WH_MW_FIELD(wh_mw_buffering_conf, retry_expression, "retryExpression", WH_F_STRING),
};

/* No validate hook: Traefik accepts any value here; the retry expression is
 * parsed by the runtime, which owns that grammar. */
static const wh_schema buffering_schema = {
    .name = "buffering",
    .size = sizeof(wh_mw_buffering_conf),
    .fields = buffering_fields,
    .nfields = WH_MW_NFIELDS(buffering_fields),
};

const wh_mw_type wh_mw_buffering = {
    .name = "buffering",
    .proto = WH_MW_HTTP,
    .schema = &buffering_schema,
};
