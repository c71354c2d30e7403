/* Schema tables of the dynamic configuration model (dynamic.h), with
 * Traefik's JSON/YAML names (pkg/config/dynamic), their validate hooks,
 * the middleware schemas built from the registry, and the element-by-element
 * decoder that lets one bad router fail alone. See docs/internals/config-model.md. */
#include "lib/config/dynamic.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/str.h"

#define NELEM WH_NELEM
#define F WH_F
#define FSET WH_FSET
#define SCHEMA WH_SCHEMA

/* ---------------------------------------------------------------------------
 * Validation helpers */

/* "<path>: <msg>", or just "<msg>" at an element's root (path ""): element
 * errors are shown under the element, which already names it. */
__attribute__((format(printf, 3, 4))) static void verr(wh_errlist *errs, const char *path,
                                                       const char *fmt, ...) {
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  if (!msg) {
    wh_errlist_add(errs, "%s%sout of memory", path ? path : "", path && *path ? ": " : "");
    return;
  }
  if (path && *path)
    wh_errlist_add(errs, "%s: %s", path, msg);
  else
    wh_errlist_add(errs, "%s", msg);
  free(msg);
}

static bool empty(const char *s) {
  return !s || !*s;
}

/* Decimal port 1..65535 spanning exactly [s, s+n). */
static bool valid_port(const char *s, size_t n) {
  if (n == 0 || n > 5)
    return false;
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (s[i] - '0');
  }
  return v >= 1 && v <= 65535;
}

/* A host name or IPv4 address (no brackets). */
static bool valid_hostname(const char *s, size_t n) {
  if (n == 0 || n > 253)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!isalnum(c) && c != '-' && c != '.' && c != '_')
      return false;
  }
  return true;
}

/* The inside of "[...]": an IPv6 address, optionally with a zone. */
static bool valid_ipv6(const char *s, size_t n) {
  if (n < 2)
    return false;
  bool colon = false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%')
      return colon && i + 1 < n; /* zone: anything printable after it */
    if (c == ':')
      colon = true;
    else if (!isxdigit(c) && c != '.')
      return false;
  }
  return colon;
}

/* "host:port" with a bracketed IPv6 host. The host may be empty only when
 * allow_empty_host. */
static bool valid_host_port(const char *s, bool allow_empty_host) {
  if (empty(s))
    return false;
  const char *port;
  if (*s == '[') {
    const char *rb = strchr(s, ']');
    if (!rb || !valid_ipv6(s + 1, (size_t)(rb - s - 1)) || rb[1] != ':')
      return false;
    port = rb + 2;
  } else {
    const char *colon = strrchr(s, ':');
    if (!colon || memchr(s, ':', (size_t)(colon - s)))
      return false; /* no port, or an unbracketed IPv6 address */
    size_t hl = (size_t)(colon - s);
    if (hl == 0 ? !allow_empty_host : !valid_hostname(s, hl))
      return false;
    port = colon + 1;
  }
  return valid_port(port, strlen(port));
}

/* scheme://host[:port][/path][?query] with scheme http, https or h2c. */
static bool valid_server_url(const char *u) {
  const char *sep = strstr(u, "://");
  if (!sep)
    return false;
  size_t sl = (size_t)(sep - u);
  if (!((sl == 4 && strncasecmp(u, "http", 4) == 0) ||
        (sl == 5 && strncasecmp(u, "https", 5) == 0) || (sl == 3 && strncasecmp(u, "h2c", 3) == 0)))
    return false;
  for (const char *p = u; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f)
      return false;
  const char *host = sep + 3;
  size_t alen = strcspn(host, "/?#");
  const char *rest = host + alen;
  if (*rest == '#')
    return false;
  if (alen == 0)
    return false;
  const char *port = NULL;
  size_t hl;
  if (*host == '[') {
    const char *rb = memchr(host, ']', alen);
    if (!rb || !valid_ipv6(host + 1, (size_t)(rb - host - 1)))
      return false;
    hl = (size_t)(rb - host) + 1;
    if (hl < alen) {
      if (host[hl] != ':')
        return false;
      port = host + hl + 1;
    }
  } else {
    const char *colon = memchr(host, ':', alen);
    hl = colon ? (size_t)(colon - host) : alen;
    if (!valid_hostname(host, hl))
      return false;
    if (colon)
      port = colon + 1;
  }
  if (port && !valid_port(port, (size_t)(host + alen - port)))
    return false;
  return true;
}

static bool one_of(const char *v, const char *const *set, size_t n, bool icase) {
  for (size_t i = 0; i < n; i++)
    if (icase ? wh_strcaseeq(v, set[i]) : wh_streq(v, set[i]))
      return true;
  return false;
}

static int check_rule_syntax(const char *v, const char *path, wh_errlist *errs) {
  if (empty(v) || wh_streq(v, "v2") || wh_streq(v, "v3"))
    return 0;
  verr(errs, path, "ruleSyntax: invalid value \"%s\" (expected v2 or v3)", v);
  return WH_EINVAL;
}

/* ---------------------------------------------------------------------------
 * Shared */

static const wh_field domain_fields[] = {
    F(wh_domain, main, "main", WH_F_STRING, NULL, NULL, 0),
    F(wh_domain, sans, "sans", WH_F_STRLIST, NULL, NULL, 0),
};
const wh_schema wh_schema_domain = SCHEMA("domain", wh_domain, domain_fields, NULL);

static const wh_field cert_files_fields[] = {
    F(wh_cert_files, cert_file, "certFile", WH_F_STRING, NULL, NULL, 0),
    F(wh_cert_files, key_file, "keyFile", WH_F_STRING, NULL, NULL, WH_FF_SECRET),
};
static const wh_schema cert_files_schema =
    SCHEMA("certificate", wh_cert_files, cert_files_fields, NULL);

/* ---------------------------------------------------------------------------
 * HTTP routers */

static const wh_field router_tls_fields[] = {
    F(wh_router_tls, options, "options", WH_F_STRING, NULL, NULL, 0),
    F(wh_router_tls, cert_resolver, "certResolver", WH_F_STRING, NULL, NULL, 0),
    F(wh_router_tls, domains, "domains", WH_F_LIST, &wh_schema_domain, NULL, 0),
};
static const wh_schema router_tls_schema = SCHEMA("tls", wh_router_tls, router_tls_fields, NULL);

static const wh_field router_obs_fields[] = {
    FSET(wh_router_observability, access_logs, "accessLogs", WH_F_BOOL, "true", WH_FF_ALWAYS,
         access_logs_set),
    FSET(wh_router_observability, metrics, "metrics", WH_F_BOOL, "true", WH_FF_ALWAYS, metrics_set),
    FSET(wh_router_observability, tracing, "tracing", WH_F_BOOL, "true", WH_FF_ALWAYS, tracing_set),
};
static const wh_schema router_obs_schema =
    SCHEMA("observability", wh_router_observability, router_obs_fields, NULL);

static int http_router_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_http_router *r = obj;
  int rc = check_rule_syntax(r->rule_syntax, path, errs);
  if (r->priority < 0) {
    verr(errs, path, "priority: must not be negative");
    rc = WH_EINVAL;
  }
  return rc;
}

static const wh_field http_router_fields[] = {
    F(wh_http_router, entry_points, "entryPoints", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_http_router, middlewares, "middlewares", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_http_router, service, "service", WH_F_STRING, NULL, NULL, 0),
    F(wh_http_router, rule, "rule", WH_F_STRING, NULL, NULL, 0),
    F(wh_http_router, rule_syntax, "ruleSyntax", WH_F_STRING, NULL, NULL, 0),
    F(wh_http_router, priority, "priority", WH_F_INT, NULL, NULL, 0),
    F(wh_http_router, tls, "tls", WH_F_STRUCT_PTR, &router_tls_schema, NULL, WH_FF_ALLOW_EMPTY),
    F(wh_http_router, observability, "observability", WH_F_STRUCT_PTR, &router_obs_schema, NULL, 0),
};
const wh_schema wh_schema_http_router =
    SCHEMA("router", wh_http_router, http_router_fields, http_router_validate);

/* ---------------------------------------------------------------------------
 * HTTP services */

static int server_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_server *s = obj;
  int rc = 0;
  if (!empty(s->url)) {
    if (!valid_server_url(s->url)) {
      verr(errs, path,
           "url: invalid server URL \"%s\" (expected scheme://host[:port][/path] with scheme "
           "http, https or h2c)",
           s->url);
      rc = WH_EINVAL;
    }
    if (!empty(s->port) || !empty(s->scheme)) {
      verr(errs, path, "url cannot be combined with port or scheme");
      rc = WH_EINVAL;
    }
  }
  if (!empty(s->port) && !valid_port(s->port, strlen(s->port))) {
    verr(errs, path, "port: invalid port \"%s\" (expected 1-65535)", s->port);
    rc = WH_EINVAL;
  }
  static const char *const schemes[] = {"http", "https", "h2c"};
  if (!empty(s->scheme) && !one_of(s->scheme, schemes, NELEM(schemes), true)) {
    verr(errs, path, "scheme: invalid scheme \"%s\" (expected http, https or h2c)", s->scheme);
    rc = WH_EINVAL;
  }
  if (s->weight < 0) {
    verr(errs, path, "weight: must not be negative");
    rc = WH_EINVAL;
  }
  return rc;
}

static const wh_field server_fields[] = {
    F(wh_server, url, "url", WH_F_STRING, NULL, NULL, 0),
    FSET(wh_server, weight, "weight", WH_F_INT, NULL, 0, weight_set),
    F(wh_server, preserve_path, "preservePath", WH_F_BOOL, NULL, NULL, 0),
    F(wh_server, port, "port", WH_F_STRING, NULL, NULL, WH_FF_NO_ENCODE),
    F(wh_server, scheme, "scheme", WH_F_STRING, NULL, NULL, WH_FF_NO_ENCODE),
};
static const wh_schema server_schema = SCHEMA("server", wh_server, server_fields, server_validate);

static int cookie_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_cookie *c = obj;
  static const char *const ss[] = {"", "none", "lax", "strict"};
  if (c->same_site && !one_of(c->same_site, ss, NELEM(ss), true)) {
    verr(errs, path, "sameSite: invalid value \"%s\" (expected none, lax or strict)", c->same_site);
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field cookie_fields[] = {
    F(wh_cookie, name, "name", WH_F_STRING, NULL, NULL, 0),
    F(wh_cookie, secure, "secure", WH_F_BOOL, NULL, NULL, 0),
    F(wh_cookie, http_only, "httpOnly", WH_F_BOOL, NULL, NULL, 0),
    F(wh_cookie, same_site, "sameSite", WH_F_STRING, NULL, NULL, 0),
    F(wh_cookie, max_age, "maxAge", WH_F_INT, NULL, NULL, 0),
    F(wh_cookie, path, "path", WH_F_STRING, NULL, "/", 0),
    F(wh_cookie, domain, "domain", WH_F_STRING, NULL, NULL, 0),
};
static const wh_schema cookie_schema = SCHEMA("cookie", wh_cookie, cookie_fields, cookie_validate);

static const wh_field sticky_fields[] = {
    F(wh_sticky, cookie, "cookie", WH_F_STRUCT_PTR, &cookie_schema, NULL, WH_FF_ALLOW_EMPTY),
};
static const wh_schema sticky_schema = SCHEMA("sticky", wh_sticky, sticky_fields, NULL);

static int health_check_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_health_check *h = obj;
  int rc = 0;
  static const char *const modes[] = {"http", "grpc"};
  if (!empty(h->mode) && !one_of(h->mode, modes, NELEM(modes), true)) {
    verr(errs, path, "mode: invalid value \"%s\" (expected http or grpc)", h->mode);
    rc = WH_EINVAL;
  }
  if (h->status != 0 && (h->status < 100 || h->status > 599)) {
    verr(errs, path, "status: invalid HTTP status %lld", (long long)h->status);
    rc = WH_EINVAL;
  }
  if (h->port < 0 || h->port > 65535) {
    verr(errs, path, "port: invalid port %lld", (long long)h->port);
    rc = WH_EINVAL;
  }
  static const char *const schemes[] = {"", "http", "https", "h2c"};
  if (h->scheme && !one_of(h->scheme, schemes, NELEM(schemes), true)) {
    verr(errs, path, "scheme: invalid scheme \"%s\" (expected http, https or h2c)", h->scheme);
    rc = WH_EINVAL;
  }
  if (h->interval < 0 || h->timeout < 0 || h->unhealthy_interval < 0) {
    verr(errs, path, "interval, unhealthyInterval and timeout must not be negative");
    rc = WH_EINVAL;
  }
  return rc;
}

static const wh_field health_check_fields[] = {
    F(wh_health_check, scheme, "scheme", WH_F_STRING, NULL, NULL, 0),
    F(wh_health_check, mode, "mode", WH_F_STRING, NULL, "http", 0),
    F(wh_health_check, path, "path", WH_F_STRING, NULL, NULL, 0),
    F(wh_health_check, method, "method", WH_F_STRING, NULL, "GET", 0),
    F(wh_health_check, status, "status", WH_F_INT, NULL, NULL, 0),
    F(wh_health_check, port, "port", WH_F_INT, NULL, NULL, 0),
    F(wh_health_check, interval, "interval", WH_F_DURATION, NULL, "30s", 0),
    F(wh_health_check, unhealthy_interval, "unhealthyInterval", WH_F_DURATION, NULL, NULL, 0),
    F(wh_health_check, timeout, "timeout", WH_F_DURATION, NULL, "5s", 0),
    F(wh_health_check, hostname, "hostname", WH_F_STRING, NULL, NULL, 0),
    F(wh_health_check, follow_redirects, "followRedirects", WH_F_BOOL, NULL, "true", WH_FF_ALWAYS),
    F(wh_health_check, headers, "headers", WH_F_STRMAP, NULL, NULL, 0),
};
static const wh_schema health_check_schema =
    SCHEMA("healthCheck", wh_health_check, health_check_fields, health_check_validate);

/* Weighted, mirroring and failover services take Traefik's empty
 * HealthCheck struct: presence turns status propagation on, and no option is
 * accepted. */
static const wh_schema service_health_check_schema = {"healthCheck", sizeof(wh_health_check), NULL,
                                                      0, NULL};

static const wh_field passive_hc_fields[] = {
    F(wh_passive_health_check, failure_window, "failureWindow", WH_F_DURATION, NULL, "10s", 0),
    F(wh_passive_health_check, max_failed_attempts, "maxFailedAttempts", WH_F_INT, NULL, "1", 0),
};
static const wh_schema passive_hc_schema =
    SCHEMA("passiveHealthCheck", wh_passive_health_check, passive_hc_fields, NULL);

static const wh_field resp_fwd_fields[] = {
    F(wh_response_forwarding, flush_interval, "flushInterval", WH_F_DURATION, NULL, "100ms", 0),
};
static const wh_schema resp_fwd_schema =
    SCHEMA("responseForwarding", wh_response_forwarding, resp_fwd_fields, NULL);

static int lb_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_lb_service *lb = obj;
  static const char *const strategies[] = {"", "wrr", "p2c", "hrw", "leasttime"};
  if (lb->strategy && !one_of(lb->strategy, strategies, NELEM(strategies), true)) {
    verr(errs, path, "strategy: invalid value \"%s\" (expected wrr, p2c, hrw or leasttime)",
         lb->strategy);
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field lb_fields[] = {
    F(wh_lb_service, servers, "servers", WH_F_LIST, &server_schema, NULL, 0),
    F(wh_lb_service, strategy, "strategy", WH_F_STRING, NULL, NULL, 0),
    F(wh_lb_service, sticky, "sticky", WH_F_STRUCT_PTR, &sticky_schema, NULL, WH_FF_ALLOW_EMPTY),
    F(wh_lb_service, health_check, "healthCheck", WH_F_STRUCT_PTR, &health_check_schema, NULL, 0),
    F(wh_lb_service, passive_health_check, "passiveHealthCheck", WH_F_STRUCT_PTR,
      &passive_hc_schema, NULL, 0),
    F(wh_lb_service, pass_host_header, "passHostHeader", WH_F_BOOL, NULL, "true", WH_FF_ALWAYS),
    F(wh_lb_service, response_forwarding, "responseForwarding", WH_F_STRUCT_PTR, &resp_fwd_schema,
      NULL, 0),
    F(wh_lb_service, servers_transport, "serversTransport", WH_F_STRING, NULL, NULL, 0),
};
static const wh_schema lb_schema = SCHEMA("loadBalancer", wh_lb_service, lb_fields, lb_validate);

static int weighted_ref_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_weighted_ref *w = obj;
  int rc = 0;
  if (empty(w->name)) {
    verr(errs, path, "name: a service name is required");
    rc = WH_EINVAL;
  }
  if (w->weight < 0) {
    verr(errs, path, "weight: must not be negative");
    rc = WH_EINVAL;
  }
  return rc;
}

static const wh_field weighted_ref_fields[] = {
    F(wh_weighted_ref, name, "name", WH_F_STRING, NULL, NULL, 0),
    FSET(wh_weighted_ref, weight, "weight", WH_F_INT, "1", 0, weight_set),
};
static const wh_schema weighted_ref_schema =
    SCHEMA("service", wh_weighted_ref, weighted_ref_fields, weighted_ref_validate);

static const wh_field weighted_fields[] = {
    F(wh_weighted_service, services, "services", WH_F_LIST, &weighted_ref_schema, NULL, 0),
    F(wh_weighted_service, sticky, "sticky", WH_F_STRUCT_PTR, &sticky_schema, NULL,
      WH_FF_ALLOW_EMPTY),
    F(wh_weighted_service, health_check, "healthCheck", WH_F_STRUCT_PTR,
      &service_health_check_schema, NULL, WH_FF_ALLOW_EMPTY),
};
static const wh_schema weighted_schema =
    SCHEMA("weighted", wh_weighted_service, weighted_fields, NULL);

static int mirror_ref_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mirror_ref *m = obj;
  int rc = 0;
  if (empty(m->name)) {
    verr(errs, path, "name: a service name is required");
    rc = WH_EINVAL;
  }
  if (m->percent < 0 || m->percent > 100) {
    verr(errs, path, "percent: must be between 0 and 100");
    rc = WH_EINVAL;
  }
  return rc;
}

static const wh_field mirror_ref_fields[] = {
    F(wh_mirror_ref, name, "name", WH_F_STRING, NULL, NULL, 0),
    F(wh_mirror_ref, percent, "percent", WH_F_INT, NULL, NULL, 0),
};
static const wh_schema mirror_ref_schema =
    SCHEMA("mirror", wh_mirror_ref, mirror_ref_fields, mirror_ref_validate);

static int mirroring_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_mirroring_service *m = obj;
  if (empty(m->service)) {
    verr(errs, path, "service: the mirrored service is required");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field mirroring_fields[] = {
    F(wh_mirroring_service, service, "service", WH_F_STRING, NULL, NULL, 0),
    F(wh_mirroring_service, mirror_body, "mirrorBody", WH_F_BOOL, NULL, "true", WH_FF_ALWAYS),
    F(wh_mirroring_service, max_body_size, "maxBodySize", WH_F_INT, NULL, "-1", 0),
    F(wh_mirroring_service, mirrors, "mirrors", WH_F_LIST, &mirror_ref_schema, NULL, 0),
    F(wh_mirroring_service, health_check, "healthCheck", WH_F_STRUCT_PTR,
      &service_health_check_schema, NULL, WH_FF_ALLOW_EMPTY),
};
static const wh_schema mirroring_schema =
    SCHEMA("mirroring", wh_mirroring_service, mirroring_fields, mirroring_validate);

static int failover_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_failover_service *f = obj;
  if (empty(f->service) || empty(f->fallback)) {
    verr(errs, path, "failover needs both service and fallback");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field failover_fields[] = {
    F(wh_failover_service, service, "service", WH_F_STRING, NULL, NULL, 0),
    F(wh_failover_service, fallback, "fallback", WH_F_STRING, NULL, NULL, 0),
    F(wh_failover_service, health_check, "healthCheck", WH_F_STRUCT_PTR,
      &service_health_check_schema, NULL, WH_FF_ALLOW_EMPTY),
};
static const wh_schema failover_schema =
    SCHEMA("failover", wh_failover_service, failover_fields, failover_validate);

static int http_service_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_http_service *s = obj;
  int n = !!s->load_balancer + !!s->weighted + !!s->mirroring + !!s->failover;
  if (n != 1) {
    verr(errs, path,
         "service must define exactly one of loadBalancer, weighted, mirroring, failover");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field http_service_fields[] = {
    F(wh_http_service, load_balancer, "loadBalancer", WH_F_STRUCT_PTR, &lb_schema, NULL, 0),
    F(wh_http_service, weighted, "weighted", WH_F_STRUCT_PTR, &weighted_schema, NULL, 0),
    F(wh_http_service, mirroring, "mirroring", WH_F_STRUCT_PTR, &mirroring_schema, NULL, 0),
    F(wh_http_service, failover, "failover", WH_F_STRUCT_PTR, &failover_schema, NULL, 0),
};
const wh_schema wh_schema_http_service =
    SCHEMA("service", wh_http_service, http_service_fields, http_service_validate);

/* ---------------------------------------------------------------------------
 * HTTP servers transports */

static int fwd_timeouts_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_forwarding_timeouts *t = obj;
  if (t->dial_timeout < 0 || t->response_header_timeout < 0 || t->idle_conn_timeout < 0 ||
      t->read_idle_timeout < 0 || t->ping_timeout < 0) {
    verr(errs, path, "timeouts must not be negative");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field fwd_timeouts_fields[] = {
    F(wh_forwarding_timeouts, dial_timeout, "dialTimeout", WH_F_DURATION, NULL, "30s", 0),
    F(wh_forwarding_timeouts, response_header_timeout, "responseHeaderTimeout", WH_F_DURATION, NULL,
      NULL, 0),
    F(wh_forwarding_timeouts, idle_conn_timeout, "idleConnTimeout", WH_F_DURATION, NULL, "90s", 0),
    F(wh_forwarding_timeouts, read_idle_timeout, "readIdleTimeout", WH_F_DURATION, NULL, NULL, 0),
    F(wh_forwarding_timeouts, ping_timeout, "pingTimeout", WH_F_DURATION, NULL, "15s", 0),
};
const wh_schema wh_schema_forwarding_timeouts = SCHEMA("forwardingTimeouts", wh_forwarding_timeouts,
                                                       fwd_timeouts_fields, fwd_timeouts_validate);

static const wh_field spiffe_fields[] = {
    F(wh_spiffe, ids, "ids", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_spiffe, trust_domain, "trustDomain", WH_F_STRING, NULL, NULL, 0),
};
static const wh_schema spiffe_schema = SCHEMA("spiffe", wh_spiffe, spiffe_fields, NULL);

static int servers_transport_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_servers_transport *t = obj;
  if (t->max_idle_conns_per_host < 0) {
    verr(errs, path, "maxIdleConnsPerHost: must not be negative");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field servers_transport_fields[] = {
    F(wh_servers_transport, server_name, "serverName", WH_F_STRING, NULL, NULL, 0),
    F(wh_servers_transport, insecure_skip_verify, "insecureSkipVerify", WH_F_BOOL, NULL, NULL, 0),
    F(wh_servers_transport, root_cas, "rootCAs", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_servers_transport, certificates, "certificates", WH_F_LIST, &cert_files_schema, NULL, 0),
    F(wh_servers_transport, max_idle_conns_per_host, "maxIdleConnsPerHost", WH_F_INT, NULL, NULL,
      0),
    F(wh_servers_transport, forwarding_timeouts, "forwardingTimeouts", WH_F_STRUCT_PTR,
      &wh_schema_forwarding_timeouts, NULL, 0),
    F(wh_servers_transport, disable_http2, "disableHTTP2", WH_F_BOOL, NULL, NULL, 0),
    F(wh_servers_transport, peer_cert_uri, "peerCertURI", WH_F_STRING, NULL, NULL, 0),
    F(wh_servers_transport, spiffe, "spiffe", WH_F_STRUCT_PTR, &spiffe_schema, NULL,
      WH_FF_ALLOW_EMPTY),
};
const wh_schema wh_schema_servers_transport = SCHEMA(
    "serversTransport", wh_servers_transport, servers_transport_fields, servers_transport_validate);

/* ---------------------------------------------------------------------------
 * TCP */

static const wh_field tcp_router_tls_fields[] = {
    F(wh_tcp_router_tls, passthrough, "passthrough", WH_F_BOOL, NULL, NULL, 0),
    F(wh_tcp_router_tls, options, "options", WH_F_STRING, NULL, NULL, 0),
    F(wh_tcp_router_tls, cert_resolver, "certResolver", WH_F_STRING, NULL, NULL, 0),
    F(wh_tcp_router_tls, domains, "domains", WH_F_LIST, &wh_schema_domain, NULL, 0),
};
static const wh_schema tcp_router_tls_schema =
    SCHEMA("tls", wh_tcp_router_tls, tcp_router_tls_fields, NULL);

static int tcp_router_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_tcp_router *r = obj;
  int rc = check_rule_syntax(r->rule_syntax, path, errs);
  if (r->priority < 0) {
    verr(errs, path, "priority: must not be negative");
    rc = WH_EINVAL;
  }
  return rc;
}

static const wh_field tcp_router_fields[] = {
    F(wh_tcp_router, entry_points, "entryPoints", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_tcp_router, middlewares, "middlewares", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_tcp_router, service, "service", WH_F_STRING, NULL, NULL, 0),
    F(wh_tcp_router, rule, "rule", WH_F_STRING, NULL, NULL, 0),
    F(wh_tcp_router, rule_syntax, "ruleSyntax", WH_F_STRING, NULL, NULL, 0),
    F(wh_tcp_router, priority, "priority", WH_F_INT, NULL, NULL, 0),
    F(wh_tcp_router, tls, "tls", WH_F_STRUCT_PTR, &tcp_router_tls_schema, NULL, WH_FF_ALLOW_EMPTY),
};
const wh_schema wh_schema_tcp_router =
    SCHEMA("router", wh_tcp_router, tcp_router_fields, tcp_router_validate);

/* TCP and UDP servers: "address" from files, "port" from labels (the docker
 * provider fills address in), so neither is required here. */
static int check_server_address(const char *address, const char *port, const char *path,
                                wh_errlist *errs) {
  int rc = 0;
  if (!empty(address) && !valid_host_port(address, false)) {
    verr(errs, path, "address: invalid address \"%s\" (expected host:port, IPv6 in brackets)",
         address);
    rc = WH_EINVAL;
  }
  if (!empty(port) && !valid_port(port, strlen(port))) {
    verr(errs, path, "port: invalid port \"%s\" (expected 1-65535)", port);
    rc = WH_EINVAL;
  }
  return rc;
}

static int tcp_server_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_tcp_server *s = obj;
  return check_server_address(s->address, s->port, path, errs);
}

static const wh_field tcp_server_fields[] = {
    F(wh_tcp_server, address, "address", WH_F_STRING, NULL, NULL, 0),
    F(wh_tcp_server, port, "port", WH_F_STRING, NULL, NULL, WH_FF_NO_ENCODE),
    F(wh_tcp_server, tls, "tls", WH_F_BOOL, NULL, NULL, 0),
};
static const wh_schema tcp_server_schema =
    SCHEMA("server", wh_tcp_server, tcp_server_fields, tcp_server_validate);

static int proxy_protocol_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_proxy_protocol *p = obj;
  if (p->version != 1 && p->version != 2) {
    verr(errs, path, "version: must be 1 or 2");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field proxy_protocol_fields[] = {
    F(wh_proxy_protocol, version, "version", WH_F_INT, NULL, "2", 0),
};
static const wh_schema proxy_protocol_schema =
    SCHEMA("proxyProtocol", wh_proxy_protocol, proxy_protocol_fields, proxy_protocol_validate);

static const wh_field tcp_lb_fields[] = {
    F(wh_tcp_lb_service, servers, "servers", WH_F_LIST, &tcp_server_schema, NULL, 0),
    F(wh_tcp_lb_service, proxy_protocol, "proxyProtocol", WH_F_STRUCT_PTR, &proxy_protocol_schema,
      NULL, WH_FF_DEPRECATED),
    FSET(wh_tcp_lb_service, termination_delay, "terminationDelay", WH_F_DURATION, NULL,
         WH_FF_DEPRECATED, termination_delay_set),
    F(wh_tcp_lb_service, servers_transport, "serversTransport", WH_F_STRING, NULL, NULL, 0),
};
static const wh_schema tcp_lb_schema =
    SCHEMA("loadBalancer", wh_tcp_lb_service, tcp_lb_fields, NULL);

static const wh_field tcp_weighted_fields[] = {
    F(wh_tcp_weighted_service, services, "services", WH_F_LIST, &weighted_ref_schema, NULL, 0),
};
static const wh_schema tcp_weighted_schema =
    SCHEMA("weighted", wh_tcp_weighted_service, tcp_weighted_fields, NULL);

static int tcp_service_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_tcp_service *s = obj;
  if (!!s->load_balancer + !!s->weighted != 1) {
    verr(errs, path, "service must define exactly one of loadBalancer, weighted");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field tcp_service_fields[] = {
    F(wh_tcp_service, load_balancer, "loadBalancer", WH_F_STRUCT_PTR, &tcp_lb_schema, NULL, 0),
    F(wh_tcp_service, weighted, "weighted", WH_F_STRUCT_PTR, &tcp_weighted_schema, NULL, 0),
};
const wh_schema wh_schema_tcp_service =
    SCHEMA("service", wh_tcp_service, tcp_service_fields, tcp_service_validate);

static const wh_field tcp_tls_client_fields[] = {
    F(wh_tcp_tls_client, server_name, "serverName", WH_F_STRING, NULL, NULL, 0),
    F(wh_tcp_tls_client, insecure_skip_verify, "insecureSkipVerify", WH_F_BOOL, NULL, NULL, 0),
    F(wh_tcp_tls_client, root_cas, "rootCAs", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_tcp_tls_client, certificates, "certificates", WH_F_LIST, &cert_files_schema, NULL, 0),
    F(wh_tcp_tls_client, peer_cert_uri, "peerCertURI", WH_F_STRING, NULL, NULL, 0),
    F(wh_tcp_tls_client, spiffe, "spiffe", WH_F_STRUCT_PTR, &spiffe_schema, NULL,
      WH_FF_ALLOW_EMPTY),
};
static const wh_schema tcp_tls_client_schema =
    SCHEMA("tls", wh_tcp_tls_client, tcp_tls_client_fields, NULL);

static int tcp_transport_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_tcp_servers_transport *t = obj;
  if (t->dial_keep_alive < 0 || t->dial_timeout < 0 || t->termination_delay < 0) {
    verr(errs, path, "timeouts must not be negative");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field tcp_transport_fields[] = {
    F(wh_tcp_servers_transport, dial_keep_alive, "dialKeepAlive", WH_F_DURATION, NULL, "15s", 0),
    F(wh_tcp_servers_transport, dial_timeout, "dialTimeout", WH_F_DURATION, NULL, "30s", 0),
    F(wh_tcp_servers_transport, termination_delay, "terminationDelay", WH_F_DURATION, NULL, "100ms",
      0),
    F(wh_tcp_servers_transport, tls, "tls", WH_F_STRUCT_PTR, &tcp_tls_client_schema, NULL, 0),
};
const wh_schema wh_schema_tcp_servers_transport = SCHEMA(
    "serversTransport", wh_tcp_servers_transport, tcp_transport_fields, tcp_transport_validate);

/* ---------------------------------------------------------------------------
 * UDP */

static const wh_field udp_router_fields[] = {
    F(wh_udp_router, entry_points, "entryPoints", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_udp_router, service, "service", WH_F_STRING, NULL, NULL, 0),
};
const wh_schema wh_schema_udp_router = SCHEMA("router", wh_udp_router, udp_router_fields, NULL);

static int udp_server_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_udp_server *s = obj;
  return check_server_address(s->address, s->port, path, errs);
}

static const wh_field udp_server_fields[] = {
    F(wh_udp_server, address, "address", WH_F_STRING, NULL, NULL, 0),
    F(wh_udp_server, port, "port", WH_F_STRING, NULL, NULL, WH_FF_NO_ENCODE),
};
static const wh_schema udp_server_schema =
    SCHEMA("server", wh_udp_server, udp_server_fields, udp_server_validate);

static const wh_field udp_lb_fields[] = {
    F(wh_udp_lb_service, servers, "servers", WH_F_LIST, &udp_server_schema, NULL, 0),
};
static const wh_schema udp_lb_schema =
    SCHEMA("loadBalancer", wh_udp_lb_service, udp_lb_fields, NULL);

static int udp_service_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_udp_service *s = obj;
  if (!!s->load_balancer + !!s->weighted != 1) {
    verr(errs, path, "service must define exactly one of loadBalancer, weighted");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field udp_service_fields[] = {
    F(wh_udp_service, load_balancer, "loadBalancer", WH_F_STRUCT_PTR, &udp_lb_schema, NULL, 0),
    F(wh_udp_service, weighted, "weighted", WH_F_STRUCT_PTR, &tcp_weighted_schema, NULL, 0),
};
const wh_schema wh_schema_udp_service =
    SCHEMA("service", wh_udp_service, udp_service_fields, udp_service_validate);

/* ---------------------------------------------------------------------------
 * TLS */

static const wh_field tls_certificate_fields[] = {
    F(wh_tls_certificate, cert_file, "certFile", WH_F_STRING, NULL, NULL, 0),
    F(wh_tls_certificate, key_file, "keyFile", WH_F_STRING, NULL, NULL, WH_FF_SECRET),
    F(wh_tls_certificate, stores, "stores", WH_F_STRLIST, NULL, NULL, 0),
};

static int tls_certificate_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_tls_certificate *c = obj;
  if (empty(c->cert_file) || empty(c->key_file)) {
    verr(errs, path, "certFile and keyFile are both required");
    return WH_EINVAL;
  }
  return 0;
}

const wh_schema wh_schema_tls_certificate =
    SCHEMA("certificate", wh_tls_certificate, tls_certificate_fields, tls_certificate_validate);

static const wh_field client_auth_fields[] = {
    F(wh_client_auth, ca_files, "caFiles", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_client_auth, client_auth_type, "clientAuthType", WH_F_STRING, NULL, NULL, 0),
};
static const wh_schema client_auth_schema =
    SCHEMA("clientAuth", wh_client_auth, client_auth_fields, NULL);

static const char *const tls_versions[] = {"VersionTLS10", "VersionTLS11", "VersionTLS12",
                                           "VersionTLS13"};

static int tls_options_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_tls_options *o = obj;
  int rc = 0;
  if (!empty(o->min_version) && !one_of(o->min_version, tls_versions, NELEM(tls_versions), false)) {
    verr(errs, path, "minVersion: invalid value \"%s\" (expected VersionTLS10 to VersionTLS13)",
         o->min_version);
    rc = WH_EINVAL;
  }
  if (!empty(o->max_version) && !one_of(o->max_version, tls_versions, NELEM(tls_versions), false)) {
    verr(errs, path, "maxVersion: invalid value \"%s\" (expected VersionTLS10 to VersionTLS13)",
         o->max_version);
    rc = WH_EINVAL;
  }
  if (!rc && !empty(o->min_version) && !empty(o->max_version) &&
      strcmp(o->min_version, o->max_version) > 0) {
    verr(errs, path, "minVersion %s is above maxVersion %s", o->min_version, o->max_version);
    rc = WH_EINVAL;
  }
  static const char *const auth_types[] = {"NoClientCert", "RequestClientCert",
                                           "RequireAnyClientCert", "VerifyClientCertIfGiven",
                                           "RequireAndVerifyClientCert"};
  const char *cat = o->client_auth.client_auth_type;
  if (!empty(cat) && !one_of(cat, auth_types, NELEM(auth_types), false)) {
    verr(errs, path,
         "clientAuth.clientAuthType: invalid value \"%s\" (expected NoClientCert, "
         "RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or "
         "RequireAndVerifyClientCert)",
         cat);
    rc = WH_EINVAL;
  }
  return rc;
}

static const wh_field tls_options_fields[] = {
    F(wh_tls_options, min_version, "minVersion", WH_F_STRING, NULL, NULL, 0),
    F(wh_tls_options, max_version, "maxVersion", WH_F_STRING, NULL, NULL, 0),
    F(wh_tls_options, cipher_suites, "cipherSuites", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_tls_options, curve_preferences, "curvePreferences", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_tls_options, client_auth, "clientAuth", WH_F_STRUCT, &client_auth_schema, NULL, 0),
    F(wh_tls_options, sni_strict, "sniStrict", WH_F_BOOL, NULL, NULL, 0),
    F(wh_tls_options, alpn_protocols, "alpnProtocols", WH_F_STRLIST, NULL, "h2,http/1.1,acme-tls/1",
      0),
    F(wh_tls_options, disable_session_tickets, "disableSessionTickets", WH_F_BOOL, NULL, NULL, 0),
    F(wh_tls_options, prefer_server_cipher_suites, "preferServerCipherSuites", WH_F_BOOL, NULL,
      NULL, WH_FF_DEPRECATED),
};
const wh_schema wh_schema_tls_options =
    SCHEMA("tlsOptions", wh_tls_options, tls_options_fields, tls_options_validate);

static const wh_field generated_cert_fields[] = {
    F(wh_generated_cert, resolver, "resolver", WH_F_STRING, NULL, NULL, 0),
    F(wh_generated_cert, domain, "domain", WH_F_STRUCT_PTR, &wh_schema_domain, NULL, 0),
};
static const wh_schema generated_cert_schema =
    SCHEMA("defaultGeneratedCert", wh_generated_cert, generated_cert_fields, NULL);

static const wh_field tls_store_fields[] = {
    F(wh_tls_store, default_certificate, "defaultCertificate", WH_F_STRUCT_PTR, &cert_files_schema,
      NULL, 0),
    F(wh_tls_store, default_generated_cert, "defaultGeneratedCert", WH_F_STRUCT_PTR,
      &generated_cert_schema, NULL, 0),
};
const wh_schema wh_schema_tls_store = SCHEMA("tlsStore", wh_tls_store, tls_store_fields, NULL);

/* ---------------------------------------------------------------------------
 * Middlewares: one STRUCT_PTR field per registered type, built at start-up. */

typedef struct mw_table {
  wh_field fields[WH_MW_MAX_TYPES];
  const wh_mw_type *types[WH_MW_MAX_TYPES];
} mw_table;

static mw_table s_http_mw, s_tcp_mw;

static int mw_count_set(const wh_schema *s, const wh_middleware *m) {
  int n = 0;
  for (size_t i = 0; i < s->nfields && i < WH_MW_MAX_TYPES; i++)
    n += m->cfg[i] != NULL;
  return n;
}

static int mw_validate_common(const wh_schema *s, void *obj, const char *path, wh_errlist *errs) {
  int n = mw_count_set(s, obj);
  if (n == 0) {
    verr(errs, path, "no middleware type given");
    return WH_EINVAL;
  }
  if (n > 1) {
    verr(errs, path, "middleware must define exactly one type");
    return WH_EINVAL;
  }
  return 0;
}

static int http_mw_validate(void *obj, const char *path, wh_errlist *errs) {
  return mw_validate_common(&wh_schema_http_middleware, obj, path, errs);
}

static int tcp_mw_validate(void *obj, const char *path, wh_errlist *errs) {
  return mw_validate_common(&wh_schema_tcp_middleware, obj, path, errs);
}

wh_schema wh_schema_http_middleware = {"middleware", sizeof(wh_middleware), s_http_mw.fields, 0,
                                       http_mw_validate};
wh_schema wh_schema_tcp_middleware = {"middleware", sizeof(wh_middleware), s_tcp_mw.fields, 0,
                                      tcp_mw_validate};

static int mw_add(wh_schema *s, mw_table *t, const wh_mw_type *type) {
  if (s->nfields >= WH_MW_MAX_TYPES)
    return WH_EINVAL;
  for (size_t i = 0; i < s->nfields; i++)
    if (strcasecmp(t->fields[i].name, type->name) == 0)
      return WH_EINVAL;
  size_t i = s->nfields;
  unsigned flags = type->field_flags | (type->alias_of ? WH_FF_DEPRECATED : 0u);
  t->fields[i] = (wh_field){type->name,
                            WH_F_STRUCT_PTR,
                            offsetof(wh_middleware, cfg) + i * sizeof(void *),
                            type->schema,
                            NULL,
                            flags,
                            0};
  t->types[i] = type;
  s->nfields = i + 1;
  return 0;
}

int wh_dynamic_register_middleware_types(const wh_mw_type *const *types, size_t n) {
  wh_schema_http_middleware.nfields = 0;
  wh_schema_tcp_middleware.nfields = 0;
  memset(&s_http_mw, 0, sizeof s_http_mw);
  memset(&s_tcp_mw, 0, sizeof s_tcp_mw);
  for (size_t i = 0; i < n; i++) {
    const wh_mw_type *t = types[i];
    if (!t || empty(t->name) || !t->schema || !(t->proto & (WH_MW_HTTP | WH_MW_TCP)))
      goto fail;
    if ((t->proto & WH_MW_HTTP) && mw_add(&wh_schema_http_middleware, &s_http_mw, t))
      goto fail;
    if ((t->proto & WH_MW_TCP) && mw_add(&wh_schema_tcp_middleware, &s_tcp_mw, t))
      goto fail;
  }
  return 0;
fail:
  wh_schema_http_middleware.nfields = 0;
  wh_schema_tcp_middleware.nfields = 0;
  return WH_EINVAL;
}

const wh_mw_type *wh_middleware_type(const wh_middleware *m, wh_mw_proto proto, void **cfg,
                                     size_t *count) {
  const wh_schema *s = proto == WH_MW_TCP ? &wh_schema_tcp_middleware : &wh_schema_http_middleware;
  const mw_table *t = proto == WH_MW_TCP ? &s_tcp_mw : &s_http_mw;
  size_t n = 0, idx = 0;
  for (size_t i = 0; m && i < s->nfields; i++) {
    if (m->cfg[i]) {
      if (!n)
        idx = i;
      n++;
    }
  }
  if (count)
    *count = n;
  if (cfg)
    *cfg = n == 1 ? m->cfg[idx] : NULL;
  if (n != 1)
    return NULL;
  const wh_mw_type *type = t->types[idx];
  /* An alias shares its replacement's options schema: hand out the
   * replacement so that callers deal with one type. */
  if (type->alias_of) {
    for (size_t i = 0; i < s->nfields; i++)
      if (!t->types[i]->alias_of && wh_streq(t->types[i]->name, type->alias_of))
        return t->types[i];
  }
  return type;
}

/* ---------------------------------------------------------------------------
 * Sections and the top level */

static const wh_field http_config_fields[] = {
    F(wh_http_config, routers, "routers", WH_F_MAP, &wh_schema_http_router, NULL, 0),
    F(wh_http_config, services, "services", WH_F_MAP, &wh_schema_http_service, NULL, 0),
    F(wh_http_config, middlewares, "middlewares", WH_F_MAP, &wh_schema_http_middleware, NULL, 0),
    F(wh_http_config, servers_transports, "serversTransports", WH_F_MAP,
      &wh_schema_servers_transport, NULL, 0),
};
static const wh_schema http_config_schema =
    SCHEMA("http", wh_http_config, http_config_fields, NULL);

static const wh_field tcp_config_fields[] = {
    F(wh_tcp_config, routers, "routers", WH_F_MAP, &wh_schema_tcp_router, NULL, 0),
    F(wh_tcp_config, services, "services", WH_F_MAP, &wh_schema_tcp_service, NULL, 0),
    F(wh_tcp_config, middlewares, "middlewares", WH_F_MAP, &wh_schema_tcp_middleware, NULL, 0),
    F(wh_tcp_config, servers_transports, "serversTransports", WH_F_MAP,
      &wh_schema_tcp_servers_transport, NULL, 0),
};
static const wh_schema tcp_config_schema = SCHEMA("tcp", wh_tcp_config, tcp_config_fields, NULL);

static const wh_field udp_config_fields[] = {
    F(wh_udp_config, routers, "routers", WH_F_MAP, &wh_schema_udp_router, NULL, 0),
    F(wh_udp_config, services, "services", WH_F_MAP, &wh_schema_udp_service, NULL, 0),
};
static const wh_schema udp_config_schema = SCHEMA("udp", wh_udp_config, udp_config_fields, NULL);

static const wh_field tls_config_fields[] = {
    F(wh_tls_config, certificates, "certificates", WH_F_LIST, &wh_schema_tls_certificate, NULL, 0),
    F(wh_tls_config, options, "options", WH_F_MAP, &wh_schema_tls_options, NULL, 0),
    F(wh_tls_config, stores, "stores", WH_F_MAP, &wh_schema_tls_store, NULL, 0),
};
const wh_schema wh_schema_tls_config = SCHEMA("tls", wh_tls_config, tls_config_fields, NULL);

static const wh_field dyn_config_fields[] = {
    F(wh_dyn_config, http, "http", WH_F_STRUCT_PTR, &http_config_schema, NULL, 0),
    F(wh_dyn_config, tcp, "tcp", WH_F_STRUCT_PTR, &tcp_config_schema, NULL, 0),
    F(wh_dyn_config, udp, "udp", WH_F_STRUCT_PTR, &udp_config_schema, NULL, 0),
    F(wh_dyn_config, tls, "tls", WH_F_STRUCT_PTR, &wh_schema_tls_config, NULL, 0),
};
const wh_schema wh_schema_dyn_config =
    SCHEMA("configuration", wh_dyn_config, dyn_config_fields, NULL);

/* ---------------------------------------------------------------------------
 * Element-by-element decoding */

typedef struct dyn_dec {
  wh_dyn_config *c;
  const char *source;
  wh_errlist *errs;
  bool oom;
} dyn_dec;

/* An error outside any element. */
__attribute__((format(printf, 4, 5))) static void top_err(dyn_dec *d, const char *path,
                                                          const wh_node *n, const char *fmt, ...) {
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  const char *src = d->source && *d->source ? d->source : NULL;
  char line[32] = "";
  if (n && n->line > 0)
    snprintf(line, sizeof line, " (line %d)", n->line);
  wh_errlist_add(d->errs, "%s%s%s: %s%s", src ? src : "", src ? ": " : "", path,
                 msg ? msg : "out of memory", line);
  free(msg);
}

static void unknown_key(dyn_dec *d, const wh_schema *s, const char *path, const wh_node *n) {
  const char *names[8];
  size_t k = s->nfields < NELEM(names) ? s->nfields : NELEM(names);
  for (size_t i = 0; i < k; i++)
    names[i] = s->fields[i].name;
  const char *sugg = wh_str_suggest(n->key ? n->key : "", names, k);
  if (sugg)
    top_err(d, path, n, "unknown key (did you mean \"%s\"?)", sugg);
  else
    top_err(d, path, n, "unknown key");
}

static const wh_field *find_field(const wh_schema *s, const char *key) {
  for (size_t i = 0; key && i < s->nfields; i++)
    if (strcasecmp(s->fields[i].name, key) == 0)
      return &s->fields[i];
  return NULL;
}

static bool is_empty_scalar(const wh_node *n) {
  return n->kind == WH_NODE_SCALAR && empty(n->value);
}

static char *join_path(const char *a, const char *b) {
  return *a ? wh_asprintf("%s.%s", a, b ? b : "") : wh_strdup(b ? b : "");
}

/* Records an element's errors (taking them over) unless there are none. */
static void add_elem_errors(dyn_dec *d, const char *section, const char *name, wh_errlist *el) {
  if (el->n == 0) {
    wh_errlist_free(el);
    return;
  }
  wh_elem_error *ne =
      realloc(d->c->elem_errors, (d->c->n_elem_errors + 1) * sizeof *d->c->elem_errors);
  if (!ne) {
    d->oom = true;
    wh_errlist_free(el);
    return;
  }
  d->c->elem_errors = ne;
  wh_elem_error *e = &ne[d->c->n_elem_errors];
  e->section = wh_strdup(section);
  e->name = wh_strdup(name);
  e->errs = *el;
  if (!e->section || !e->name) {
    free(e->section);
    free(e->name);
    wh_errlist_free(el);
    d->oom = true;
    return;
  }
  d->c->n_elem_errors++;
}

/* Decodes one element's node into obj (initialised), errors into el. */
static void decode_elem(const wh_schema *s, const wh_node *n, void *obj, wh_errlist *el) {
  if (n->kind == WH_NODE_LIST || (n->kind == WH_NODE_SCALAR && !empty(n->value))) {
    if (n->line > 0)
      wh_errlist_add(el, "expected a mapping (line %d)", n->line);
    else
      wh_errlist_add(el, "expected a mapping");
    return;
  }
  wh_schema_decode(s, n, obj, "", el);
}

typedef struct key_item {
  const wh_node *n;
  size_t pos;
} key_item;

static int key_item_cmp(const void *a, const void *b) {
  const key_item *x = a, *y = b;
  int c = strcasecmp(x->n->key, y->n->key);
  if (!c)
    c = strcmp(x->n->key, y->n->key);
  if (!c)
    c = x->pos < y->pos ? -1 : x->pos > y->pos;
  return c;
}

/* A map of named elements. Names differing only in case are one element
 * named after the first spelling in sorted order, as the schema engine (and
 * Traefik's label decoder) does. */
static void decode_elem_map(dyn_dec *d, const wh_field *f, const wh_node *node, wh_map *m,
                            const char *section) {
  if (node->kind != WH_NODE_MAP) {
    if (!is_empty_scalar(node))
      top_err(d, section, node, "expected a mapping");
    return;
  }
  key_item *it = node->n ? calloc(node->n, sizeof *it) : NULL;
  if (node->n && !it) {
    d->oom = true;
    return;
  }
  size_t nit = 0;
  for (size_t i = 0; i < node->n; i++) {
    const wh_node *c = node->children[i];
    const char *k = c->key ? c->key : "";
    if (!*k) {
      top_err(d, section, c, "empty name");
      continue;
    }
    if (strchr(k, '@')) {
      char *p = join_path(section, k);
      top_err(d, p ? p : section, c, "\"@\" is not allowed in names");
      free(p);
      continue;
    }
    it[nit].n = c;
    it[nit].pos = i;
    nit++;
  }
  qsort(it, nit, sizeof *it, key_item_cmp);
  for (size_t i = 0; i < nit && !d->oom;) {
    const char *name = it[i].n->key;
    void *obj = wh_map_get(m, name);
    bool fresh = !obj;
    if (fresh && !(obj = wh_schema_new(f->sub))) {
      d->oom = true;
      break;
    }
    wh_errlist el;
    wh_errlist_init(&el);
    size_t j = i;
    for (; j < nit && strcasecmp(it[j].n->key, name) == 0; j++)
      decode_elem(f->sub, it[j].n, obj, &el);
    if (fresh && wh_map_put(m, name, obj, NULL)) {
      wh_schema_destroy(f->sub, obj);
      wh_errlist_free(&el);
      d->oom = true;
      break;
    }
    add_elem_errors(d, section, name, &el);
    i = j;
  }
  free(it);
}

static int index_cmp(const void *a, const void *b) {
  const key_item *x = a, *y = b;
  return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* A list of anonymous elements (tls.certificates): each is an element named
 * by its index. An index-keyed map (flags, env) is accepted as a list. */
static void decode_elem_list(dyn_dec *d, const wh_field *f, const wh_node *node, wh_list *l,
                             const char *section) {
  if (node->kind == WH_NODE_SCALAR) {
    if (!empty(node->value))
      top_err(d, section, node, "expected a list");
    return;
  }
  key_item *it = node->n ? calloc(node->n, sizeof *it) : NULL;
  if (node->n && !it) {
    d->oom = true;
    return;
  }
  for (size_t i = 0; i < node->n; i++) {
    it[i].n = node->children[i];
    it[i].pos = i;
    if (node->kind == WH_NODE_MAP) {
      int64_t v;
      if (wh_parse_int(node->children[i]->key, &v) || v < 0) {
        top_err(d, section, node, "expected a list");
        free(it);
        return;
      }
      it[i].pos = (size_t)v;
    }
  }
  if (node->kind == WH_NODE_MAP)
    qsort(it, node->n, sizeof *it, index_cmp);
  size_t sz = f->sub->size;
  char *items = realloc(l->items, (l->n + node->n) * sz + 1);
  if (!items) {
    free(it);
    d->oom = true;
    return;
  }
  l->items = items;
  for (size_t i = 0; i < node->n; i++) {
    void *obj = items + l->n * sz;
    if (wh_schema_init(f->sub, obj)) {
      wh_schema_free(f->sub, obj);
      d->oom = true;
      break;
    }
    l->n++;
    wh_errlist el;
    wh_errlist_init(&el);
    decode_elem(f->sub, it[i].n, obj, &el);
    char name[32];
    snprintf(name, sizeof name, "%zu", l->n - 1);
    add_elem_errors(d, section, name, &el);
  }
  free(it);
}

static void decode_section(dyn_dec *d, const wh_schema *s, const wh_node *node, void *obj,
                           const char *top) {
  if (node->kind != WH_NODE_MAP) {
    if (!is_empty_scalar(node))
      top_err(d, top, node, "expected a mapping");
    return;
  }
  for (size_t i = 0; i < node->n && !d->oom; i++) {
    const wh_node *c = node->children[i];
    char *path = join_path(top, c->key);
    if (!path) {
      d->oom = true;
      break;
    }
    const wh_field *f = find_field(s, c->key);
    if (!f) {
      unknown_key(d, s, path, c);
    } else {
      /* Canonical spelling so that element sections read the same
       * whatever case the source used. */
      char *section = join_path(top, f->name);
      if (!section)
        d->oom = true;
      else if (f->type == WH_F_MAP)
        decode_elem_map(d, f, c, (wh_map *)((char *)obj + f->offset), section);
      else
        decode_elem_list(d, f, c, (wh_list *)((char *)obj + f->offset), section);
      free(section);
    }
    free(path);
  }
}

wh_dyn_config *wh_dyn_config_decode(const wh_node *root, const char *source, wh_errlist *errs) {
  wh_dyn_config *c = wh_schema_new(&wh_schema_dyn_config);
  if (!c)
    return NULL;
  wh_errlist sink;
  wh_errlist_init(&sink);
  dyn_dec d = {.c = c, .source = source, .errs = errs ? errs : &sink};
  if (root && root->kind != WH_NODE_MAP) {
    if (!is_empty_scalar(root))
      top_err(&d, "(root)", root, "expected a mapping");
    root = NULL;
  }
  for (size_t i = 0; root && i < root->n && !d.oom; i++) {
    const wh_node *n = root->children[i];
    const wh_field *f = find_field(&wh_schema_dyn_config, n->key);
    if (!f) {
      unknown_key(&d, &wh_schema_dyn_config, n->key ? n->key : "", n);
      continue;
    }
    if (is_empty_scalar(n))
      continue; /* "http:" with nothing under it */
    void **pp = (void **)((char *)c + f->offset);
    if (!*pp && !(*pp = wh_schema_new(f->sub))) {
      d.oom = true;
      break;
    }
    decode_section(&d, f->sub, n, *pp, f->name);
  }
  wh_errlist_free(&sink);
  if (d.oom) {
    wh_dyn_config_free(c);
    return NULL;
  }
  return c;
}

void wh_dyn_config_free(wh_dyn_config *c) {
  if (!c)
    return;
  for (size_t i = 0; i < c->n_elem_errors; i++) {
    free(c->elem_errors[i].section);
    free(c->elem_errors[i].name);
    wh_errlist_free(&c->elem_errors[i].errs);
  }
  free(c->elem_errors);
  wh_schema_destroy(&wh_schema_dyn_config, c);
}
