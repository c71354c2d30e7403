/* replacePath: replaces the whole path, keeping the old one in X-Replaced-Path. */
#ifndef WH_MW_REPLACEPATH_H
#define WH_MW_REPLACEPATH_H

#include "lib/config/dynamic.h"

typedef struct wh_mw_replacepath_conf {
  char *path; /* "path" */
} wh_mw_replacepath_conf;

extern const wh_mw_type wh_mw_replacepath;

#endif
