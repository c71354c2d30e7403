/* Static configuration: schema tables with Traefik's names
 * (pkg/config/static), validate hooks, source selection (file, flags or
 * environment: exactly one), implicit entry points and cross checks. See
 * docs/internals/config-model.md. */
#include "lib/config/static.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lib/config/load.h"
#include "lib/core/str.h"

#define NELEM WH_NELEM
#define F WH_F
#define FSET WH_FSET
#define SCHEMA WH_SCHEMA

/* ---------------------------------------------------------------------------
 * Validation helpers */

__attribute__((format(printf, 3, 4))) static void verr(wh_errlist *errs, const char *path,
                                                       const char *fmt, ...) {
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  const char *p = path && *path ? path : "(root)";
  wh_errlist_add(errs, "%s: %s", p, msg ? msg : "out of memory");
  free(msg);
}

static bool empty(const char *s) {
  return !s || !*s;
}

static bool one_of(const char *v, const char *const *set, size_t n, bool icase) {
  for (size_t i = 0; i < n; i++)
    if (icase ? wh_strcaseeq(v, set[i]) : wh_streq(v, set[i]))
      return true;
  return false;
}

/* Decimal 1..65535 spanning exactly [s, s+n); -1 when invalid. */
static int parse_port(const char *s, size_t n) {
  if (n == 0 || n > 5)
    return -1;
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v >= 1 && v <= 65535 ? v : -1;
}

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

static bool valid_ipv6(const char *s, size_t n) {
  char buf[64];
  struct in6_addr a;
  const char *zone = memchr(s, '%', n);
  size_t an = zone ? (size_t)(zone - s) : n;
  if (an == 0 || an >= sizeof buf || (zone && zone + 1 == s + n))
    return false;
  memcpy(buf, s, an);
  buf[an] = 0;
  return inet_pton(AF_INET6, buf, &a) == 1;
}

/* Entry point address "[host]:port[/tcp|/udp]". On success *host is a
 * malloc'd host without brackets ("" for all addresses). */
static int parse_ep_address(const char *addr, char **host, int *port, bool *udp) {
  if (empty(addr))
    return WH_EINVAL;
  const char *end = addr + strlen(addr);
  const char *slash = strrchr(addr, '/');
  bool is_udp = false;
  if (slash) {
    if (strcasecmp(slash + 1, "udp") == 0)
      is_udp = true;
    else if (strcasecmp(slash + 1, "tcp") != 0)
      return WH_EINVAL;
    end = slash;
  }
  const char *h = addr, *he, *pp;
  if (*addr == '[') {
    const char *rb = memchr(addr, ']', (size_t)(end - addr));
    if (!rb || !valid_ipv6(addr + 1, (size_t)(rb - addr - 1)) || rb + 1 >= end || rb[1] != ':')
      return WH_EINVAL;
    h = addr + 1;
    he = rb;
    pp = rb + 2;
  } else {
    const char *colon = NULL;
    for (const char *p = addr; p < end; p++)
      if (*p == ':') {
        if (colon)
          return WH_EINVAL; /* an IPv6 host must be bracketed */
        colon = p;
      }
    if (!colon)
      return WH_EINVAL;
    he = colon;
    pp = colon + 1;
    if (he > h && !valid_hostname(h, (size_t)(he - h)))
      return WH_EINVAL;
  }
  int p = parse_port(pp, (size_t)(end - pp));
  if (p < 0)
    return WH_EINVAL;
  if (host && !(*host = wh_strndup(h, (size_t)(he - h))))
    return WH_ENOMEM;
  if (port)
    *port = p;
  if (udp)
    *udp = is_udp;
  return 0;
}

/* An IP address or CIDR range, as trustedIPs take. */
static bool valid_ip_or_cidr(const char *s) {
  char buf[80];
  size_t n = strlen(s);
  if (n == 0 || n >= sizeof buf)
    return false;
  memcpy(buf, s, n + 1);
  char *slash = strchr(buf, '/');
  int max = 0;
  if (slash)
    *slash = 0;
  struct in6_addr a6;
  struct in_addr a4;
  if (inet_pton(AF_INET, buf, &a4) == 1)
    max = 32;
  else if (inet_pton(AF_INET6, buf, &a6) == 1)
    max = 128;
  else
    return false;
  if (!slash)
    return true;
  const char *b = slash + 1;
  if (!*b || strlen(b) > 3)
    return false;
  int bits = 0;
  for (; *b; b++) {
    if (*b < '0' || *b > '9')
      return false;
    bits = bits * 10 + (*b - '0');
  }
  return bits <= max;
}

static int check_trusted_ips(const wh_strlist *l, const char *path, const char *field,
                             wh_errlist *errs) {
  int rc = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (!valid_ip_or_cidr(l->v[i])) {
      verr(errs, path, "%s: invalid IP address or CIDR range \"%s\"", field, l->v[i]);
      rc = WH_EINVAL;
    }
  }
  return rc;
}

/* ---------------------------------------------------------------------------
 * Entry points */

static int redirect_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_ep_redirect *r = obj;
  if (empty(r->to)) {
    verr(errs, path, "to: the target entry point (name or \":port\") is required");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field redirect_fields[] = {
    F(wh_ep_redirect, to, "to", WH_F_STRING, NULL, NULL, 0),
    F(wh_ep_redirect, scheme, "scheme", WH_F_STRING, NULL, "https", 0),
    F(wh_ep_redirect, permanent, "permanent", WH_F_BOOL, NULL, "true", 0),
    F(wh_ep_redirect, priority, "priority", WH_F_INT, NULL, "9223372036854775806", 0),
};
static const wh_schema redirect_schema =
    SCHEMA("entryPoint", wh_ep_redirect, redirect_fields, redirect_validate);

static const wh_field redirections_fields[] = {
    F(wh_ep_redirections, entry_point, "entryPoint", WH_F_STRUCT_PTR, &redirect_schema, NULL, 0),
};
static const wh_schema redirections_schema =
    SCHEMA("redirections", wh_ep_redirections, redirections_fields, NULL);

static const wh_field ep_http_tls_fields[] = {
    F(wh_ep_http_tls, options, "options", WH_F_STRING, NULL, NULL, 0),
    F(wh_ep_http_tls, cert_resolver, "certResolver", WH_F_STRING, NULL, NULL, 0),
    F(wh_ep_http_tls, domains, "domains", WH_F_LIST, &wh_schema_domain, NULL, 0),
};
static const wh_schema ep_http_tls_schema = SCHEMA("tls", wh_ep_http_tls, ep_http_tls_fields, NULL);

static const wh_field encoded_chars_fields[] = {
    F(wh_ep_encoded_chars, allow_encoded_slash, "allowEncodedSlash", WH_F_BOOL, NULL, "true", 0),
    F(wh_ep_encoded_chars, allow_encoded_back_slash, "allowEncodedBackSlash", WH_F_BOOL, NULL,
      "true", 0),
    F(wh_ep_encoded_chars, allow_encoded_null_character, "allowEncodedNullCharacter", WH_F_BOOL,
      NULL, "true", 0),
    F(wh_ep_encoded_chars, allow_encoded_semicolon, "allowEncodedSemicolon", WH_F_BOOL, NULL,
      "true", 0),
    F(wh_ep_encoded_chars, allow_encoded_percent, "allowEncodedPercent", WH_F_BOOL, NULL, "true",
      0),
    F(wh_ep_encoded_chars, allow_encoded_question_mark, "allowEncodedQuestionMark", WH_F_BOOL, NULL,
      "true", 0),
    F(wh_ep_encoded_chars, allow_encoded_hash, "allowEncodedHash", WH_F_BOOL, NULL, "true", 0),
};
static const wh_schema encoded_chars_schema =
    SCHEMA("encodedCharacters", wh_ep_encoded_chars, encoded_chars_fields, NULL);

static const wh_field ep_http_fields[] = {
    F(wh_ep_http, redirections, "redirections", WH_F_STRUCT_PTR, &redirections_schema, NULL, 0),
    F(wh_ep_http, middlewares, "middlewares", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_ep_http, tls, "tls", WH_F_STRUCT_PTR, &ep_http_tls_schema, NULL, WH_FF_ALLOW_EMPTY),
    FSET(wh_ep_http, sanitize_path, "sanitizePath", WH_F_BOOL, "true", WH_FF_ALWAYS,
         sanitize_path_set),
    F(wh_ep_http, encoded_characters, "encodedCharacters", WH_F_STRUCT_PTR, &encoded_chars_schema,
      NULL, 0),
};
static const wh_schema ep_http_schema = SCHEMA("http", wh_ep_http, ep_http_fields, NULL);

static int fwd_headers_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_ep_forwarded_headers *f = obj;
  return check_trusted_ips(&f->trusted_ips, path, "trustedIPs", errs);
}

static const wh_field fwd_headers_fields[] = {
    F(wh_ep_forwarded_headers, trusted_ips, "trustedIPs", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_ep_forwarded_headers, insecure, "insecure", WH_F_BOOL, NULL, NULL, 0),
    F(wh_ep_forwarded_headers, connection, "connection", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_ep_forwarded_headers, not_append_x_forwarded_for, "notAppendXForwardedFor", WH_F_BOOL,
      NULL, NULL, 0),
    F(wh_ep_forwarded_headers, add_x_forwarded_scheme_headers, "addXForwardedSchemeHeaders",
      WH_F_BOOL, NULL, NULL, 0),
};
static const wh_schema fwd_headers_schema =
    SCHEMA("forwardedHeaders", wh_ep_forwarded_headers, fwd_headers_fields, fwd_headers_validate);

static int ep_proxy_protocol_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_ep_proxy_protocol *p = obj;
  return check_trusted_ips(&p->trusted_ips, path, "trustedIPs", errs);
}

static const wh_field ep_proxy_protocol_fields[] = {
    F(wh_ep_proxy_protocol, trusted_ips, "trustedIPs", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_ep_proxy_protocol, insecure, "insecure", WH_F_BOOL, NULL, NULL, 0),
};
static const wh_schema ep_proxy_protocol_schema = SCHEMA(
    "proxyProtocol", wh_ep_proxy_protocol, ep_proxy_protocol_fields, ep_proxy_protocol_validate);

static const wh_field responding_fields[] = {
    F(wh_ep_responding_timeouts, read_timeout, "readTimeout", WH_F_DURATION, NULL, "60s", 0),
    F(wh_ep_responding_timeouts, write_timeout, "writeTimeout", WH_F_DURATION, NULL, NULL, 0),
    F(wh_ep_responding_timeouts, idle_timeout, "idleTimeout", WH_F_DURATION, NULL, "180s", 0),
};
static const wh_schema responding_schema =
    SCHEMA("respondingTimeouts", wh_ep_responding_timeouts, responding_fields, NULL);

static const wh_field life_cycle_fields[] = {
    F(wh_ep_life_cycle, request_accept_grace_timeout, "requestAcceptGraceTimeout", WH_F_DURATION,
      NULL, NULL, 0),
    F(wh_ep_life_cycle, grace_time_out, "graceTimeOut", WH_F_DURATION, NULL, "10s", 0),
};
static const wh_schema life_cycle_schema =
    SCHEMA("lifeCycle", wh_ep_life_cycle, life_cycle_fields, NULL);

static int transport_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_ep_transport *t = obj;
  const wh_ep_responding_timeouts *r = &t->responding_timeouts;
  const wh_ep_life_cycle *l = &t->life_cycle;
  if (r->read_timeout < 0 || r->write_timeout < 0 || r->idle_timeout < 0 ||
      l->request_accept_grace_timeout < 0 || l->grace_time_out < 0 || t->keep_alive_max_time < 0 ||
      t->keep_alive_max_requests < 0) {
    verr(errs, path, "timeouts and keepAliveMaxRequests must not be negative");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field transport_fields[] = {
    F(wh_ep_transport, responding_timeouts, "respondingTimeouts", WH_F_STRUCT, &responding_schema,
      NULL, 0),
    F(wh_ep_transport, life_cycle, "lifeCycle", WH_F_STRUCT, &life_cycle_schema, NULL, 0),
    F(wh_ep_transport, keep_alive_max_requests, "keepAliveMaxRequests", WH_F_INT, NULL, NULL, 0),
    F(wh_ep_transport, keep_alive_max_time, "keepAliveMaxTime", WH_F_DURATION, NULL, NULL, 0),
};
static const wh_schema transport_schema =
    SCHEMA("transport", wh_ep_transport, transport_fields, transport_validate);

static int http2_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_ep_http2 *h = obj;
  if (h->max_concurrent_streams < 1 || h->max_concurrent_streams > 0x7fffffff) {
    verr(errs, path, "maxConcurrentStreams: must be between 1 and 2147483647");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field http2_fields[] = {
    F(wh_ep_http2, max_concurrent_streams, "maxConcurrentStreams", WH_F_INT, NULL, "250", 0),
};
static const wh_schema http2_schema = SCHEMA("http2", wh_ep_http2, http2_fields, http2_validate);

static const wh_field ep_udp_fields[] = {
    F(wh_ep_udp, timeout, "timeout", WH_F_DURATION, NULL, "3s", 0),
};
static const wh_schema ep_udp_schema = SCHEMA("udp", wh_ep_udp, ep_udp_fields, NULL);

static int entrypoint_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_entrypoint *e = obj;
  if (empty(e->address)) {
    verr(errs, path, "address: required (\"[host]:port[/tcp|/udp]\")");
    return WH_EINVAL;
  }
  int rc = parse_ep_address(e->address, NULL, NULL, NULL);
  if (rc == WH_EINVAL)
    verr(errs, path,
         "address: invalid address \"%s\" (expected [host]:port[/tcp|/udp] with port 1-65535, "
         "IPv6 host in brackets)",
         e->address);
  return rc;
}

static const wh_field entrypoint_fields[] = {
    F(wh_entrypoint, address, "address", WH_F_STRING, NULL, NULL, 0),
    F(wh_entrypoint, as_default, "asDefault", WH_F_BOOL, NULL, NULL, 0),
    F(wh_entrypoint, http, "http", WH_F_STRUCT, &ep_http_schema, NULL, 0),
    F(wh_entrypoint, forwarded_headers, "forwardedHeaders", WH_F_STRUCT_PTR, &fwd_headers_schema,
      NULL, 0),
    F(wh_entrypoint, proxy_protocol, "proxyProtocol", WH_F_STRUCT_PTR, &ep_proxy_protocol_schema,
      NULL, 0),
    F(wh_entrypoint, transport, "transport", WH_F_STRUCT, &transport_schema, NULL, 0),
    F(wh_entrypoint, http2, "http2", WH_F_STRUCT_PTR, &http2_schema, NULL, 0),
    F(wh_entrypoint, udp, "udp", WH_F_STRUCT_PTR, &ep_udp_schema, NULL, 0),
};
static const wh_schema entrypoint_schema =
    SCHEMA("entryPoint", wh_entrypoint, entrypoint_fields, entrypoint_validate);

/* ---------------------------------------------------------------------------
 * Providers */

static int file_provider_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_file_provider *f = obj;
  if (empty(f->filename) && empty(f->directory)) {
    verr(errs, path, "filename or directory is required");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field file_provider_fields[] = {
    F(wh_file_provider, filename, "filename", WH_F_STRING, NULL, NULL, 0),
    F(wh_file_provider, directory, "directory", WH_F_STRING, NULL, NULL, 0),
    F(wh_file_provider, watch, "watch", WH_F_BOOL, NULL, "true", 0),
    F(wh_file_provider, debug_log_generated_template, "debugLogGeneratedTemplate", WH_F_BOOL, NULL,
      NULL, 0),
};
static const wh_schema file_provider_schema =
    SCHEMA("file", wh_file_provider, file_provider_fields, file_provider_validate);

static const wh_field client_tls_fields[] = {
    F(wh_client_tls, ca, "ca", WH_F_STRING, NULL, NULL, 0),
    F(wh_client_tls, cert, "cert", WH_F_STRING, NULL, NULL, 0),
    F(wh_client_tls, key, "key", WH_F_STRING, NULL, NULL, 0),
    F(wh_client_tls, insecure_skip_verify, "insecureSkipVerify", WH_F_BOOL, NULL, NULL, 0),
};
static const wh_schema client_tls_schema = SCHEMA("tls", wh_client_tls, client_tls_fields, NULL);

static int check_endpoint(const char *ep, const char *path, wh_errlist *errs) {
  static const char *const schemes[] = {"unix://", "tcp://", "http://", "https://", "ssh://"};
  for (size_t i = 0; i < NELEM(schemes); i++)
    if (wh_str_has_caseprefix(ep, schemes[i]) && ep[strlen(schemes[i])])
      return 0;
  verr(errs, path,
       "endpoint: invalid endpoint \"%s\" (expected unix://, tcp://, http://, https:// or ssh://)",
       ep ? ep : "");
  return WH_EINVAL;
}

#define DEFAULT_DOCKER_ENDPOINT "unix:///var/run/docker.sock"
#define DEFAULT_DOCKER_RULE "Host(`{{ normalize .Name }}`)"

static int docker_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_docker_provider *d = obj;
  int rc = check_endpoint(d->endpoint, path, errs);
  if (d->http_client_timeout < 0 || d->swarm_mode_refresh_seconds < 0) {
    verr(errs, path, "durations must not be negative");
    rc = WH_EINVAL;
  }
  return rc;
}

static const wh_field docker_fields[] = {
    F(wh_docker_provider, endpoint, "endpoint", WH_F_STRING, NULL, DEFAULT_DOCKER_ENDPOINT, 0),
    F(wh_docker_provider, exposed_by_default, "exposedByDefault", WH_F_BOOL, NULL, "true",
      WH_FF_ALWAYS),
    F(wh_docker_provider, network, "network", WH_F_STRING, NULL, NULL, 0),
    F(wh_docker_provider, use_bind_port_ip, "useBindPortIP", WH_F_BOOL, NULL, NULL, 0),
    F(wh_docker_provider, watch, "watch", WH_F_BOOL, NULL, "true", WH_FF_ALWAYS),
    F(wh_docker_provider, constraints, "constraints", WH_F_STRING, NULL, NULL, 0),
    F(wh_docker_provider, default_rule, "defaultRule", WH_F_STRING, NULL, DEFAULT_DOCKER_RULE, 0),
    F(wh_docker_provider, allow_empty_services, "allowEmptyServices", WH_F_BOOL, NULL, NULL, 0),
    F(wh_docker_provider, http_client_timeout, "httpClientTimeout", WH_F_DURATION, NULL, NULL, 0),
    F(wh_docker_provider, tls, "tls", WH_F_STRUCT_PTR, &client_tls_schema, NULL, 0),
    F(wh_docker_provider, username, "username", WH_F_STRING, NULL, NULL, 0),
    F(wh_docker_provider, password, "password", WH_F_STRING, NULL, NULL, WH_FF_SECRET),
    F(wh_docker_provider, swarm_mode, "swarmMode", WH_F_BOOL, NULL, NULL, WH_FF_DEPRECATED),
    F(wh_docker_provider, swarm_mode_refresh_seconds, "swarmModeRefreshSeconds", WH_F_DURATION,
      NULL, "15s", WH_FF_DEPRECATED),
};
static const wh_schema docker_schema =
    SCHEMA("docker", wh_docker_provider, docker_fields, docker_validate);

static int swarm_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_swarm_provider *s = obj;
  int rc = check_endpoint(s->endpoint, path, errs);
  if (s->refresh_seconds <= 0) {
    verr(errs, path, "refreshSeconds: must be positive");
    rc = WH_EINVAL;
  }
  return rc;
}

static const wh_field swarm_fields[] = {
    F(wh_swarm_provider, endpoint, "endpoint", WH_F_STRING, NULL, DEFAULT_DOCKER_ENDPOINT, 0),
    F(wh_swarm_provider, exposed_by_default, "exposedByDefault", WH_F_BOOL, NULL, "true",
      WH_FF_ALWAYS),
    F(wh_swarm_provider, network, "network", WH_F_STRING, NULL, NULL, 0),
    F(wh_swarm_provider, use_bind_port_ip, "useBindPortIP", WH_F_BOOL, NULL, NULL, 0),
    F(wh_swarm_provider, watch, "watch", WH_F_BOOL, NULL, "true", WH_FF_ALWAYS),
    F(wh_swarm_provider, constraints, "constraints", WH_F_STRING, NULL, NULL, 0),
    F(wh_swarm_provider, default_rule, "defaultRule", WH_F_STRING, NULL, DEFAULT_DOCKER_RULE, 0),
    F(wh_swarm_provider, allow_empty_services, "allowEmptyServices", WH_F_BOOL, NULL, NULL, 0),
    F(wh_swarm_provider, http_client_timeout, "httpClientTimeout", WH_F_DURATION, NULL, NULL, 0),
    F(wh_swarm_provider, tls, "tls", WH_F_STRUCT_PTR, &client_tls_schema, NULL, 0),
    F(wh_swarm_provider, username, "username", WH_F_STRING, NULL, NULL, 0),
    F(wh_swarm_provider, password, "password", WH_F_STRING, NULL, NULL, WH_FF_SECRET),
    F(wh_swarm_provider, refresh_seconds, "refreshSeconds", WH_F_DURATION, NULL, "15s", 0),
};
static const wh_schema swarm_schema =
    SCHEMA("swarm", wh_swarm_provider, swarm_fields, swarm_validate);

static const wh_field providers_fields[] = {
    F(wh_providers, providers_throttle_duration, "providersThrottleDuration", WH_F_DURATION, NULL,
      "2s", 0),
    F(wh_providers, file, "file", WH_F_STRUCT_PTR, &file_provider_schema, NULL, WH_FF_ALLOW_EMPTY),
    F(wh_providers, docker, "docker", WH_F_STRUCT_PTR, &docker_schema, NULL, WH_FF_ALLOW_EMPTY),
    F(wh_providers, swarm, "swarm", WH_F_STRUCT_PTR, &swarm_schema, NULL, WH_FF_ALLOW_EMPTY),
};
static const wh_schema providers_schema = SCHEMA("providers", wh_providers, providers_fields, NULL);

/* ---------------------------------------------------------------------------
 * API, ping, metrics, logs */

static int api_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_api *a = obj;
  if (!empty(a->base_path) && a->base_path[0] != '/') {
    verr(errs, path, "basePath: must start with \"/\"");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field api_fields[] = {
    F(wh_api, insecure, "insecure", WH_F_BOOL, NULL, NULL, 0),
    F(wh_api, dashboard, "dashboard", WH_F_BOOL, NULL, "true", WH_FF_ALWAYS),
    F(wh_api, debug, "debug", WH_F_BOOL, NULL, NULL, 0),
    F(wh_api, base_path, "basePath", WH_F_STRING, NULL, "/", 0),
    F(wh_api, disable_dashboard_ad, "disableDashboardAd", WH_F_BOOL, NULL, NULL, 0),
};
static const wh_schema api_schema = SCHEMA("api", wh_api, api_fields, api_validate);

static int ping_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_ping *p = obj;
  if (p->terminating_status_code < 100 || p->terminating_status_code > 599) {
    verr(errs, path, "terminatingStatusCode: invalid HTTP status %lld",
         (long long)p->terminating_status_code);
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field ping_fields[] = {
    F(wh_ping, entry_point, "entryPoint", WH_F_STRING, NULL, "traefik", 0),
    F(wh_ping, manual_routing, "manualRouting", WH_F_BOOL, NULL, NULL, 0),
    F(wh_ping, terminating_status_code, "terminatingStatusCode", WH_F_INT, NULL, "503", 0),
};
static const wh_schema ping_schema = SCHEMA("ping", wh_ping, ping_fields, ping_validate);

static int prometheus_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_prometheus *p = obj;
  for (size_t i = 1; i < p->buckets.n; i++) {
    if (!(p->buckets.v[i] > p->buckets.v[i - 1])) {
      verr(errs, path, "buckets: must be in strictly increasing order");
      return WH_EINVAL;
    }
  }
  return 0;
}

static const wh_field prometheus_fields[] = {
    F(wh_prometheus, buckets, "buckets", WH_F_FLOATLIST, NULL, "0.1,0.3,1.2,5.0", 0),
    F(wh_prometheus, add_entry_points_labels, "addEntryPointsLabels", WH_F_BOOL, NULL, "true",
      WH_FF_ALWAYS),
    F(wh_prometheus, add_routers_labels, "addRoutersLabels", WH_F_BOOL, NULL, NULL, WH_FF_ALWAYS),
    F(wh_prometheus, add_services_labels, "addServicesLabels", WH_F_BOOL, NULL, "true",
      WH_FF_ALWAYS),
    F(wh_prometheus, entry_point, "entryPoint", WH_F_STRING, NULL, "traefik", 0),
    F(wh_prometheus, manual_routing, "manualRouting", WH_F_BOOL, NULL, NULL, 0),
    F(wh_prometheus, header_labels, "headerLabels", WH_F_STRMAP, NULL, NULL, 0),
};
static const wh_schema prometheus_schema =
    SCHEMA("prometheus", wh_prometheus, prometheus_fields, prometheus_validate);

static const wh_field metrics_fields[] = {
    F(wh_metrics, prometheus, "prometheus", WH_F_STRUCT_PTR, &prometheus_schema, NULL,
      WH_FF_ALLOW_EMPTY),
    F(wh_metrics, add_internals, "addInternals", WH_F_BOOL, NULL, NULL, 0),
};
static const wh_schema metrics_schema = SCHEMA("metrics", wh_metrics, metrics_fields, NULL);

static int log_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_log_config *l = obj;
  static const char *const levels[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "PANIC"};
  static const char *const formats[] = {"common", "json"};
  int rc = 0;
  if (!one_of(l->level, levels, NELEM(levels), true)) {
    verr(errs, path,
         "level: invalid value \"%s\" (expected TRACE, DEBUG, INFO, WARN, ERROR, FATAL or PANIC)",
         l->level ? l->level : "");
    rc = WH_EINVAL;
  }
  if (!one_of(l->format, formats, NELEM(formats), false)) {
    verr(errs, path, "format: invalid value \"%s\" (expected common or json)",
         l->format ? l->format : "");
    rc = WH_EINVAL;
  }
  return rc;
}

static const wh_field log_fields[] = {
    F(wh_log_config, level, "level", WH_F_STRING, NULL, "ERROR", 0),
    F(wh_log_config, format, "format", WH_F_STRING, NULL, "common", 0),
    F(wh_log_config, file_path, "filePath", WH_F_STRING, NULL, NULL, 0),
    F(wh_log_config, no_color, "noColor", WH_F_BOOL, NULL, NULL, 0),
};
static const wh_schema log_schema = SCHEMA("log", wh_log_config, log_fields, log_validate);

/* "200" or "300-302", as Traefik's access log filter takes. */
static bool valid_status_range(const char *s) {
  int a = 0, b = 0, n = 0;
  char tail;
  if (sscanf(s, "%d-%d%c", &a, &b, &tail) == 2) {
    if (!isdigit((unsigned char)s[0]))
      return false;
    return a >= 100 && a <= 599 && b >= a && b <= 599;
  }
  if (sscanf(s, "%d%n", &a, &n) == 1 && s[n] == 0 && isdigit((unsigned char)s[0]))
    return a >= 100 && a <= 599;
  return false;
}

static int filters_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_accesslog_filters *f = obj;
  int rc = 0;
  for (size_t i = 0; i < f->status_codes.n; i++) {
    if (!valid_status_range(f->status_codes.v[i])) {
      verr(errs, path,
           "statusCodes: invalid entry \"%s\" (expected a status \"N\" or range \"N-M\")",
           f->status_codes.v[i]);
      rc = WH_EINVAL;
    }
  }
  if (f->min_duration < 0) {
    verr(errs, path, "minDuration: must not be negative");
    rc = WH_EINVAL;
  }
  return rc;
}

static const wh_field filters_fields[] = {
    F(wh_accesslog_filters, status_codes, "statusCodes", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_accesslog_filters, retry_attempts, "retryAttempts", WH_F_BOOL, NULL, NULL, 0),
    F(wh_accesslog_filters, min_duration, "minDuration", WH_F_DURATION, NULL, NULL, 0),
};
static const wh_schema filters_schema =
    SCHEMA("filters", wh_accesslog_filters, filters_fields, filters_validate);

static const char *const field_modes[] = {"keep", "drop", "redact"};

static int check_modes(const char *dflt, const wh_strmap *names, const char *path,
                       wh_errlist *errs) {
  int rc = 0;
  if (!empty(dflt) && !one_of(dflt, field_modes, NELEM(field_modes), true)) {
    verr(errs, path, "defaultMode: invalid value \"%s\" (expected keep, drop or redact)", dflt);
    rc = WH_EINVAL;
  }
  for (size_t i = 0; i < names->n; i++) {
    if (!one_of(names->vals[i], field_modes, NELEM(field_modes), true)) {
      verr(errs, path, "names.%s: invalid value \"%s\" (expected keep, drop or redact)",
           names->keys[i], names->vals[i]);
      rc = WH_EINVAL;
    }
  }
  return rc;
}

static int header_fields_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_accesslog_header_fields *h = obj;
  return check_modes(h->default_mode, &h->names, path, errs);
}

static const wh_field header_fields_fields[] = {
    F(wh_accesslog_header_fields, default_mode, "defaultMode", WH_F_STRING, NULL, "drop", 0),
    F(wh_accesslog_header_fields, names, "names", WH_F_STRMAP, NULL, NULL, 0),
};
static const wh_schema header_fields_schema =
    SCHEMA("headers", wh_accesslog_header_fields, header_fields_fields, header_fields_validate);

static int fields_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_accesslog_fields *f = obj;
  return check_modes(f->default_mode, &f->names, path, errs);
}

static const wh_field fields_fields[] = {
    F(wh_accesslog_fields, default_mode, "defaultMode", WH_F_STRING, NULL, "keep", 0),
    F(wh_accesslog_fields, names, "names", WH_F_STRMAP, NULL, NULL, 0),
    F(wh_accesslog_fields, headers, "headers", WH_F_STRUCT_PTR, &header_fields_schema, NULL, 0),
};
static const wh_schema fields_schema =
    SCHEMA("fields", wh_accesslog_fields, fields_fields, fields_validate);

static int accesslog_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_accesslog *a = obj;
  static const char *const formats[] = {"common", "genericCLF", "json"};
  int rc = 0;
  if (!one_of(a->format, formats, NELEM(formats), false)) {
    verr(errs, path, "format: invalid value \"%s\" (expected common, genericCLF or json)",
         a->format ? a->format : "");
    rc = WH_EINVAL;
  }
  if (a->buffering_size < 0) {
    verr(errs, path, "bufferingSize: must not be negative");
    rc = WH_EINVAL;
  }
  return rc;
}

static const wh_field accesslog_fields[] = {
    F(wh_accesslog, file_path, "filePath", WH_F_STRING, NULL, NULL, 0),
    F(wh_accesslog, format, "format", WH_F_STRING, NULL, "common", 0),
    F(wh_accesslog, buffering_size, "bufferingSize", WH_F_INT, NULL, NULL, 0),
    F(wh_accesslog, filters, "filters", WH_F_STRUCT_PTR, &filters_schema, NULL, 0),
    F(wh_accesslog, fields, "fields", WH_F_STRUCT_PTR, &fields_schema, NULL, 0),
    F(wh_accesslog, add_internals, "addInternals", WH_F_BOOL, NULL, NULL, 0),
};
static const wh_schema accesslog_schema =
    SCHEMA("accessLog", wh_accesslog, accesslog_fields, accesslog_validate);

/* ---------------------------------------------------------------------------
 * ACME */

static int http_challenge_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_acme_http_challenge *h = obj;
  if (empty(h->entry_point)) {
    verr(errs, path, "entryPoint: required");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field http_challenge_fields[] = {
    F(wh_acme_http_challenge, entry_point, "entryPoint", WH_F_STRING, NULL, NULL, 0),
};
static const wh_schema http_challenge_schema =
    SCHEMA("httpChallenge", wh_acme_http_challenge, http_challenge_fields, http_challenge_validate);

/* Presence is the whole configuration. */
static const wh_schema tls_challenge_schema = {"tlsChallenge", sizeof(wh_acme_tls_challenge), NULL,
                                               0, NULL};

static int propagation_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_acme_propagation *p = obj;
  if (p->delay_before_checks < 0) {
    verr(errs, path, "delayBeforeChecks: must not be negative");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field propagation_fields[] = {
    F(wh_acme_propagation, disable_checks, "disableChecks", WH_F_BOOL, NULL, NULL, 0),
    F(wh_acme_propagation, disable_ans_checks, "disableANSChecks", WH_F_BOOL, NULL, NULL, 0),
    F(wh_acme_propagation, require_all_rns, "requireAllRNS", WH_F_BOOL, NULL, NULL, 0),
    F(wh_acme_propagation, delay_before_checks, "delayBeforeChecks", WH_F_DURATION, NULL, NULL, 0),
};
static const wh_schema propagation_schema =
    SCHEMA("propagation", wh_acme_propagation, propagation_fields, propagation_validate);

static int dns_challenge_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_acme_dns_challenge *d = obj;
  int rc = 0;
  if (empty(d->provider)) {
    verr(errs, path, "provider: required");
    rc = WH_EINVAL;
  }
  for (size_t i = 0; i < d->resolvers.n; i++) {
    const char *r = d->resolvers.v[i];
    /* host:port, or a bare host (port 53) */
    bool ok = strchr(r, ':') ? parse_ep_address(r, NULL, NULL, NULL) == 0 && r[0] != ':'
                             : valid_hostname(r, strlen(r));
    if (!ok) {
      verr(errs, path, "resolvers: invalid resolver \"%s\" (expected host[:port])", r);
      rc = WH_EINVAL;
    }
  }
  return rc;
}

static const wh_field dns_challenge_fields[] = {
    F(wh_acme_dns_challenge, provider, "provider", WH_F_STRING, NULL, NULL, 0),
    F(wh_acme_dns_challenge, delay_before_check, "delayBeforeCheck", WH_F_DURATION, NULL, NULL,
      WH_FF_DEPRECATED),
    F(wh_acme_dns_challenge, resolvers, "resolvers", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_acme_dns_challenge, disable_propagation_check, "disablePropagationCheck", WH_F_BOOL, NULL,
      NULL, WH_FF_DEPRECATED),
    F(wh_acme_dns_challenge, propagation, "propagation", WH_F_STRUCT_PTR, &propagation_schema, NULL,
      WH_FF_ALLOW_EMPTY),
};
static const wh_schema dns_challenge_schema =
    SCHEMA("dnsChallenge", wh_acme_dns_challenge, dns_challenge_fields, dns_challenge_validate);

static const wh_field eab_fields[] = {
    F(wh_acme_eab, kid, "kid", WH_F_STRING, NULL, NULL, 0),
    F(wh_acme_eab, hmac_encoded, "hmacEncoded", WH_F_STRING, NULL, NULL, WH_FF_SECRET),
};
static const wh_schema eab_schema = SCHEMA("eab", wh_acme_eab, eab_fields, NULL);

static int acme_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_acme *a = obj;
  static const char *const key_types[] = {"EC256", "EC384", "RSA2048", "RSA4096", "RSA8192"};
  int rc = 0;
  if (!one_of(a->key_type, key_types, NELEM(key_types), false)) {
    verr(errs, path,
         "keyType: invalid value \"%s\" (expected EC256, EC384, RSA2048, RSA4096 or RSA8192)",
         a->key_type ? a->key_type : "");
    rc = WH_EINVAL;
  }
  /* Traefik only rejects a resolver with no challenge at all. */
  if (!a->http_challenge && !a->tls_challenge && !a->dns_challenge) {
    verr(errs, path, "one of httpChallenge, tlsChallenge or dnsChallenge is required");
    rc = WH_EINVAL;
  }
  if (a->certificates_duration <= 0) {
    verr(errs, path, "certificatesDuration: must be positive");
    rc = WH_EINVAL;
  }
  if (empty(a->ca_server) || (!wh_str_has_caseprefix(a->ca_server, "https://") &&
                              !wh_str_has_caseprefix(a->ca_server, "http://"))) {
    verr(errs, path, "caServer: invalid URL \"%s\"", a->ca_server ? a->ca_server : "");
    rc = WH_EINVAL;
  }
  return rc;
}

static const wh_field acme_fields[] = {
    F(wh_acme, email, "email", WH_F_STRING, NULL, NULL, 0),
    F(wh_acme, ca_server, "caServer", WH_F_STRING, NULL,
      "https://acme-v02.api.letsencrypt.org/directory", 0),
    F(wh_acme, ca_certificates, "caCertificates", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_acme, ca_system_cert_pool, "caSystemCertPool", WH_F_BOOL, NULL, NULL, 0),
    F(wh_acme, preferred_chain, "preferredChain", WH_F_STRING, NULL, NULL, 0),
    F(wh_acme, storage, "storage", WH_F_STRING, NULL, "acme.json", 0),
    F(wh_acme, key_type, "keyType", WH_F_STRING, NULL, "RSA4096", 0),
    F(wh_acme, certificates_duration, "certificatesDuration", WH_F_DURATION, NULL, "2160h", 0),
    F(wh_acme, client_timeout, "clientTimeout", WH_F_DURATION, NULL, "2m", 0),
    F(wh_acme, client_response_header_timeout, "clientResponseHeaderTimeout", WH_F_DURATION, NULL,
      "30s", 0),
    F(wh_acme, eab, "eab", WH_F_STRUCT_PTR, &eab_schema, NULL, 0),
    F(wh_acme, http_challenge, "httpChallenge", WH_F_STRUCT_PTR, &http_challenge_schema, NULL, 0),
    F(wh_acme, tls_challenge, "tlsChallenge", WH_F_STRUCT_PTR, &tls_challenge_schema, NULL,
      WH_FF_ALLOW_EMPTY),
    F(wh_acme, dns_challenge, "dnsChallenge", WH_F_STRUCT_PTR, &dns_challenge_schema, NULL, 0),
};
static const wh_schema acme_schema = SCHEMA("acme", wh_acme, acme_fields, acme_validate);

static int resolver_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_cert_resolver *r = obj;
  if (!r->acme) {
    verr(errs, path, "acme: required");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field resolver_fields[] = {
    F(wh_cert_resolver, acme, "acme", WH_F_STRUCT_PTR, &acme_schema, NULL, 0),
};
static const wh_schema resolver_schema =
    SCHEMA("certificatesResolver", wh_cert_resolver, resolver_fields, resolver_validate);

/* ---------------------------------------------------------------------------
 * The rest and the root */

static int static_transport_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_static_servers_transport *t = obj;
  if (t->max_idle_conns_per_host < 0) {
    verr(errs, path, "maxIdleConnsPerHost: must not be negative");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field static_transport_fields[] = {
    F(wh_static_servers_transport, insecure_skip_verify, "insecureSkipVerify", WH_F_BOOL, NULL,
      NULL, 0),
    F(wh_static_servers_transport, root_cas, "rootCAs", WH_F_STRLIST, NULL, NULL, 0),
    F(wh_static_servers_transport, max_idle_conns_per_host, "maxIdleConnsPerHost", WH_F_INT, NULL,
      "200", 0),
    F(wh_static_servers_transport, forwarding_timeouts, "forwardingTimeouts", WH_F_STRUCT_PTR,
      &wh_schema_forwarding_timeouts, NULL, 0),
};
static const wh_schema static_transport_schema =
    SCHEMA("serversTransport", wh_static_servers_transport, static_transport_fields,
           static_transport_validate);

static const wh_field static_tcp_tls_fields[] = {
    F(wh_static_tcp_tls, insecure_skip_verify, "insecureSkipVerify", WH_F_BOOL, NULL, NULL, 0),
    F(wh_static_tcp_tls, root_cas, "rootCAs", WH_F_STRLIST, NULL, NULL, 0),
};
static const wh_schema static_tcp_tls_schema =
    SCHEMA("tls", wh_static_tcp_tls, static_tcp_tls_fields, NULL);

static int static_tcp_transport_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_static_tcp_servers_transport *t = obj;
  if (t->dial_keep_alive < 0 || t->dial_timeout < 0 || t->termination_delay < 0) {
    verr(errs, path, "timeouts must not be negative");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field static_tcp_transport_fields[] = {
    F(wh_static_tcp_servers_transport, dial_keep_alive, "dialKeepAlive", WH_F_DURATION, NULL, "15s",
      0),
    F(wh_static_tcp_servers_transport, dial_timeout, "dialTimeout", WH_F_DURATION, NULL, "30s", 0),
    F(wh_static_tcp_servers_transport, termination_delay, "terminationDelay", WH_F_DURATION, NULL,
      "100ms", 0),
    F(wh_static_tcp_servers_transport, tls, "tls", WH_F_STRUCT_PTR, &static_tcp_tls_schema, NULL,
      WH_FF_ALLOW_EMPTY),
};
static const wh_schema static_tcp_transport_schema =
    SCHEMA("tcpServersTransport", wh_static_tcp_servers_transport, static_tcp_transport_fields,
           static_tcp_transport_validate);

static int core_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_core *c = obj;
  if (!wh_streq(c->default_rule_syntax, "v2") && !wh_streq(c->default_rule_syntax, "v3")) {
    verr(errs, path, "defaultRuleSyntax: invalid value \"%s\" (expected v2 or v3)",
         c->default_rule_syntax ? c->default_rule_syntax : "");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field core_fields[] = {
    F(wh_core, default_rule_syntax, "defaultRuleSyntax", WH_F_STRING, NULL, "v3", 0),
};
static const wh_schema core_schema = SCHEMA("core", wh_core, core_fields, core_validate);

static const wh_field global_fields[] = {
    F(wh_global, check_new_version, "checkNewVersion", WH_F_BOOL, NULL, "true", 0),
    F(wh_global, send_anonymous_usage, "sendAnonymousUsage", WH_F_BOOL, NULL, NULL, 0),
};
static const wh_schema global_schema = SCHEMA("global", wh_global, global_fields, NULL);

static int wharf_validate(void *obj, const char *path, wh_errlist *errs) {
  const wh_wharf_opts *w = obj;
  if (w->workers < 0 || w->workers > 1024) {
    verr(errs, path, "workers: must be between 0 (one per CPU) and 1024");
    return WH_EINVAL;
  }
  return 0;
}

static const wh_field wharf_fields[] = {
    F(wh_wharf_opts, workers, "workers", WH_F_INT, NULL, NULL, 0),
};
static const wh_schema wharf_schema = SCHEMA("wharf", wh_wharf_opts, wharf_fields, wharf_validate);

static const wh_field static_fields[] = {
    F(wh_static_config, global, "global", WH_F_STRUCT_PTR, &global_schema, NULL, 0),
    F(wh_static_config, core, "core", WH_F_STRUCT_PTR, &core_schema, NULL, 0),
    F(wh_static_config, entry_points, "entryPoints", WH_F_MAP, &entrypoint_schema, NULL, 0),
    F(wh_static_config, providers, "providers", WH_F_STRUCT_PTR, &providers_schema, NULL, 0),
    F(wh_static_config, api, "api", WH_F_STRUCT_PTR, &api_schema, NULL, WH_FF_ALLOW_EMPTY),
    F(wh_static_config, ping, "ping", WH_F_STRUCT_PTR, &ping_schema, NULL, WH_FF_ALLOW_EMPTY),
    F(wh_static_config, metrics, "metrics", WH_F_STRUCT_PTR, &metrics_schema, NULL, 0),
    F(wh_static_config, log, "log", WH_F_STRUCT_PTR, &log_schema, NULL, 0),
    F(wh_static_config, access_log, "accessLog", WH_F_STRUCT_PTR, &accesslog_schema, NULL,
      WH_FF_ALLOW_EMPTY),
    F(wh_static_config, servers_transport, "serversTransport", WH_F_STRUCT_PTR,
      &static_transport_schema, NULL, 0),
    F(wh_static_config, tcp_servers_transport, "tcpServersTransport", WH_F_STRUCT_PTR,
      &static_tcp_transport_schema, NULL, 0),
    F(wh_static_config, certificates_resolvers, "certificatesResolvers", WH_F_MAP, &resolver_schema,
      NULL, 0),
    F(wh_static_config, wharf, "wharf", WH_F_STRUCT_PTR, &wharf_schema, NULL, 0),
};
const wh_schema wh_schema_static_config =
    SCHEMA("staticConfiguration", wh_static_config, static_fields, NULL);

/* ---------------------------------------------------------------------------
 * Implicit entry points and cross checks */

#define INTERNAL_EP "traefik"

static int add_entrypoint(wh_static_config *c, const char *name, const char *address) {
  wh_entrypoint *ep = wh_schema_new(&entrypoint_schema);
  if (!ep)
    return WH_ENOMEM;
  ep->address = wh_strdup(address);
  if (!ep->address || wh_map_put(&c->entry_points, name, ep, NULL)) {
    wh_schema_destroy(&entrypoint_schema, ep);
    return WH_ENOMEM;
  }
  return 0;
}

static bool needs_internal_ep(const wh_static_config *c) {
  if (c->api && c->api->insecure)
    return true;
  if (c->ping && !c->ping->manual_routing && wh_streq(c->ping->entry_point, INTERNAL_EP))
    return true;
  const wh_prometheus *p = c->metrics ? c->metrics->prometheus : NULL;
  return p && !p->manual_routing && wh_streq(p->entry_point, INTERNAL_EP);
}

static void check_ep_ref(const wh_static_config *c, const char *ep, const char *path,
                         wh_errlist *errs, int *rc) {
  if (!wh_map_get(&c->entry_points, ep ? ep : "")) {
    verr(errs, path, "entry point \"%s\" does not exist", ep ? ep : "");
    *rc = WH_EINVAL;
  }
}

bool wh_static_in_container(const char *root) {
  char p[4096];
  snprintf(p, sizeof(p), "%s/.dockerenv", root ? root : "");
  if (access(p, F_OK) == 0)
    return true;
  snprintf(p, sizeof(p), "%s/run/.containerenv", root ? root : "");
  return access(p, F_OK) == 0;
}

const char *wh_static_internal_ep_address(bool in_container) {
  return in_container ? ":8080" : "127.0.0.1:8080";
}

int wh_static_finish(wh_static_config *c, wh_errlist *errs) {
  if (!c)
    return WH_EINVAL;
  int rc = 0;
  /* Traefik's SetEffectiveConfiguration: "http" only when the user defined
   * none; "traefik" whenever something internal needs it. */
  if (c->entry_points.n == 0 && (rc = add_entrypoint(c, "http", ":80")))
    return rc;
  if (needs_internal_ep(c) && !wh_map_get(&c->entry_points, INTERNAL_EP) &&
      (rc = add_entrypoint(c, INTERNAL_EP,
                           wh_static_internal_ep_address(wh_static_in_container("")))))
    return rc;

  for (size_t i = 0; i < c->entry_points.n; i++) {
    wh_entrypoint *ep = c->entry_points.vals[i];
    const char *name = c->entry_points.keys[i];
    free(ep->host);
    ep->host = NULL;
    int r = parse_ep_address(ep->address, &ep->host, &ep->port, &ep->is_udp);
    if (r == WH_ENOMEM)
      return r;
    if (r) {
      wh_errlist_add(errs,
                     "entryPoints.%s.address: invalid address \"%s\" (expected "
                     "[host]:port[/tcp|/udp])",
                     name, ep->address ? ep->address : "");
      rc = WH_EINVAL;
    }
  }
  for (size_t i = 0; i < c->entry_points.n; i++) {
    const wh_entrypoint *a = c->entry_points.vals[i];
    for (size_t j = i + 1; a->host && j < c->entry_points.n; j++) {
      const wh_entrypoint *b = c->entry_points.vals[j];
      if (b->host && a->port == b->port && a->is_udp == b->is_udp && wh_streq(a->host, b->host)) {
        wh_errlist_add(errs, "entryPoints.%s.address: same address as entry point \"%s\" (%s)",
                       c->entry_points.keys[j], c->entry_points.keys[i], b->address);
        rc = WH_EINVAL;
      }
    }
  }

  for (size_t i = 0; i < c->entry_points.n; i++) {
    const wh_entrypoint *ep = c->entry_points.vals[i];
    const char *name = c->entry_points.keys[i];
    const wh_ep_redirect *r = ep->http.redirections ? ep->http.redirections->entry_point : NULL;
    if (r && !empty(r->to)) {
      char *path = wh_asprintf("entryPoints.%s.http.redirections.entryPoint.to", name);
      if (r->to[0] == ':') {
        if (parse_port(r->to + 1, strlen(r->to + 1)) < 0) {
          verr(errs, path, "invalid port \"%s\"", r->to);
          rc = WH_EINVAL;
        }
      } else {
        check_ep_ref(c, r->to, path, errs, &rc);
      }
      free(path);
    }
    const wh_ep_http_tls *t = ep->http.tls;
    if (t && !empty(t->cert_resolver) &&
        !wh_map_get(&c->certificates_resolvers, t->cert_resolver)) {
      wh_errlist_add(errs,
                     "entryPoints.%s.http.tls.certResolver: certificate resolver \"%s\" does "
                     "not exist",
                     name, t->cert_resolver);
      rc = WH_EINVAL;
    }
  }
  if (c->ping && !c->ping->manual_routing)
    check_ep_ref(c, c->ping->entry_point, "ping.entryPoint", errs, &rc);
  if (c->metrics && c->metrics->prometheus && !c->metrics->prometheus->manual_routing)
    check_ep_ref(c, c->metrics->prometheus->entry_point, "metrics.prometheus.entryPoint", errs,
                 &rc);
  for (size_t i = 0; i < c->certificates_resolvers.n; i++) {
    const wh_cert_resolver *r = c->certificates_resolvers.vals[i];
    if (r->acme && r->acme->http_challenge && !empty(r->acme->http_challenge->entry_point)) {
      char *path = wh_asprintf("certificatesResolvers.%s.acme.httpChallenge.entryPoint",
                               c->certificates_resolvers.keys[i]);
      check_ep_ref(c, r->acme->http_challenge->entry_point, path, errs, &rc);
      free(path);
    }
  }
  return rc;
}

/* ---------------------------------------------------------------------------
 * Loading */

static const char *env_get(char **envp, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; envp && envp[i]; i++)
    if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
      return envp[i] + n + 1;
  return NULL;
}

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Traefik's file search. Returns a malloc'd path, NULL if none (or OOM). */
static char *search_config_file(char **envp) {
  const char *xdg = env_get(envp, "XDG_CONFIG_HOME");
  const char *home = env_get(envp, "HOME");
  char *bases[6] = {0};
  size_t nb = 0;
  bases[nb++] = wh_strdup("/etc/wharf/wharf");
  bases[nb++] = wh_strdup("/etc/traefik/traefik");
  if (!empty(xdg))
    bases[nb++] = wh_asprintf("%s/traefik", xdg);
  if (!empty(home))
    bases[nb++] = wh_asprintf("%s/.config/traefik", home);
  bases[nb++] = wh_strdup("./traefik");
  static const char *const exts[] = {"toml", "yaml", "yml"};
  char *found = NULL;
  for (size_t i = 0; i < nb && !found; i++) {
    for (size_t j = 0; bases[i] && j < NELEM(exts) && !found; j++) {
      char *p = wh_asprintf("%s.%s", bases[i], exts[j]);
      if (p && file_exists(p))
        found = p;
      else
        free(p);
    }
  }
  for (size_t i = 0; i < nb; i++)
    free(bases[i]);
  return found;
}

static bool is_config_file_flag(const char *arg, const char **value) {
  static const char flag[] = "--configfile";
  size_t n = sizeof flag - 1;
  if (strncasecmp(arg, flag, n) != 0)
    return false;
  if (arg[n] == '=') {
    *value = arg + n + 1;
    return true;
  }
  if (arg[n] == 0) {
    *value = NULL;
    return true;
  }
  return false;
}

static void remove_key(wh_node *map, const char *key) {
  for (size_t i = 0; map && map->kind == WH_NODE_MAP && i < map->n;) {
    if (map->children[i]->key && strcasecmp(map->children[i]->key, key) == 0) {
      wh_node_free(map->children[i]);
      memmove(&map->children[i], &map->children[i + 1], (map->n - i - 1) * sizeof *map->children);
      map->n--;
    } else {
      i++;
    }
  }
}

/* Traefik's certificatesDuration is an integer number of hours; the model
 * keeps a duration. A bare integer becomes "<n>h" before decoding; Go
 * duration text ("720h") is accepted as well. */
static int fix_certificates_duration(wh_node *root) {
  wh_node *resolvers = wh_node_get(root, "certificatesResolvers", true);
  for (size_t i = 0; resolvers && resolvers->kind == WH_NODE_MAP && i < resolvers->n; i++) {
    wh_node *acme = wh_node_get(resolvers->children[i], "acme", true);
    wh_node *d =
        acme && acme->kind == WH_NODE_MAP ? wh_node_get(acme, "certificatesDuration", true) : NULL;
    int64_t hours;
    if (!d || d->kind != WH_NODE_SCALAR || wh_parse_int(d->value, &hours))
      continue;
    char *v = wh_asprintf("%sh", d->value);
    if (!v)
      return WH_ENOMEM;
    free(d->value);
    d->value = v;
  }
  return 0;
}

static bool has_toml_ext(const char *path) {
  return wh_str_has_casesuffix(path, ".toml");
}

wh_static_config *wh_static_load(int argc, char **argv, char **envp, wh_errlist *errs,
                                 char **src_desc) {
  if (src_desc)
    *src_desc = NULL;
  const char *explicit_file = NULL;
  bool explicit = false;
  int cf_index = -1, cf_args = 0;
  for (int i = 0; i < argc; i++) {
    const char *v;
    if (argv[i] && is_config_file_flag(argv[i], &v)) {
      explicit = true;
      cf_index = i;
      cf_args = 1;
      if (!v && i + 1 < argc && !wh_str_has_prefix(argv[i + 1], "--")) {
        v = argv[i + 1];
        cf_args = 2;
        i++;
      }
      explicit_file = v;
    }
  }
  if (explicit && empty(explicit_file)) {
    wh_errlist_add(errs, "--configFile: a file name is required");
    return NULL;
  }

  char *file = NULL;
  if (explicit) {
    if (!file_exists(explicit_file)) {
      wh_errlist_add(errs, "--configFile: %s: no such file", explicit_file);
      return NULL;
    }
    file = wh_strdup(explicit_file);
  } else {
    file = search_config_file(envp);
  }

  wh_node *root = NULL;
  char *desc = NULL;
  if (file) {
    if (has_toml_ext(file)) {
      wh_errlist_add(errs, "%s: TOML static configuration is not supported; use YAML", file);
      free(file);
      return NULL;
    }
    /* The file is the only source: a flag next to it would be silently
     * ignored by Traefik, which hides mistakes. */
    for (int i = 0; i < argc; i++) {
      if (i >= cf_index && i < cf_index + cf_args)
        continue;
      wh_errlist_add(errs,
                     "%s: flags other than --configFile cannot be combined with the configuration "
                     "file %s (move the setting into the file)",
                     argv[i] ? argv[i] : "", file);
      free(file);
      return NULL;
    }
    root = wh_yaml_parse_file(file, errs);
    if (!root) {
      free(file);
      return NULL;
    }
    desc = wh_asprintf("file %s", file);
    free(file);
  } else {
    if (argc > 0) {
      root = wh_flags_parse(argc, argv, errs);
      if (!root)
        return NULL;
      if (root->n > 0)
        desc = wh_strdup("flags");
      else {
        wh_node_free(root);
        root = NULL;
      }
    }
    if (!root) {
      static const char *const prefixes[] = {"TRAEFIK_", "WHARF_"};
      root = wh_env_parse(envp, prefixes, NELEM(prefixes), errs);
      if (!root)
        return NULL;
      /* TRAEFIK_CONFIGFILE is Traefik's root option, not a setting. */
      remove_key(root, "configFile");
      desc = wh_strdup(root->n > 0 ? "environment" : "defaults");
    }
  }

  wh_static_config *c = NULL;
  if (!desc || fix_certificates_duration(root)) {
    wh_errlist_add(errs, "out of memory");
    goto fail;
  }
  c = wh_schema_new(&wh_schema_static_config);
  if (!c) {
    wh_errlist_add(errs, "out of memory");
    goto fail;
  }
  if (wh_schema_decode(&wh_schema_static_config, root, c, "", errs) || wh_static_finish(c, errs))
    goto fail;
  wh_node_free(root);
  if (src_desc)
    *src_desc = desc;
  else
    free(desc);
  return c;
fail:
  wh_static_free(c);
  wh_node_free(root);
  free(desc);
  return NULL;
}

void wh_static_free(wh_static_config *c) {
  if (!c)
    return;
  /* host is filled by wh_static_finish and is not a schema field. */
  for (size_t i = 0; i < c->entry_points.n; i++) {
    wh_entrypoint *ep = c->entry_points.vals[i];
    free(ep->host);
    ep->host = NULL;
  }
  wh_schema_destroy(&wh_schema_static_config, c);
}

cJSON *wh_static_encode(const wh_static_config *c) {
  return wh_schema_encode(&wh_schema_static_config, c);
}
