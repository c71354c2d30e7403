#include "middleware/ipallowlist.h"

#include "middleware/source_key.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/log.h"
#include "lib/http/exchange.h"
#include "lib/http/forwarded.h"
#include "lib/net/ipset.h"
#include "middleware/option_check.h"

static int ipallowlist_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mw_ipallowlist_conf *c = obj;
  int n = wh_mw_check_nonempty(errs, path, "sourceRange", &c->source_range);
  n += wh_mw_check_ip_list(errs, path, "sourceRange", &c->source_range);
  n += wh_mw_check_status_code(errs, path, "rejectStatusCode", c->reject_status_code, true);
  return n ? WH_EINVAL : 0;
}

static const wh_field ipallowlist_fields[] = {
    WH_MW_FIELD(wh_mw_ipallowlist_conf, source_range, "sourceRange", WH_F_STRLIST),
    WH_MW_FIELD(wh_mw_ipallowlist_conf, ip_strategy, "ipStrategy", WH_F_STRUCT_PTR,
                .sub = &wh_mw_schema_ip_strategy, .flags = WH_FF_ALLOW_EMPTY),
    WH_MW_FIELD(wh_mw_ipallowlist_conf, reject_status_code, "rejectStatusCode", WH_F_INT),
};

static const wh_schema ipallowlist_schema = {
    .name = "ipAllowList",
    .size = sizeof(wh_mw_ipallowlist_conf),
    .fields = ipallowlist_fields,
    .nfields = WH_MW_NFIELDS(ipallowlist_fields),
    .validate = ipallowlist_validate,
};

enum { IP_TEXT_MAX = 64 };

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Copies s[0..n) without surrounding blanks (Go's strings.TrimSpace) into
 * out; an item too long to be an address becomes "" (never authorised). */
static void copy_trimmed(const char *s, size_t n, char out[IP_TEXT_MAX]) {
  while (n && is_space(*s)) {
    s++;
    n--;
  }
  while (n && is_space(s[n - 1]))
    n--;
  if (n >= IP_TEXT_MAX)
    n = 0;
  memcpy(out, s, n);
  out[n] = '\0';
}

/* ipStrategy.depth: the depth-th X-Forwarded-For item from the right, ""
 * when there are fewer (pkg/ip/strategy.go DepthStrategy). */
static void xff_depth(const char *xff, int64_t depth, char out[IP_TEXT_MAX]) {
  out[0] = '\0';
  if (!xff)
    xff = "";
  size_t items = 1;
  for (const char *p = xff; *p; p++)
    items += *p == ',';
  if ((int64_t)items < depth)
    return;
  size_t want = items - (size_t)depth, i = 0;
  const char *start = xff;
  for (const char *p = xff;; p++) {
    if (*p == ',' || *p == '\0') {
      if (i++ == want) {
        copy_trimmed(start, (size_t)(p - start), out);
        return;
      }
      start = p + 1;
    }
    if (!*p)
      return;
  }
}

/* ipStrategy.excludedIPs: the rightmost non-empty X-Forwarded-For item not
 * in the excluded set, "" when none (PoolStrategy). An item that is not an
 * address is not excluded, so it is returned and then refused. */
static void xff_pool(const char *xff, const wh_ipset *excluded, char out[IP_TEXT_MAX]) {
  out[0] = '\0';
  if (!xff)
    return;
  for (size_t end = strlen(xff);;) {
    size_t start = end;
    while (start > 0 && xff[start - 1] != ',')
      start--;
    bool blank = true;
    for (size_t i = start; i < end; i++)
      blank = blank && is_space(xff[i]);
    char item[IP_TEXT_MAX];
    copy_trimmed(xff + start, end - start, item);
    if (!blank && !wh_ipset_contains_str(excluded, item)) {
      memcpy(out, item, sizeof item);
      return;
    }
    if (start == 0)
      return;
    end = start - 1;
  }
}

/* ipv6Subnet: an IPv6 address is replaced by the first address of its
 * /bits network. IPv4 and IPv4-mapped addresses are left alone (the mapped
 * form is the IPv4 client, HARDENING 18); text that is not an address too. */
static void apply_ipv6_subnet(char ip[IP_TEXT_MAX], int64_t bits) {
  uint8_t a[16];
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (bits < 1 || bits > 128 || inet_pton(AF_INET6, ip, a) != 1 || !memcmp(a, mapped, 12))
    return;
  for (unsigned i = 0; i < 16; i++) {
    int64_t keep = bits - (int64_t)i * 8;
    if (keep <= 0)
      a[i] = 0;
    else if (keep < 8)
      a[i] &= (uint8_t)(0xff00u >> keep);
  }
  char buf[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, a, buf, sizeof buf))
    snprintf(ip, IP_TEXT_MAX, "%s", buf);
}

/* Checker.IsAuthorized: "host:port" and "[v6]:port" lose their port, then
 * the address must be in the set; "" and non-addresses never are. */
static bool authorised(const wh_ipset *set, const char *ip) {
  char host[IP_TEXT_MAX];
  const char *colon = strchr(ip, ':');
  if (ip[0] == '[') {
    const char *rb = strchr(ip, ']');
    if (rb && rb[1] == ':' && !strchr(rb + 2, ':')) {
      size_t n = (size_t)(rb - ip - 1);
      memcpy(host, ip + 1, n);
      host[n] = '\0';
      ip = host;
    }
  } else if (colon && !strchr(colon + 1, ':')) {
    size_t n = (size_t)(colon - ip);
    memcpy(host, ip, n);
    host[n] = '\0';
    ip = host;
  }
  return *ip && wh_ipset_contains_str(set, ip);
}

/* The client IP as Traefik's ipStrategy.Get() picks it: depth first, then
 * excludedIPs (which ignores ipv6Subnet), else the socket's address, never
 * X-Forwarded-For. Returns false when the excluded list cannot be parsed
 * (validated at load, so out of memory). */
static bool client_ip_from(const wh_mw_ip_strategy *s, wh_mw_exchange *x, const char *xff,
                           char out[IP_TEXT_MAX]);

static bool client_ip(const wh_mw_ip_strategy *s, wh_mw_exchange *x, char out[IP_TEXT_MAX]) {
  wh_strbuf tmp = {0};
  bool oom = false;
  /* X-Forwarded-For only from a trusted peer (HARDENING 16, 19) */
  const char *xff =
      s && (s->depth > 0 || s->excluded_ips.n > 0) ? wh_mw_xff_view(x, &tmp, &oom) : "";
  if (oom) {
    wh_strbuf_free(&tmp);
    return false;
  }
  bool ok = client_ip_from(s, x, xff, out);
  wh_strbuf_free(&tmp);
  return ok;
}

static bool client_ip_from(const wh_mw_ip_strategy *s, wh_mw_exchange *x, const char *xff,
                           char out[IP_TEXT_MAX]) {
  if (s && s->depth > 0) {
    xff_depth(xff, s->depth, out);
    if (s->ipv6_subnet_set)
      apply_ipv6_subnet(out, s->ipv6_subnet);
    return true;
  }
  if (s && s->excluded_ips.n > 0) {
    wh_ipset *ex = wh_ipset_parse(s->excluded_ips.v, s->excluded_ips.n, NULL);
    if (!ex)
      return false;
    xff_pool(xff, ex, out);
    wh_ipset_free(ex);
    return true;
  }
  wh_addr_ip_string((const struct sockaddr *)&x->req->peer, out, IP_TEXT_MAX);
  if (s && s->ipv6_subnet_set)
    apply_ipv6_subnet(out, s->ipv6_subnet);
  return true;
}

/* The sets are parsed per request rather than cached: the framework has no
 * hook that frees per-configuration state when a snapshot goes, and a cache
 * keyed by the configuration's address could hand a stale set to a new
 * configuration allocated at the same place (failing open). Parsing a
 * handful of CIDRs is a few inet_pton calls and two allocations, small next
 * to the request itself; the lookup is linear in the list either way. */
static int ipallowlist_on_request(const void *cfg, wh_mw_exchange *x) {
  const wh_mw_ipallowlist_conf *c = cfg;
  int status = c->reject_status_code ? (int)c->reject_status_code : 403;
  char ip[IP_TEXT_MAX];
  wh_ipset *set = wh_ipset_parse(c->source_range.v, c->source_range.n, NULL);
  if (!set || !client_ip(c->ip_strategy, x, ip)) {
    wh_ipset_free(set);
    static _Atomic bool logged;
    if (!atomic_exchange(&logged, true))
      wh_log_error("middleware \"%s\": cannot load its IP ranges; answering 500",
                   x->mw_name ? x->mw_name : "ipAllowList");
    wh_http_resp_free(x->resp);
    wh_http_resp_text(x->resp, 500, "Internal Server Error");
    return WH_MW_DONE;
  }
  bool ok = authorised(set, ip);
  wh_ipset_free(set);
  if (ok)
    return WH_MW_NEXT;
  wh_log_debug("middleware \"%s\": rejecting IP \"%s\"", x->mw_name ? x->mw_name : "ipAllowList",
               ip);
  wh_http_resp_free(x->resp);
  wh_http_resp_text(x->resp, status, wh_http_status_reason(status));
  return WH_MW_DONE;
}

const wh_mw_type wh_mw_ipallowlist = {
    .name = "ipAllowList",
    .proto = WH_MW_HTTP,
    .schema = &ipallowlist_schema,
    .on_request = ipallowlist_on_request,
};

/* v2's ipWhiteList had no rejectStatusCode; accepting it there too costs
 * nothing and lets the runtime treat both names as one type. */
const wh_mw_type wh_mw_ipwhitelist = {
    .name = "ipWhiteList",
    .proto = WH_MW_HTTP,
    .schema = &ipallowlist_schema,
    .alias_of = "ipAllowList",
    .field_flags = WH_FF_DEPRECATED,
    .on_request = ipallowlist_on_request,
};
