#include "middleware/forwardauth.h"

#include "middleware/option_check.h"

static int forwardauth_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_forwardauth_conf *c = obj;
  int n = wh_mw_check_required(errs, path, "address", c->address);
  if (!n && !wh_mw_http_url_valid(c->address)) {
    wh_mw_opt_error(errs, path, "address", "expected an http:// or https:// URL, got \"%s\"",
                    c->address);
    n++;
  }
  n += wh_mw_check_regex(errs, path, "authResponseHeadersRegex", c->auth_response_headers_regex);
  return n ? WH_EINVAL : 0;
}

#define FA(member, name, type, ...)                                                                \
  WH_MW_FIELD(wh_mw_forwardauth_conf, member, name, type, __VA_ARGS__)

static const wh_field forwardauth_fields[] = {
    FA(address, "address", WH_F_STRING),
    FA(tls, "tls", WH_F_STRUCT_PTR, .sub = &wh_mw_schema_client_tls),
    FA(trust_forward_header, "trustForwardHeader", WH_F_BOOL),
    FA(auth_response_headers, "authResponseHeaders", WH_F_STRLIST),
    FA(auth_response_headers_regex, "authResponseHeadersRegex", WH_F_STRING),
    FA(auth_request_headers, "authRequestHeaders", WH_F_STRLIST),
    FA(add_auth_cookies_to_response, "addAuthCookiesToResponse", WH_F_STRLIST),
    FA(header_field, "headerField", WH_F_STRING),
    FA(forward_body, "forwardBody", WH_F_BOOL),
    FA(max_body_size, "maxBodySize", WH_F_INT, .dflt = "-1"),
    FA(preserve_location_header, "preserveLocationHeader", WH_F_BOOL),
    FA(preserve_request_method, "preserveRequestMethod", WH_F_BOOL),
    FA(auth_signin_url, "authSigninURL", WH_F_STRING),
};

static const wh_schema forwardauth_schema = {
    .name = "forwardAuth",
    .size = sizeof(wh_mw_forwardauth_conf),
    .fields = forwardauth_fields,
    .nfields = WH_MW_NFIELDS(forwardauth_fields),
    .validate = forwardauth_validate,
};

const wh_mw_type wh_mw_forwardauth = {
    .name = "forwardAuth",
    .proto = WH_MW_HTTP,
    .schema = &forwardauth_schema,
};
