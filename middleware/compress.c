#include "middleware/compress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/str.h"
#include "lib/http/compressor.h"
#include "lib/http/exchange.h"
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

/* Position of e in the configured encodings (the server's preference), or
 * -1 when not offered by the configuration. */
static int server_rank(const wh_mw_compress_conf *c, wh_encoding e) {
  for (size_t i = 0; i < c->encodings.n; i++)
    if (wh_encoding_parse(c->encodings.v[i], strlen(c->encodings.v[i])) == e)
      return (int)i;
  return -1;
}

/* q of an Accept-Encoding element's parameters (";q=0.5"), 1 when absent. */
static double q_of(const char *params, size_t n) {
  for (size_t i = 0; i + 1 < n; i++) {
    if ((params[i] == 'q' || params[i] == 'Q') && params[i + 1] == '=') {
      char buf[16];
      size_t k = 0;
      for (size_t j = i + 2; j < n && k + 1 < sizeof(buf) && params[j] != ';'; j++)
        if (params[j] != ' ')
          buf[k++] = params[j];
      buf[k] = '\0';
      char *end;
      double q = strtod(buf, &end);
      return end == buf || q < 0 ? 0 : q > 1 ? 1 : q;
    }
  }
  return 1;
}

/* Traefik's choice: the supported encoding with the highest q, ties broken
 * by the configured order; "*" stands for the default encoding (else the
 * first configured); no header means the default encoding, if any. */
static wh_encoding negotiate(const wh_mw_compress_conf *c, const char *ae) {
  wh_encoding dflt = c->default_encoding && *c->default_encoding
                         ? wh_encoding_parse(c->default_encoding, strlen(c->default_encoding))
                         : WH_ENC_NONE;
  if (!ae)
    return dflt;
  wh_encoding best = WH_ENC_NONE;
  double best_q = 0;
  int best_rank = 0;
  bool star = false;
  double star_q = 0;
  for (const char *p = ae; *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    if (!*p)
      break;
    const char *e = p;
    while (*e && *e != ',')
      e++;
    size_t tl = strcspn(p, ";,");
    while (tl && p[tl - 1] == ' ')
      tl--;
    const char *semi = memchr(p, ';', (size_t)(e - p));
    double q = semi ? q_of(semi, (size_t)(e - semi)) : 1;
    if (tl == 1 && *p == '*') {
      star = q > 0;
      star_q = q;
    } else {
      wh_encoding enc = wh_encoding_parse(p, tl);
      int rank = enc ? server_rank(c, enc) : -1;
      if (rank >= 0 && q > 0 && (q > best_q || (q == best_q && rank < best_rank))) {
        best = enc;
        best_q = q;
        best_rank = rank;
      }
    }
    p = e;
  }
  if (best && (!star || best_q >= star_q))
    return best;
  if (star) {
    if (dflt)
      return dflt;
    return c->encodings.n ? wh_encoding_parse(c->encodings.v[0], strlen(c->encodings.v[0]))
                          : WH_ENC_NONE;
  }
  return best;
}

static int compress_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_compress_conf *c = cfg;
  if (strcmp(x->req->method, "HEAD") == 0)
    return WH_MW_NEXT; /* never on HEAD */
  wh_encoding e = negotiate(c, wh_http_req_header(x->req, "Accept-Encoding"));
  if (e == WH_ENC_NONE || x->compress_enc)
    return WH_MW_NEXT; /* an outer compress middleware already decided */
  x->compress_enc = e;
  x->compress_min_bytes = c->min_response_body_bytes;
  x->compress_include = &c->included_content_types;
  x->compress_exclude = &c->excluded_content_types;
  return WH_MW_NEXT;
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
    .on_request = compress_on_request,
};
