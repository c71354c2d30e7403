/* circuitBreaker: stops calling a service while expression holds (network
 * error ratio, response code ratio, latency), answering responseCode. */
#ifndef WH_MW_CIRCUITBREAKER_H
#define WH_MW_CIRCUITBREAKER_H

#include <stdint.h>

#include "lib/config/dynamic.h"

typedef struct wh_mw_circuitbreaker_conf {
  char *expression;              /* "expression" (required) */
  wh_duration check_period;      /* "checkPeriod" [100ms] */
  wh_duration fallback_duration; /* "fallbackDuration" [10s] */
  wh_duration recovery_duration; /* "recoveryDuration" [10s] */
  int64_t response_code;         /* "responseCode" (v3) [503] */
} wh_mw_circuitbreaker_conf;

extern const wh_mw_type wh_mw_circuitbreaker;

#endif
