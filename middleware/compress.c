#include "middleware/compress.h"

#include <stdio.h>

#include "lib/core/str.h"
#include "middleware/option_check.h"

static const char *const known_encodings[] = {"gzip", "br", "zstd"};

static bool encoding_known(const char *e) {
  for (size_t i = 0; i < sizeof known_encodings / sizeof known_encodings[0]; i++)
    if (wh_streq(e, known_encodings[i]))
      return true;
  return false;
}

static int compress_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_compress_conf *c = obj;
  int n = 0;
  if (c->included_content_types.n > 0 && c->excluded_content_types.n > 0) {
    wh_mw_opt_error(errs, path, NULL,
                    "includedContentTypes and excludedContentTypes are mutually exclusive");
    n++;
  }
  if (c->min_response_body_bytes < 0) {
    wh_mw_opt_error(errs, path, "minResponseBodyBytes", "must be >= 0 (got %lld)",
                    (long long)c->min_response_body_bytes);
    n++;
  }
  for (size_t i = 0; i < c->encodings.n; i++) {
    if (encoding_known(c->encodings.v[i]))
      continue;
    char name[32];
    snprintf(name, sizeof name, "encodings[%zu]", i);
    wh_mw_opt_error(errs, path, name, "unsupported encoding \"%s\" (expected gzip, br or zstd)",
                    c->encodings.v[i]);
    n++;
  }
  /* as Traefik: the default must be one the middleware may pick */
  if (c->default_encoding && *c->default_encoding &&
      !wh_strlist_contains(&c->encodings, c->default_encoding)) {
    wh_mw_opt_error(errs, path, "defaultEncoding", "\"%s\" is not one of encodings",
                    c->default_encoding);
    n++;
  }
  return n ? WH_EINVAL : 0;
}

#define CF(member, name, type, ...)                                                                \
  WH_MW_FIELD(wh_mw_compress_conf, member, name, type, __VA_ARGS__)

static const wh_field compress_fields[] = {
    CF(excluded_content_types, "excludedContentTypes", WH_F_STRLIST),
    CF(included_content_types, "includedContentTypes", WH_F_STRLIST),
    CF(min_response_body_bytes, "minResponseBodyBytes", WH_F_INT, .dflt = "1024"),
    CF(encodings, "encodings", WH_F_STRLIST, .dflt = "gzip,br,zstd"),
    CF(default_encoding, "defaultEncoding", WH_F_STRING),
};

static const wh_schema compress_schema = {
    .name = "compress",
    .size = sizeof(wh_mw_compress_conf),
    .fields = compress_fields,
    .nfields = WH_MW_NFIELDS(compress_fields),
    .validate = compress_validate,
};

const wh_mw_type wh_mw_compress = {
    .name = "compress",
    .proto = WH_MW_HTTP,
    .schema = &compress_schema,
    .field_flags = WH_FF_ALLOW_EMPTY,
};
