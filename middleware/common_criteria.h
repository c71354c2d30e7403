/* Option sub-structs shared by several middleware types: how the client IP
 * is chosen (ipStrategy), how requests are grouped into sources
 * (sourceCriterion: rateLimit, inFlightReq) and the client TLS settings used
 * to reach an auth server (forwardAuth.tls). Owned through their schemas. */
#ifndef WH_MW_COMMON_CRITERIA_H
#define WH_MW_COMMON_CRITERIA_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/config/schema.h"

typedef struct wh_mw_ip_strategy {
  int64_t depth;           /* "depth": Nth X-Forwarded-For entry from the right; 0 = off */
  wh_strlist excluded_ips; /* "excludedIPs": IPs/CIDRs skipped from the right */
  int64_t ipv6_subnet;     /* "ipv6Subnet" (v3.1+), 1..128; meaningful when ipv6_subnet_set */
  bool ipv6_subnet_set;
} wh_mw_ip_strategy;

/* At most one kind is set; none means the TCP remote address. */
typedef struct wh_mw_source_criterion {
  wh_mw_ip_strategy *ip_strategy; /* "ipStrategy" */
  char *request_header_name;      /* "requestHeaderName" */
  bool request_host;              /* "requestHost" */
} wh_mw_source_criterion;

typedef struct wh_mw_client_tls {
  char *ca;                  /* "ca": path or inline PEM */
  char *cert;                /* "cert" */
  char *key;                 /* "key" (SECRET: may be an inline private key) */
  bool insecure_skip_verify; /* "insecureSkipVerify" */
  bool ca_optional;          /* "caOptional" (v2, deprecated) */
} wh_mw_client_tls;

extern const wh_schema wh_mw_schema_ip_strategy;
extern const wh_schema wh_mw_schema_source_criterion;
extern const wh_schema wh_mw_schema_client_tls;

#endif
