/* rateLimit: a token bucket per source (average/period tokens per second,
 * capacity burst). */
#ifndef WH_MW_RATELIMIT_H
#define WH_MW_RATELIMIT_H

#include <stdint.h>

#include "lib/config/dynamic.h"
#include "middleware/common_criteria.h"

typedef struct wh_mw_ratelimit_conf {
  int64_t average;                          /* "average" [0 = no limit] */
  wh_duration period;                       /* "period" [1s] */
  int64_t burst;                            /* "burst" [1] */
  wh_mw_source_criterion *source_criterion; /* "sourceCriterion"; NULL = remote IP */
} wh_mw_ratelimit_conf;

extern const wh_mw_type wh_mw_ratelimit;

#endif
