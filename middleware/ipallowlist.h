/* ipAllowList (v3) and its v2 name ipWhiteList: only clients whose IP (as
 * chosen by ipStrategy) is in sourceRange pass; others get
 * rejectStatusCode [403]. Both types share this configuration struct. */
#ifndef WH_MW_IPALLOWLIST_H
#define WH_MW_IPALLOWLIST_H

#include <stdint.h>

#include "lib/config/dynamic.h"
#include "middleware/common_criteria.h"

typedef struct wh_mw_ipallowlist_conf {
  wh_strlist source_range;        /* "sourceRange": IPs/CIDRs (required) */
  wh_mw_ip_strategy *ip_strategy; /* "ipStrategy" (ALLOW_EMPTY); NULL = remote address */
  int64_t reject_status_code;     /* "rejectStatusCode" (v3); 0 means 403 */
} wh_mw_ipallowlist_conf;

extern const wh_mw_type wh_mw_ipallowlist;
/* The deprecated v2 name; alias_of = "ipAllowList", same configuration. */
extern const wh_mw_type wh_mw_ipwhitelist;

#endif
