#include "middleware/redirectregex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"
#include "middleware/option_check.h"
#include "middleware/request_url.h"

static int redirectregex_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_redirectregex_conf *c = obj;
  int n = wh_mw_check_required(errs, path, "regex", c->regex);
  if (!n)
    n += wh_mw_check_regex(errs, path, "regex", c->regex);
  n += wh_mw_check_required(errs, path, "replacement", c->replacement);
  return n ? WH_EINVAL : 0;
}

static const wh_field redirectregex_fields[] = {
    WH_MW_FIELD(wh_mw_redirectregex_conf, regex, "regex", WH_F_STRING),
    WH_MW_FIELD(wh_mw_redirectregex_conf, replacement, "replacement", WH_F_STRING),
    WH_MW_FIELD(wh_mw_redirectregex_conf, permanent, "permanent", WH_F_BOOL),
};

static const wh_schema redirectregex_schema = {
    .name = "redirectRegex",
    .size = sizeof(wh_mw_redirectregex_conf),
    .fields = redirectregex_fields,
    .nfields = WH_MW_NFIELDS(redirectregex_fields),
    .validate = redirectregex_validate,
};

/* Go's regexp.ReplaceAllString(url, replacement) when the regex matches:
 * every match is replaced, ${1} / $1 expand groups. The pattern is compiled
 * per request until middleware instances (with state) arrive with the data
 * plane; only the internal dashboard redirect uses it on this path today. */
static int redirectregex_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_redirectregex_conf *c = cfg;
  char *url = wh_mw_request_url(x, NULL);
  if (!url)
    return WH_MW_NEXT;
  int err;
  PCRE2_SIZE off;
  pcre2_code *re =
      pcre2_compile((PCRE2_SPTR)c->regex, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &off, NULL);
  int rc = WH_MW_NEXT;
  if (re) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (md && pcre2_match(re, (PCRE2_SPTR)url, strlen(url), 0, 0, md, NULL) >= 0) {
      PCRE2_UCHAR out[8192];
      PCRE2_SIZE outlen = sizeof(out);
      if (pcre2_substitute(re, (PCRE2_SPTR)url, strlen(url), 0, PCRE2_SUBSTITUTE_GLOBAL, NULL, NULL,
                           (PCRE2_SPTR)c->replacement, PCRE2_ZERO_TERMINATED, out, &outlen) >= 0) {
        wh_mw_redirect(x, (const char *)out, c->permanent);
        rc = WH_MW_DONE;
      }
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
  }
  free(url);
  return rc;
}

const wh_mw_type wh_mw_redirectregex = {
    .on_request = redirectregex_on_request,
    .name = "redirectRegex",
    .proto = WH_MW_HTTP,
    .schema = &redirectregex_schema,
};
