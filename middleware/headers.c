#include "middleware/headers.h"

#include "middleware/option_check.h"

static int headers_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_headers_conf *c = obj;
  int n = 0;
  if (c->sts_seconds < 0) {
    wh_mw_opt_error(errs, path, "stsSeconds", "must be >= 0 (got %lld)", (long long)c->sts_seconds);
    n++;
  }
  n += wh_mw_check_regex_list(errs, path, "accessControlAllowOriginListRegex",
                              &c->access_control_allow_origin_list_regex);
  return n ? WH_EINVAL : 0;
}

#define HF(member, name, type, ...) WH_MW_FIELD(wh_mw_headers_conf, member, name, type, __VA_ARGS__)

static const wh_field headers_fields[] = {
    HF(custom_request_headers, "customRequestHeaders", WH_F_STRMAP),
    HF(custom_response_headers, "customResponseHeaders", WH_F_STRMAP),
    HF(access_control_allow_credentials, "accessControlAllowCredentials", WH_F_BOOL),
    HF(access_control_allow_headers, "accessControlAllowHeaders", WH_F_STRLIST),
    HF(access_control_allow_methods, "accessControlAllowMethods", WH_F_STRLIST),
    HF(access_control_allow_origin_list, "accessControlAllowOriginList", WH_F_STRLIST),
    HF(access_control_allow_origin_list_regex, "accessControlAllowOriginListRegex", WH_F_STRLIST),
    HF(access_control_expose_headers, "accessControlExposeHeaders", WH_F_STRLIST),
    HF(access_control_max_age, "accessControlMaxAge", WH_F_INT),
    HF(add_vary_header, "addVaryHeader", WH_F_BOOL),
    HF(allowed_hosts, "allowedHosts", WH_F_STRLIST),
    HF(hosts_proxy_headers, "hostsProxyHeaders", WH_F_STRLIST),
    HF(ssl_proxy_headers, "sslProxyHeaders", WH_F_STRMAP),
    HF(sts_seconds, "stsSeconds", WH_F_INT),
    HF(sts_include_subdomains, "stsIncludeSubdomains", WH_F_BOOL),
    HF(sts_preload, "stsPreload", WH_F_BOOL),
    HF(force_sts_header, "forceSTSHeader", WH_F_BOOL),
    HF(frame_deny, "frameDeny", WH_F_BOOL),
    HF(custom_frame_options_value, "customFrameOptionsValue", WH_F_STRING),
    HF(content_type_nosniff, "contentTypeNosniff", WH_F_BOOL),
    HF(browser_xss_filter, "browserXssFilter", WH_F_BOOL),
    HF(custom_browser_xss_value, "customBrowserXSSValue", WH_F_STRING),
    HF(content_security_policy, "contentSecurityPolicy", WH_F_STRING),
    HF(content_security_policy_report_only, "contentSecurityPolicyReportOnly", WH_F_STRING),
    HF(public_key, "publicKey", WH_F_STRING),
    HF(referrer_policy, "referrerPolicy", WH_F_STRING),
    HF(permissions_policy, "permissionsPolicy", WH_F_STRING),
    HF(is_development, "isDevelopment", WH_F_BOOL),
    HF(ssl_redirect, "sslRedirect", WH_F_BOOL, .flags = WH_FF_DEPRECATED),
    HF(ssl_temporary_redirect, "sslTemporaryRedirect", WH_F_BOOL, .flags = WH_FF_DEPRECATED),
    HF(ssl_host, "sslHost", WH_F_STRING, .flags = WH_FF_DEPRECATED),
    HF(ssl_force_host, "sslForceHost", WH_F_BOOL, .flags = WH_FF_DEPRECATED),
    HF(feature_policy, "featurePolicy", WH_F_STRING, .flags = WH_FF_DEPRECATED),
};

static const wh_schema headers_schema = {
    .name = "headers",
    .size = sizeof(wh_mw_headers_conf),
    .fields = headers_fields,
    .nfields = WH_MW_NFIELDS(headers_fields),
    .validate = headers_validate,
};

const wh_mw_type wh_mw_headers = {
    .name = "headers",
    .proto = WH_MW_HTTP,
    .schema = &headers_schema,
};
