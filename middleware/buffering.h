/* buffering: reads whole request/response bodies before passing them on,
 * with size limits and an optional retry expression. */
#ifndef WH_MW_BUFFERING_H
#define WH_MW_BUFFERING_H

#include <stdint.h>

#include "lib/config/dynamic.h"

typedef struct wh_mw_buffering_conf {
  int64_t max_request_body_bytes;  /* "maxRequestBodyBytes" [0 = unlimited; over -> 413] */
  int64_t mem_request_body_bytes;  /* "memRequestBodyBytes" [1048576] */
  int64_t max_response_body_bytes; /* "maxResponseBodyBytes" [0 = unlimited; over -> 500] */
  int64_t mem_response_body_bytes; /* "memResponseBodyBytes" [1048576] */
  char *retry_expression;          /* "retryExpression" */
} wh_mw_buffering_conf;

extern const wh_mw_type wh_mw_buffering;

#endif
