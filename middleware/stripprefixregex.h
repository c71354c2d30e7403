/* stripPrefixRegex: removes the path prefix matched by the first matching
 * regular expression. */
#ifndef WH_MW_STRIPPREFIXREGEX_H
#define WH_MW_STRIPPREFIXREGEX_H

#include "lib/config/dynamic.h"

typedef struct wh_mw_stripprefixregex_conf {
  wh_strlist regex; /* "regex": a list of patterns (non-empty, each compiles) */
} wh_mw_stripprefixregex_conf;

extern const wh_mw_type wh_mw_stripprefixregex;

#endif
