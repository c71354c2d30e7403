/* retry: re-sends a request after a network error, before anything was
 * written to the client, with exponential backoff. */
#ifndef WH_MW_RETRY_H
#define WH_MW_RETRY_H

#include <stdint.h>

#include "lib/config/dynamic.h"

typedef struct wh_mw_retry_conf {
  int64_t attempts;             /* "attempts" (> 0, includes the first try) */
  wh_duration initial_interval; /* "initialInterval" [0 = retry at once] */
} wh_mw_retry_conf;

extern const wh_mw_type wh_mw_retry;

#endif
