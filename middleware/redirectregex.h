/* redirectRegex: redirects when scheme://host/uri matches regex, to the
 * Go-style replacement ("${1}"). */
#ifndef WH_MW_REDIRECTREGEX_H
#define WH_MW_REDIRECTREGEX_H

#include <stdbool.h>

#include "lib/config/dynamic.h"

typedef struct wh_mw_redirectregex_conf {
  char *regex;       /* "regex" (required, must compile) */
  char *replacement; /* "replacement" (required) */
  bool permanent;    /* "permanent": 301/308 instead of 302/307 */
} wh_mw_redirectregex_conf;

extern const wh_mw_type wh_mw_redirectregex;

#endif
