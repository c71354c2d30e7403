/* grpcWeb: converts gRPC-Web requests to gRPC over HTTP/2. */
#ifndef WH_MW_GRPCWEB_H
#define WH_MW_GRPCWEB_H

#include "lib/config/dynamic.h"

typedef struct wh_mw_grpcweb_conf {
  wh_strlist allow_origins; /* "allowOrigins": origins or "*" */
} wh_mw_grpcweb_conf;

extern const wh_mw_type wh_mw_grpcweb;

#endif
