/* redirectScheme: redirects to the same URL with another scheme (and port). */
#ifndef WH_MW_REDIRECTSCHEME_H
#define WH_MW_REDIRECTSCHEME_H

#include <stdbool.h>

#include "lib/config/dynamic.h"

typedef struct wh_mw_redirectscheme_conf {
  char *scheme;   /* "scheme" (required) */
  char *port;     /* "port": a string in Traefik */
  bool permanent; /* "permanent" */
} wh_mw_redirectscheme_conf;

extern const wh_mw_type wh_mw_redirectscheme;

#endif
