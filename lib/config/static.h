/* Static configuration, as Traefik accepts it (TRAEFIK-COMPAT.md §5): one
 * source among a YAML file, CLI flags and TRAEFIK_/WHARF_ environment
 * variables, decoded through the schema tables in static.c. */
#ifndef WH_CONFIG_STATIC_H
#define WH_CONFIG_STATIC_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/config/dynamic.h"
#include "lib/config/schema.h"

typedef struct wh_ep_redirect {
  char *to;         /* "to": entry point name or ":port" */
  char *scheme;     /* "scheme" [https] */
  bool permanent;   /* "permanent" [true] */
  int64_t priority; /* "priority" [MaxInt-1 = 9223372036854775806] */
} wh_ep_redirect;

typedef struct wh_ep_redirections {
  wh_ep_redirect *entry_point; /* "entryPoint" */
} wh_ep_redirections;

typedef struct wh_ep_http_tls {
  char *options;
  char *cert_resolver;
  wh_list domains; /* of wh_domain */
} wh_ep_http_tls;

typedef struct wh_ep_encoded_chars {
  bool allow_encoded_slash, allow_encoded_back_slash, allow_encoded_null_character,
      allow_encoded_semicolon, allow_encoded_percent, allow_encoded_question_mark,
      allow_encoded_hash; /* "allowEncodedSlash", ...; all default true */
} wh_ep_encoded_chars;

typedef struct wh_ep_http {
  wh_ep_redirections *redirections; /* "redirections" */
  wh_strlist middlewares;           /* "middlewares" */
  wh_ep_http_tls *tls;              /* "tls" (ALLOW_EMPTY) */
  bool sanitize_path;               /* "sanitizePath" [true] */
  bool sanitize_path_set;
  wh_ep_encoded_chars *encoded_characters; /* "encodedCharacters" */
} wh_ep_http;

typedef struct wh_ep_forwarded_headers {
  wh_strlist trusted_ips;              /* "trustedIPs" */
  bool insecure;                       /* "insecure" */
  wh_strlist connection;               /* "connection" (v3.x) */
  bool not_append_x_forwarded_for;     /* "notAppendXForwardedFor" */
  bool add_x_forwarded_scheme_headers; /* "addXForwardedSchemeHeaders" */
} wh_ep_forwarded_headers;

typedef struct wh_ep_proxy_protocol {
  wh_strlist trusted_ips; /* "trustedIPs" */
  bool insecure;
} wh_ep_proxy_protocol;

typedef struct wh_ep_responding_timeouts {
  wh_duration read_timeout;  /* "readTimeout" [60s] */
  wh_duration write_timeout; /* "writeTimeout" [0] */
  wh_duration idle_timeout;  /* "idleTimeout" [180s] */
} wh_ep_responding_timeouts;

typedef struct wh_ep_life_cycle {
  wh_duration request_accept_grace_timeout; /* "requestAcceptGraceTimeout" [0] */
  wh_duration grace_time_out;               /* "graceTimeOut" [10s] */
} wh_ep_life_cycle;

typedef struct wh_ep_transport {
  wh_ep_responding_timeouts responding_timeouts; /* "respondingTimeouts" (embedded) */
  wh_ep_life_cycle life_cycle;                   /* "lifeCycle" (embedded) */
  int64_t keep_alive_max_requests;               /* "keepAliveMaxRequests" */
  wh_duration keep_alive_max_time;               /* "keepAliveMaxTime" */
} wh_ep_transport;

typedef struct wh_ep_http2 {
  int64_t max_concurrent_streams; /* [250] */
} wh_ep_http2;

typedef struct wh_ep_udp {
  wh_duration timeout; /* [3s] */
} wh_ep_udp;

typedef struct wh_entrypoint {
  char *address;                              /* "address": [host]:port[/tcp|/udp] */
  bool as_default;                            /* "asDefault" */
  wh_ep_http http;                            /* "http" (embedded) */
  wh_ep_forwarded_headers *forwarded_headers; /* "forwardedHeaders" */
  wh_ep_proxy_protocol *proxy_protocol;       /* "proxyProtocol" */
  wh_ep_transport transport;                  /* "transport" (embedded) */
  wh_ep_http2 *http2;                         /* "http2" */
  wh_ep_udp *udp;                             /* "udp" */
  /* filled by wh_static_finish from address: */
  char *host; /* "" = all addresses */
  int port;
  bool is_udp;
} wh_entrypoint;

typedef struct wh_file_provider {
  char *filename;                    /* "filename" */
  char *directory;                   /* "directory" */
  bool watch;                        /* "watch" [true] */
  bool debug_log_generated_template; /* "debugLogGeneratedTemplate" */
} wh_file_provider;

typedef struct wh_client_tls {
  char *ca, *cert, *key; /* "ca", "cert", "key" */
  bool insecure_skip_verify;
} wh_client_tls;

typedef struct wh_docker_provider {
  char *endpoint;          /* [unix:///var/run/docker.sock] */
  bool exposed_by_default; /* "exposedByDefault" [true] */
  char *network;
  bool use_bind_port_ip; /* "useBindPortIP" */
  bool watch;            /* [true] */
  char *constraints;
  char *default_rule;              /* "defaultRule" [Host(`{{ normalize .Name }}`)] */
  bool allow_empty_services;       /* "allowEmptyServices" */
  wh_duration http_client_timeout; /* "httpClientTimeout" */
  wh_client_tls *tls;
  char *username;
  char *password; /* SECRET */
  /* v2 only */
  bool swarm_mode;                        /* "swarmMode" (deprecated) */
  wh_duration swarm_mode_refresh_seconds; /* "swarmModeRefreshSeconds" [15s] */
} wh_docker_provider;

typedef struct wh_swarm_provider {
  char *endpoint;
  bool exposed_by_default;
  char *network;
  bool use_bind_port_ip;
  bool watch;
  char *constraints;
  char *default_rule;
  bool allow_empty_services;
  wh_duration http_client_timeout;
  wh_client_tls *tls;
  char *username;
  char *password;
  wh_duration refresh_seconds; /* "refreshSeconds" [15s] */
} wh_swarm_provider;

typedef struct wh_providers {
  wh_duration providers_throttle_duration; /* "providersThrottleDuration" [2s] */
  wh_file_provider *file;                  /* "file" (ALLOW_EMPTY) */
  wh_docker_provider *docker;              /* "docker" (ALLOW_EMPTY) */
  wh_swarm_provider *swarm;                /* "swarm" (ALLOW_EMPTY) */
} wh_providers;

typedef struct wh_api {
  bool insecure;             /* "insecure" */
  bool dashboard;            /* "dashboard" [true] */
  bool debug;                /* "debug" */
  char *base_path;           /* "basePath" [/] */
  bool disable_dashboard_ad; /* "disableDashboardAd" */
} wh_api;

typedef struct wh_ping {
  char *entry_point;               /* "entryPoint" [traefik] */
  bool manual_routing;             /* "manualRouting" */
  int64_t terminating_status_code; /* "terminatingStatusCode" [503] */
} wh_ping;

typedef struct wh_prometheus {
  wh_floatlist buckets;         /* [0.1,0.3,1.2,5.0] */
  bool add_entry_points_labels; /* [true] */
  bool add_routers_labels;      /* [false] */
  bool add_services_labels;     /* [true] */
  char *entry_point;            /* [traefik] */
  bool manual_routing;
  wh_strmap header_labels; /* "headerLabels" */
} wh_prometheus;

typedef struct wh_metrics {
  wh_prometheus *prometheus; /* ALLOW_EMPTY */
  bool add_internals;        /* "addInternals" */
} wh_metrics;

typedef struct wh_log_config {
  char *level;     /* [ERROR] */
  char *format;    /* [common] common|json */
  char *file_path; /* "filePath" */
  bool no_color;   /* "noColor" */
} wh_log_config;

typedef struct wh_accesslog_filters {
  wh_strlist status_codes;  /* "statusCodes": "200", "300-302" */
  bool retry_attempts;      /* "retryAttempts" */
  wh_duration min_duration; /* "minDuration" */
} wh_accesslog_filters;

typedef struct wh_accesslog_header_fields {
  char *default_mode; /* [drop] keep|drop|redact */
  wh_strmap names;
} wh_accesslog_header_fields;

typedef struct wh_accesslog_fields {
  char *default_mode; /* [keep] */
  wh_strmap names;
  wh_accesslog_header_fields *headers;
} wh_accesslog_fields;

typedef struct wh_accesslog {
  char *file_path;        /* "filePath" */
  char *format;           /* [common] common|genericCLF|json */
  int64_t buffering_size; /* "bufferingSize" */
  wh_accesslog_filters *filters;
  wh_accesslog_fields *fields;
  bool add_internals; /* "addInternals" */
} wh_accesslog;

typedef struct wh_acme_http_challenge {
  char *entry_point; /* "entryPoint" */
} wh_acme_http_challenge;

typedef struct wh_acme_tls_challenge {
  int unused; /* empty struct: presence is what matters */
} wh_acme_tls_challenge;

/* v3.3+. Its presence matters: without it lego's defaults apply (every
 * resolver and the authoritative nameservers must answer). */
typedef struct wh_acme_propagation {
  bool disable_checks;             /* "disableChecks" */
  bool disable_ans_checks;         /* "disableANSChecks": no authoritative nameserver check */
  bool require_all_rns;            /* "requireAllRNS": every resolver must answer */
  wh_duration delay_before_checks; /* "delayBeforeChecks" */
} wh_acme_propagation;

typedef struct wh_acme_dns_challenge {
  char *provider;
  wh_duration delay_before_check; /* "delayBeforeCheck" (v2, deprecated) */
  wh_strlist resolvers;
  bool disable_propagation_check;   /* "disablePropagationCheck" (v2, deprecated) */
  wh_acme_propagation *propagation; /* (ALLOW_EMPTY) */
} wh_acme_dns_challenge;

typedef struct wh_acme_eab {
  char *kid;
  char *hmac_encoded; /* "hmacEncoded", SECRET */
} wh_acme_eab;

typedef struct wh_acme {
  char *email;
  char *ca_server;            /* "caServer" [https://acme-v02.api.letsencrypt.org/directory] */
  wh_strlist ca_certificates; /* "caCertificates" */
  bool ca_system_cert_pool;   /* "caSystemCertPool": keep the system roots with caCertificates */
  char *preferred_chain;
  char *storage;                     /* [acme.json] */
  char *key_type;                    /* "keyType" [RSA4096] */
  wh_duration certificates_duration; /* "certificatesDuration" [2160h]; int hours in Traefik */
  wh_duration client_timeout;        /* [2m] */
  wh_duration client_response_header_timeout; /* [30s] */
  wh_acme_eab *eab;
  wh_acme_http_challenge *http_challenge; /* "httpChallenge" */
  wh_acme_tls_challenge *tls_challenge;   /* "tlsChallenge" (ALLOW_EMPTY) */
  wh_acme_dns_challenge *dns_challenge;   /* "dnsChallenge" */
} wh_acme;

typedef struct wh_cert_resolver {
  wh_acme *acme;
} wh_cert_resolver;

typedef struct wh_static_servers_transport {
  bool insecure_skip_verify;
  wh_strlist root_cas;
  int64_t max_idle_conns_per_host; /* [200] */
  wh_forwarding_timeouts *forwarding_timeouts;
} wh_static_servers_transport;

/* tcpServersTransport: the default for TCP services without a transport. */
typedef struct wh_static_tcp_tls {
  bool insecure_skip_verify;
  wh_strlist root_cas;
} wh_static_tcp_tls;

typedef struct wh_static_tcp_servers_transport {
  wh_duration dial_keep_alive;   /* [15s] */
  wh_duration dial_timeout;      /* [30s] */
  wh_duration termination_delay; /* [100ms] */
  wh_static_tcp_tls *tls;        /* for servers with tls: true */
} wh_static_tcp_servers_transport;

typedef struct wh_core {
  char *default_rule_syntax; /* "defaultRuleSyntax" [v3] */
} wh_core;

typedef struct wh_global {
  bool check_new_version;
  bool send_anonymous_usage;
} wh_global;

typedef struct wh_wharf_opts {
  int64_t workers; /* "workers" [0 = number of CPUs] */
} wh_wharf_opts;

typedef struct wh_static_config {
  wh_global *global;
  wh_core *core;
  wh_map entry_points; /* "entryPoints": name -> wh_entrypoint */
  wh_providers *providers;
  wh_api *api;   /* ALLOW_EMPTY */
  wh_ping *ping; /* ALLOW_EMPTY */
  wh_metrics *metrics;
  wh_log_config *log;
  wh_accesslog *access_log;                               /* "accessLog" (ALLOW_EMPTY) */
  wh_static_servers_transport *servers_transport;         /* "serversTransport" */
  wh_static_tcp_servers_transport *tcp_servers_transport; /* "tcpServersTransport" */
  wh_map certificates_resolvers; /* "certificatesResolvers": name -> wh_cert_resolver */
  /* wharf's own: number of worker threads (0 = number of CPUs) */
  struct wh_wharf_opts *wharf; /* "wharf" */
} wh_static_config;

extern const wh_schema wh_schema_static_config;

/* Where the effective configuration came from, for logs and `wharf check`. */
typedef enum {
  WH_STATIC_SRC_NONE = 0,
  WH_STATIC_SRC_FILE,
  WH_STATIC_SRC_FLAGS,
  WH_STATIC_SRC_ENV
} wh_static_source;

/* Loads the static configuration the way Traefik does: --configFile (or the
 * default search paths) first, else the flags, else TRAEFIK_* / WHARF_*
 * environment variables (mutually exclusive; the first that yields anything
 * wins). argv excludes the program name and subcommand. envp as in main.
 * Then applies implicit entry points (http on :80 when none; traefik on :8080
 * when api.insecure or ping/metrics use their default entry point), resolves
 * addresses and validates cross references. Returns a new config, or NULL
 * with errors in errs. *src_desc (may be NULL) receives a malloc'd description
 * of the source ("file /etc/traefik/traefik.yml", "flags", "environment"). */
wh_static_config *wh_static_load(int argc, char **argv, char **envp, wh_errlist *errs,
                                 char **src_desc);
void wh_static_free(wh_static_config *c);
/* Post-decoding step used by wh_static_load (exposed for tests). */
int wh_static_finish(wh_static_config *c, wh_errlist *errs);
/* Whether the process runs in a container: root/.dockerenv or
 * root/run/.containerenv exists (root "" is the real root). */
bool wh_static_in_container(const char *root);
/* The address of the implicit `traefik` entry point (API, dashboard, ping,
 * metrics): Traefik binds ":8080" on every interface; wharf binds loopback
 * unless it runs in a container, where only a published port reaches it
 * (docs/operations/admin.md). */
const char *wh_static_internal_ep_address(bool in_container);

/* JSON of the static configuration (secrets omitted); for the API. */
struct cJSON *wh_static_encode(const wh_static_config *c);

#endif
