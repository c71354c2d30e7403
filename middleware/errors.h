/* errors: replaces error responses whose status is in `status` with a page
 * fetched from `service` at `query` ("{status}", "{originalStatus}",
 * "{url}" substituted). */
#ifndef WH_MW_ERRORS_H
#define WH_MW_ERRORS_H

#include "lib/config/dynamic.h"

typedef struct wh_mw_errors_conf {
  wh_strlist status;         /* "status": "N" or "N-M" entries */
  char *service;             /* "service" (required) */
  char *query;               /* "query" */
  wh_strmap status_rewrites; /* "statusRewrites" (v3.4+): "N" or "N-M" -> status code */
} wh_mw_errors_conf;

extern const wh_mw_type wh_mw_errors;

#endif
