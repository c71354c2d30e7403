#include "middleware/buffering.h"

#include <stdatomic.h>

#include "lib/core/log.h"
#include "lib/http/exchange.h"
#include "middleware/option_check.h"

/* The data plane holds the request until its body is complete (up to
 * maxRequestBodyBytes, else 413; in memory, under a fixed bound when no
 * maximum is set) and refuses responses over maxResponseBodyBytes: 500 when
 * the length is announced, an aborted response when it only shows while
 * streaming (Traefik buffers the whole response to answer 500 then; wharf
 * does not hold responses). retryExpression is not implemented: a router
 * using it fails closed rather than run without the retries it asked for. */
static int buffering_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_buffering_conf *c = cfg;
  if (c->retry_expression && *c->retry_expression) {
    static _Atomic bool logged;
    if (!atomic_exchange(&logged, true))
      wh_log_error("middleware \"%s\": buffering.retryExpression is not supported by this build; "
                   "answering 500",
                   x->mw_name ? x->mw_name : "buffering");
    wh_http_resp_free(x->resp);
    wh_http_resp_text(x->resp, 500, "Internal Server Error");
    return WH_MW_DONE;
  }
  x->buffer_req = true;
  if (c->max_request_body_bytes > 0 &&
      (x->buffer_req_max <= 0 || c->max_request_body_bytes < x->buffer_req_max))
    x->buffer_req_max = c->max_request_body_bytes;
  if (c->max_response_body_bytes > 0 &&
      (x->buffer_resp_max <= 0 || c->max_response_body_bytes < x->buffer_resp_max))
    x->buffer_resp_max = c->max_response_body_bytes;
  return WH_MW_NEXT;
}

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
    .on_request = buffering_on_request,
};
