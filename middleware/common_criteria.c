#include "middleware/common_criteria.h"

#include "middleware/option_check.h"

static int ip_strategy_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_ip_strategy *s = obj;
  int n = 0;
  if (s->depth < 0) {
    wh_mw_opt_error(errs, path, "depth", "must be >= 0 (got %lld)", (long long)s->depth);
    n++;
  }
  /* Traefik rejects the same values when it builds the strategy. */
  if (s->ipv6_subnet_set && (s->ipv6_subnet <= 0 || s->ipv6_subnet > 128)) {
    wh_mw_opt_error(errs, path, "ipv6Subnet", "must be in 1..128 (got %lld)",
                    (long long)s->ipv6_subnet);
    n++;
  }
  n += wh_mw_check_ip_list(errs, path, "excludedIPs", &s->excluded_ips);
  return n ? WH_EINVAL : 0;
}

static const wh_field ip_strategy_fields[] = {
    WH_MW_FIELD(wh_mw_ip_strategy, depth, "depth", WH_F_INT),
    WH_MW_FIELD(wh_mw_ip_strategy, excluded_ips, "excludedIPs", WH_F_STRLIST),
    WH_MW_FIELD(wh_mw_ip_strategy, ipv6_subnet, "ipv6Subnet", WH_F_INT,
                .set_offset = offsetof(wh_mw_ip_strategy, ipv6_subnet_set)),
};

const wh_schema wh_mw_schema_ip_strategy = {
    .name = "ipStrategy",
    .size = sizeof(wh_mw_ip_strategy),
    .fields = ip_strategy_fields,
    .nfields = WH_MW_NFIELDS(ip_strategy_fields),
    .validate = ip_strategy_validate,
};

static int source_criterion_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_source_criterion *c = obj;
  int kinds = (c->ip_strategy != NULL) + (c->request_header_name && *c->request_header_name) +
              c->request_host;
  if (kinds <= 1)
    return 0;
  wh_mw_opt_error(errs, path, NULL,
                  "ipStrategy, requestHeaderName and requestHost are mutually exclusive");
  return WH_EINVAL;
}

static const wh_field source_criterion_fields[] = {
    WH_MW_FIELD(wh_mw_source_criterion, ip_strategy, "ipStrategy", WH_F_STRUCT_PTR,
                .sub = &wh_mw_schema_ip_strategy),
    WH_MW_FIELD(wh_mw_source_criterion, request_header_name, "requestHeaderName", WH_F_STRING),
    WH_MW_FIELD(wh_mw_source_criterion, request_host, "requestHost", WH_F_BOOL),
};

const wh_schema wh_mw_schema_source_criterion = {
    .name = "sourceCriterion",
    .size = sizeof(wh_mw_source_criterion),
    .fields = source_criterion_fields,
    .nfields = WH_MW_NFIELDS(source_criterion_fields),
    .validate = source_criterion_validate,
};

static const wh_field client_tls_fields[] = {
    WH_MW_FIELD(wh_mw_client_tls, ca, "ca", WH_F_STRING),
    WH_MW_FIELD(wh_mw_client_tls, cert, "cert", WH_F_STRING),
    WH_MW_FIELD(wh_mw_client_tls, key, "key", WH_F_STRING, .flags = WH_FF_SECRET),
    WH_MW_FIELD(wh_mw_client_tls, insecure_skip_verify, "insecureSkipVerify", WH_F_BOOL),
    WH_MW_FIELD(wh_mw_client_tls, ca_optional, "caOptional", WH_F_BOOL, .flags = WH_FF_DEPRECATED),
};

const wh_schema wh_mw_schema_client_tls = {
    .name = "tls",
    .size = sizeof(wh_mw_client_tls),
    .fields = client_tls_fields,
    .nfields = WH_MW_NFIELDS(client_tls_fields),
};
