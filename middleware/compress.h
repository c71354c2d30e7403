/* compress: compresses responses (gzip, br, zstd) by Accept-Encoding.
 * "compress=true" enables it with defaults (the type is ALLOW_EMPTY). */
#ifndef WH_MW_COMPRESS_H
#define WH_MW_COMPRESS_H

#include <stdint.h>

#include "lib/config/dynamic.h"

typedef struct wh_mw_compress_conf {
  wh_strlist excluded_content_types; /* "excludedContentTypes" (application/grpc always) */
  wh_strlist included_content_types; /* "includedContentTypes" (exclusive with excluded) */
  int64_t min_response_body_bytes;   /* "minResponseBodyBytes" [1024] */
  wh_strlist encodings;              /* "encodings" [gzip,br,zstd]: order = preference */
  char *default_encoding;            /* "defaultEncoding": for no/wildcard Accept-Encoding */
} wh_mw_compress_conf;

extern const wh_mw_type wh_mw_compress;

#endif
