/* basicAuth: HTTP Basic authentication against htpasswd-style users. */
#ifndef WH_MW_BASICAUTH_H
#define WH_MW_BASICAUTH_H

#include <stdbool.h>

#include "lib/config/dynamic.h"

typedef struct wh_mw_basicauth_conf {
  wh_strlist users;   /* "users": "user:hash" entries (SECRET: never encoded) */
  char *users_file;   /* "usersFile": one "user:hash" per line */
  char *realm;        /* "realm" [traefik] */
  bool remove_header; /* "removeHeader": strip Authorization before forwarding */
  char *header_field; /* "headerField": request header receiving the user name */
} wh_mw_basicauth_conf;

extern const wh_mw_type wh_mw_basicauth;

#endif
