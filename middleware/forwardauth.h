/* forwardAuth: asks an external HTTP(S) server whether to let a request
 * through; a 2xx reply continues the chain, anything else is returned. */
#ifndef WH_MW_FORWARDAUTH_H
#define WH_MW_FORWARDAUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/config/dynamic.h"
#include "middleware/common_criteria.h"

typedef struct wh_mw_forwardauth_conf {
  char *address;                           /* "address": http(s) URL (required) */
  wh_mw_client_tls *tls;                   /* "tls": to reach the auth server */
  bool trust_forward_header;               /* "trustForwardHeader" */
  wh_strlist auth_response_headers;        /* "authResponseHeaders" */
  char *auth_response_headers_regex;       /* "authResponseHeadersRegex" (must compile) */
  wh_strlist auth_request_headers;         /* "authRequestHeaders": empty = all */
  wh_strlist add_auth_cookies_to_response; /* "addAuthCookiesToResponse" */
  char *header_field;                      /* "headerField" */
  bool forward_body;                       /* "forwardBody" */
  int64_t max_body_size;                   /* "maxBodySize" [-1 = unlimited] */
  int64_t max_response_body_size;          /* "maxResponseBodySize" [-1: wharf's 1 MiB cap] */
  bool preserve_location_header;           /* "preserveLocationHeader" */
  bool preserve_request_method;            /* "preserveRequestMethod" */
  char *auth_signin_url;                   /* "authSigninURL": 302 target on 401 */
} wh_mw_forwardauth_conf;

extern const wh_mw_type wh_mw_forwardauth;

#endif
