/* replacePathRegex: rewrites the path with a regex and a Go-style
 * replacement ("${1}"), keeping the old one in X-Replaced-Path. */
#ifndef WH_MW_REPLACEPATHREGEX_H
#define WH_MW_REPLACEPATHREGEX_H

#include "lib/config/dynamic.h"

typedef struct wh_mw_replacepathregex_conf {
  char *regex;       /* "regex" (must compile) */
  char *replacement; /* "replacement" */
} wh_mw_replacepathregex_conf;

extern const wh_mw_type wh_mw_replacepathregex;

#endif
