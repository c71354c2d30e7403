/* digestAuth: HTTP Digest authentication against htdigest-style users. */
#ifndef WH_MW_DIGESTAUTH_H
#define WH_MW_DIGESTAUTH_H

#include <stdbool.h>

#include "lib/config/dynamic.h"

typedef struct wh_mw_digestauth_conf {
  wh_strlist users;   /* "users": "user:realm:hash" entries (SECRET: never encoded) */
  char *users_file;   /* "usersFile" */
  bool remove_header; /* "removeHeader" */
  char *realm;        /* "realm" [traefik] */
  char *header_field; /* "headerField" */
} wh_mw_digestauth_conf;

extern const wh_mw_type wh_mw_digestauth;

#endif
