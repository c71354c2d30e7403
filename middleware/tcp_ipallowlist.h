/* TCP ipAllowList (v3) and its v2 name ipWhiteList: only connections from
 * sourceRange are accepted. Same key names as the HTTP types, hence the
 * tcp prefix on the C symbols. */
#ifndef WH_MW_TCP_IPALLOWLIST_H
#define WH_MW_TCP_IPALLOWLIST_H

#include "lib/config/dynamic.h"

typedef struct wh_mw_tcp_ipallowlist_conf {
  wh_strlist source_range; /* "sourceRange": IPs/CIDRs (required) */
} wh_mw_tcp_ipallowlist_conf;

extern const wh_mw_type wh_mw_tcp_ipallowlist;
/* alias_of = "ipAllowList", same configuration */
extern const wh_mw_type wh_mw_tcp_ipwhitelist;

#endif
