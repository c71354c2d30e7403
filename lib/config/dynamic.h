/* The typed dynamic configuration model: what providers produce and what a
 * snapshot is built from. Mirrors Traefik's pkg/config/dynamic structs field
 * for field; the schema tables in dynamic.c give each field its Traefik name
 * (used for YAML/labels input and the admin API output alike).
 *
 * Every struct here is owned through its schema: create with
 * wh_schema_new(&wh_schema_X) and free with wh_schema_destroy. */
#ifndef WH_CONFIG_DYNAMIC_H
#define WH_CONFIG_DYNAMIC_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/config/schema.h"

/* ---- shared ---- */
typedef struct wh_domain {
  char *main;
  wh_strlist sans;
} wh_domain;

typedef struct wh_cert_files {
  char *cert_file; /* "certFile": a path or inline PEM */
  char *key_file;  /* "keyFile" (SECRET when inline PEM is possible: never encoded) */
} wh_cert_files;

/* ---- HTTP ---- */
typedef struct wh_router_tls {
  char *options;       /* "options" */
  char *cert_resolver; /* "certResolver" */
  wh_list domains;     /* of wh_domain, "domains" */
} wh_router_tls;

typedef struct wh_router_observability {
  bool access_logs, metrics, tracing; /* defaults true */
  bool access_logs_set, metrics_set, tracing_set;
} wh_router_observability;

typedef struct wh_http_router {
  wh_strlist entry_points;                /* "entryPoints" */
  wh_strlist middlewares;                 /* "middlewares" */
  char *service;                          /* "service" */
  char *rule;                             /* "rule" */
  char *rule_syntax;                      /* "ruleSyntax": "", "v2" or "v3" */
  int64_t priority;                       /* "priority" (0 = len(rule)) */
  wh_router_tls *tls;                     /* "tls" (ALLOW_EMPTY) */
  wh_router_observability *observability; /* "observability" */
} wh_http_router;

typedef struct wh_server {
  char *url;      /* "url" */
  int64_t weight; /* "weight"; weight_set tells explicit 0 from absent (default 1) */
  bool weight_set;
  bool preserve_path; /* "preservePath" */
  /* label-only ("port", "scheme"): turned into url by the docker provider; never encoded */
  char *port;
  char *scheme;
} wh_server;

typedef struct wh_cookie {
  char *name;      /* "name" */
  bool secure;     /* "secure" */
  bool http_only;  /* "httpOnly" */
  char *same_site; /* "sameSite": "", none, lax, strict */
  int64_t max_age; /* "maxAge" */
  char *path;      /* "path" [/] */
  char *domain;    /* "domain" */
} wh_cookie;

typedef struct wh_sticky {
  wh_cookie *cookie; /* "cookie" (ALLOW_EMPTY) */
} wh_sticky;

typedef struct wh_health_check {
  char *scheme, *mode, *path, *method; /* mode [http], method [GET] */
  int64_t status;
  int64_t port;
  wh_duration interval;           /* [30s] */
  wh_duration unhealthy_interval; /* "unhealthyInterval" [= interval when 0] */
  wh_duration timeout;            /* [5s] */
  char *hostname;
  bool follow_redirects; /* "followRedirects" [true] */
  wh_strmap headers;
} wh_health_check;

typedef struct wh_passive_health_check {
  wh_duration failure_window;  /* "failureWindow" [10s] */
  int64_t max_failed_attempts; /* "maxFailedAttempts" [1] */
} wh_passive_health_check;

typedef struct wh_response_forwarding {
  wh_duration flush_interval; /* "flushInterval" [100ms] */
} wh_response_forwarding;

typedef struct wh_lb_service {
  wh_list servers;                               /* of wh_server, "servers" */
  char *strategy;                                /* "strategy" [wrr] */
  wh_sticky *sticky;                             /* "sticky" */
  wh_health_check *health_check;                 /* "healthCheck" */
  wh_passive_health_check *passive_health_check; /* "passiveHealthCheck" */
  bool pass_host_header;                         /* "passHostHeader" [true], always encoded */
  wh_response_forwarding *response_forwarding;   /* "responseForwarding" */
  char *servers_transport;                       /* "serversTransport" */
} wh_lb_service;

typedef struct wh_weighted_ref {
  char *name;     /* "name" */
  int64_t weight; /* "weight" [1 when absent] */
  bool weight_set;
} wh_weighted_ref;

typedef struct wh_weighted_service {
  wh_list services; /* of wh_weighted_ref */
  wh_sticky *sticky;
  wh_health_check *health_check; /* "healthCheck" (empty struct in Traefik) */
} wh_weighted_service;

typedef struct wh_mirror_ref {
  char *name;
  int64_t percent;
} wh_mirror_ref;

typedef struct wh_mirroring_service {
  char *service;
  bool mirror_body;      /* "mirrorBody" [true] */
  int64_t max_body_size; /* "maxBodySize" [-1] */
  wh_list mirrors;       /* of wh_mirror_ref */
  wh_health_check *health_check;
} wh_mirroring_service;

typedef struct wh_failover_service {
  char *service;
  char *fallback;
  wh_health_check *health_check;
} wh_failover_service;

typedef struct wh_http_service {
  wh_lb_service *load_balancer;    /* "loadBalancer" */
  wh_weighted_service *weighted;   /* "weighted" */
  wh_mirroring_service *mirroring; /* "mirroring" */
  wh_failover_service *failover;   /* "failover" */
} wh_http_service;

/* A middleware is one of the registered types (middleware/registry.c): exactly
 * one of cfg[] is set, at the index of its type in the registry. The schema
 * for this struct is built at start-up from the registry
 * (wh_dynamic_register_middleware_types), one STRUCT_PTR field per type. */
#define WH_MW_MAX_TYPES 48
typedef struct wh_middleware {
  void *cfg[WH_MW_MAX_TYPES];
} wh_middleware;

typedef struct wh_forwarding_timeouts {
  wh_duration dial_timeout;            /* "dialTimeout" [30s] */
  wh_duration response_header_timeout; /* "responseHeaderTimeout" [0] */
  wh_duration idle_conn_timeout;       /* "idleConnTimeout" [90s] */
  wh_duration read_idle_timeout;       /* "readIdleTimeout" */
  wh_duration ping_timeout;            /* "pingTimeout" [15s] */
} wh_forwarding_timeouts;

typedef struct wh_spiffe {
  wh_strlist ids;     /* "ids" */
  char *trust_domain; /* "trustDomain" */
} wh_spiffe;

typedef struct wh_servers_transport {
  char *server_name;                           /* "serverName" */
  bool insecure_skip_verify;                   /* "insecureSkipVerify" */
  wh_strlist root_cas;                         /* "rootCAs" */
  wh_list certificates;                        /* of wh_cert_files */
  int64_t max_idle_conns_per_host;             /* "maxIdleConnsPerHost" */
  wh_forwarding_timeouts *forwarding_timeouts; /* "forwardingTimeouts" */
  bool disable_http2;                          /* "disableHTTP2" */
  char *peer_cert_uri;                         /* "peerCertURI" */
  wh_spiffe *spiffe;                           /* "spiffe" */
} wh_servers_transport;

/* ---- TCP ---- */
typedef struct wh_tcp_router_tls {
  bool passthrough; /* "passthrough" */
  char *options;
  char *cert_resolver;
  wh_list domains; /* of wh_domain */
} wh_tcp_router_tls;

typedef struct wh_tcp_router {
  wh_strlist entry_points;
  wh_strlist middlewares;
  char *service;
  char *rule;
  char *rule_syntax;
  int64_t priority;
  wh_tcp_router_tls *tls; /* ALLOW_EMPTY */
} wh_tcp_router;

typedef struct wh_tcp_server {
  char *address; /* "address" host:port */
  char *port;    /* label-only, never encoded */
  bool tls;      /* "tls" */
} wh_tcp_server;

typedef struct wh_proxy_protocol {
  int64_t version; /* "version" [2] */
} wh_proxy_protocol;

typedef struct wh_tcp_lb_service {
  wh_list servers;                   /* of wh_tcp_server */
  wh_proxy_protocol *proxy_protocol; /* "proxyProtocol" (deprecated in v3) */
  wh_duration termination_delay;     /* "terminationDelay" (deprecated in v3) */
  bool termination_delay_set;
  char *servers_transport; /* "serversTransport" */
} wh_tcp_lb_service;

typedef struct wh_tcp_weighted_service {
  wh_list services; /* of wh_weighted_ref */
} wh_tcp_weighted_service;

typedef struct wh_tcp_service {
  wh_tcp_lb_service *load_balancer;
  wh_tcp_weighted_service *weighted;
} wh_tcp_service;

typedef struct wh_tcp_tls_client {
  char *server_name;
  bool insecure_skip_verify;
  wh_strlist root_cas;
  wh_list certificates; /* of wh_cert_files */
  char *peer_cert_uri;
  wh_spiffe *spiffe;
} wh_tcp_tls_client;

typedef struct wh_tcp_servers_transport {
  wh_duration dial_keep_alive;   /* "dialKeepAlive" [15s] */
  wh_duration dial_timeout;      /* "dialTimeout" [30s] */
  wh_duration termination_delay; /* "terminationDelay" [100ms] */
  wh_tcp_tls_client *tls;        /* "tls" */
} wh_tcp_servers_transport;

/* ---- UDP ---- */
typedef struct wh_udp_router {
  wh_strlist entry_points;
  char *service;
} wh_udp_router;

typedef struct wh_udp_server {
  char *address;
  char *port; /* label-only */
} wh_udp_server;

typedef struct wh_udp_lb_service {
  wh_list servers; /* of wh_udp_server */
} wh_udp_lb_service;

typedef struct wh_udp_service {
  wh_udp_lb_service *load_balancer;
  wh_tcp_weighted_service *weighted;
} wh_udp_service;

/* ---- TLS ---- */
typedef struct wh_tls_certificate {
  char *cert_file;
  char *key_file; /* never encoded */
  wh_strlist stores;
} wh_tls_certificate;

typedef struct wh_client_auth {
  wh_strlist ca_files;    /* "caFiles" */
  char *client_auth_type; /* "clientAuthType" */
} wh_client_auth;

typedef struct wh_tls_options {
  char *min_version;                /* "minVersion" [VersionTLS12] */
  char *max_version;                /* "maxVersion" */
  wh_strlist cipher_suites;         /* "cipherSuites" */
  wh_strlist curve_preferences;     /* "curvePreferences" */
  wh_client_auth client_auth;       /* "clientAuth" (embedded) */
  bool sni_strict;                  /* "sniStrict" */
  wh_strlist alpn_protocols;        /* "alpnProtocols" [h2,http/1.1,acme-tls/1] */
  bool disable_session_tickets;     /* "disableSessionTickets" */
  bool prefer_server_cipher_suites; /* deprecated, accepted */
} wh_tls_options;

typedef struct wh_generated_cert {
  char *resolver;
  wh_domain *domain;
} wh_generated_cert;

typedef struct wh_tls_store {
  wh_cert_files *default_certificate;        /* "defaultCertificate" */
  wh_generated_cert *default_generated_cert; /* "defaultGeneratedCert" */
} wh_tls_store;

/* ---- top level ---- */
typedef struct wh_http_config {
  wh_map routers;            /* name -> wh_http_router */
  wh_map services;           /* name -> wh_http_service */
  wh_map middlewares;        /* name -> wh_middleware */
  wh_map servers_transports; /* name -> wh_servers_transport, "serversTransports" */
} wh_http_config;

typedef struct wh_tcp_config {
  wh_map routers;            /* name -> wh_tcp_router */
  wh_map services;           /* name -> wh_tcp_service */
  wh_map middlewares;        /* name -> wh_middleware (TCP types) */
  wh_map servers_transports; /* name -> wh_tcp_servers_transport */
} wh_tcp_config;

typedef struct wh_udp_config {
  wh_map routers;  /* name -> wh_udp_router */
  wh_map services; /* name -> wh_udp_service */
} wh_udp_config;

typedef struct wh_tls_config {
  wh_list certificates; /* of wh_tls_certificate */
  wh_map options;       /* name -> wh_tls_options */
  wh_map stores;        /* name -> wh_tls_store */
} wh_tls_config;

/* Errors found while decoding one element: they disable that element only. */
typedef struct wh_elem_error {
  char *section; /* "http.routers", "http.services", "http.middlewares",
                    "http.serversTransports", "tcp.routers", ..., "tls.options", "tls.stores" */
  char *name;    /* element name as written (unqualified) */
  wh_errlist errs;
} wh_elem_error;

typedef struct wh_dyn_config {
  wh_http_config *http; /* "http" */
  wh_tcp_config *tcp;   /* "tcp" */
  wh_udp_config *udp;   /* "udp" */
  wh_tls_config *tls;   /* "tls" */
  /* Not part of the schema (never encoded); owned; freed by wh_dyn_config_free. */
  wh_elem_error *elem_errors;
  size_t n_elem_errors;
} wh_dyn_config;

/* Schemas (defined in dynamic.c). */
extern const wh_schema wh_schema_dyn_config;
extern const wh_schema wh_schema_http_router;
extern const wh_schema wh_schema_http_service;
extern const wh_schema wh_schema_servers_transport;
extern const wh_schema wh_schema_tcp_router;
extern const wh_schema wh_schema_tcp_service;
extern const wh_schema wh_schema_tcp_servers_transport;
extern const wh_schema wh_schema_udp_router;
extern const wh_schema wh_schema_udp_service;
extern const wh_schema wh_schema_tls_certificate;
extern const wh_schema wh_schema_tls_options;
extern const wh_schema wh_schema_tls_store;
extern const wh_schema wh_schema_tls_config; /* the whole "tls" section (used to merge) */
/* Shared with the static configuration (entry point tls.domains, the static
 * serversTransport). */
extern const wh_schema wh_schema_domain;
extern const wh_schema wh_schema_forwarding_timeouts;
/* Built by wh_dynamic_register_middleware_types; valid after it returns. Not
 * const: their field tables are filled at start-up; treat them as read-only. */
extern wh_schema wh_schema_http_middleware;
extern wh_schema wh_schema_tcp_middleware;

/* A middleware type as the configuration layer sees it. The files of middleware/ each
 * define one; middleware/registry.c lists them. The runtime hooks
 * (on_request, ...) are added to this table by the data plane. */
typedef enum { WH_MW_HTTP = 1, WH_MW_TCP = 2 } wh_mw_proto;
struct wh_mw_exchange;

struct sockaddr;

typedef struct wh_mw_type {
  const char *name; /* Traefik's key: "headers", "rateLimit", "ipAllowList" */
  wh_mw_proto proto;
  const wh_schema *schema; /* the type's options */
  /* A deprecated alias (v2 "ipWhiteList") points at its replacement's name. */
  const char *alias_of;
  /* WH_FF_* flags for this type's field in the middleware schema:
   * ALLOW_EMPTY ("compress=true"), DEPRECATED (aliases). */
  unsigned field_flags;
  /* Request hook (lib/http/exchange.h): WH_MW_NEXT to go on down the chain,
   * WH_MW_DONE when the middleware answered. NULL while the type has no
   * runtime yet: a router using it then fails closed (500, logged). */
  int (*on_request)(const void *cfg, struct wh_mw_exchange *x);
  /* chain: the (unqualified) names of the members, which the data plane
   * runs in its place; NULL for every other type. */
  const wh_strlist *(*members)(const void *cfg);
  /* TCP connection hook (TCP types): WH_MW_NEXT (0) accepts, WH_MW_DONE (1)
   * closes the connection. name is the middleware's qualified name. A type
   * that counts connections returns a token in *hold, handed back to
   * on_conn_end when the connection ends (any thread; tokens are shared by
   * all workers). NULL on_conn: the router fails closed. */
  int (*on_conn)(const void *cfg, const char *name, const struct sockaddr *client, void **hold);
  void (*on_conn_end)(void *hold);
} wh_mw_type;

/* Registers the middleware types (at most WH_MW_MAX_TYPES per proto) and
 * builds wh_schema_http_middleware / wh_schema_tcp_middleware. Call once at
 * start-up, before any decoding. types is borrowed for the process lifetime. */
int wh_dynamic_register_middleware_types(const wh_mw_type *const *types, size_t n);
/* The registered type of a middleware element and its config (NULL when the
 * element sets no type or more than one; *count says how many were set). */
const wh_mw_type *wh_middleware_type(const wh_middleware *m, wh_mw_proto proto, void **cfg,
                                     size_t *count);

/* Decodes a whole dynamic configuration tree element by element. An error
 * inside an element (unknown key, bad value, failed validate hook) is
 * recorded in elem_errors for that element, which is still present in its
 * map with whatever could be decoded; errors outside any element (unknown
 * section "htp", a section that is not a map) go to errs. Returns a new
 * config (NULL only on OOM). source is borrowed for messages. */
wh_dyn_config *wh_dyn_config_decode(const wh_node *root, const char *source, wh_errlist *errs);
void wh_dyn_config_free(wh_dyn_config *c);

#endif
