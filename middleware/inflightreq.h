/* inFlightReq: caps concurrent requests per source; over the cap -> 429. */
#ifndef WH_MW_INFLIGHTREQ_H
#define WH_MW_INFLIGHTREQ_H

#include <stdint.h>

#include "lib/config/dynamic.h"
#include "middleware/common_criteria.h"

typedef struct wh_mw_inflightreq_conf {
  int64_t amount;                           /* "amount" (> 0) */
  wh_mw_source_criterion *source_criterion; /* "sourceCriterion"; NULL = remote IP */
} wh_mw_inflightreq_conf;

extern const wh_mw_type wh_mw_inflightreq;

#endif
