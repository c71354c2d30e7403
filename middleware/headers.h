/* headers: custom request/response headers, security headers (HSTS, frame
 * options, CSP, ...), allowed hosts and CORS. */
#ifndef WH_MW_HEADERS_H
#define WH_MW_HEADERS_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/config/dynamic.h"

typedef struct wh_mw_headers_conf {
  wh_strmap custom_request_headers;  /* "customRequestHeaders": "" deletes */
  wh_strmap custom_response_headers; /* "customResponseHeaders": "" deletes */

  /* CORS */
  bool access_control_allow_credentials;             /* "accessControlAllowCredentials" */
  wh_strlist access_control_allow_headers;           /* "accessControlAllowHeaders" */
  wh_strlist access_control_allow_methods;           /* "accessControlAllowMethods" */
  wh_strlist access_control_allow_origin_list;       /* "accessControlAllowOriginList" */
  wh_strlist access_control_allow_origin_list_regex; /* "accessControlAllowOriginListRegex" */
  wh_strlist access_control_expose_headers;          /* "accessControlExposeHeaders" */
  int64_t access_control_max_age;                    /* "accessControlMaxAge" (seconds) */
  bool add_vary_header;                              /* "addVaryHeader" */

  /* security */
  wh_strlist allowed_hosts;                  /* "allowedHosts" */
  wh_strlist hosts_proxy_headers;            /* "hostsProxyHeaders" */
  wh_strmap ssl_proxy_headers;               /* "sslProxyHeaders" */
  int64_t sts_seconds;                       /* "stsSeconds" (>= 0; 0 = no header) */
  bool sts_include_subdomains;               /* "stsIncludeSubdomains" */
  bool sts_preload;                          /* "stsPreload" */
  bool force_sts_header;                     /* "forceSTSHeader" */
  bool frame_deny;                           /* "frameDeny" */
  char *custom_frame_options_value;          /* "customFrameOptionsValue" */
  bool content_type_nosniff;                 /* "contentTypeNosniff" */
  bool browser_xss_filter;                   /* "browserXssFilter" */
  char *custom_browser_xss_value;            /* "customBrowserXSSValue" */
  char *content_security_policy;             /* "contentSecurityPolicy" */
  char *content_security_policy_report_only; /* "contentSecurityPolicyReportOnly" */
  char *public_key;                          /* "publicKey" */
  char *referrer_policy;                     /* "referrerPolicy" */
  char *permissions_policy;                  /* "permissionsPolicy" */
  bool is_development;                       /* "isDevelopment" */

  /* v2 only (removed in v3): accepted with a deprecation warning */
  bool ssl_redirect;           /* "sslRedirect" */
  bool ssl_temporary_redirect; /* "sslTemporaryRedirect" */
  char *ssl_host;              /* "sslHost" */
  bool ssl_force_host;         /* "sslForceHost" */
  char *feature_policy;        /* "featurePolicy" */
} wh_mw_headers_conf;

extern const wh_mw_type wh_mw_headers;

#endif
