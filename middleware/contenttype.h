/* contentType: sets Content-Type from the body when the backend sent none.
 * In v3 it has no options ("contentType=true", ALLOW_EMPTY); v2's
 * autoDetect is accepted as deprecated. */
#ifndef WH_MW_CONTENTTYPE_H
#define WH_MW_CONTENTTYPE_H

#include <stdbool.h>

#include "lib/config/dynamic.h"

typedef struct wh_mw_contenttype_conf {
  bool auto_detect; /* "autoDetect" (v2, deprecated) */
} wh_mw_contenttype_conf;

extern const wh_mw_type wh_mw_contenttype;

#endif
