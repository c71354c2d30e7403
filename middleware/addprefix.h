/* addPrefix: prepends a fixed prefix to the request path. */
#ifndef WH_MW_ADDPREFIX_H
#define WH_MW_ADDPREFIX_H

#include "lib/config/dynamic.h"

typedef struct wh_mw_addprefix_conf {
  char *prefix; /* "prefix" (required) */
} wh_mw_addprefix_conf;

extern const wh_mw_type wh_mw_addprefix;

#endif
