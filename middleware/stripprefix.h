/* stripPrefix: removes the first matching plain prefix from the path and
 * records it in X-Forwarded-Prefix. */
#ifndef WH_MW_STRIPPREFIX_H
#define WH_MW_STRIPPREFIX_H

#include <stdbool.h>

#include "lib/config/dynamic.h"

typedef struct wh_mw_stripprefix_conf {
  wh_strlist prefixes; /* "prefixes" (non-empty) */
  bool force_slash;    /* "forceSlash" [true] (v2, deprecated: removed in v3) */
  bool force_slash_set;
} wh_mw_stripprefix_conf;

extern const wh_mw_type wh_mw_stripprefix;

#endif
