/* Traefik router rule language: parse once into an immutable AST, match many times.
 *
 * Both rule syntaxes are supported: v3 (default) and v2 (gorilla/mux style, variadic
 * matchers, {name:regex} templates), for HTTP and TCP routers. See
 * docs/internals/rules.md for the AST, precedence and regex dialect notes. */
#ifndef WH_RULES_RULES_H
#define WH_RULES_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

typedef enum { WH_RULE_HTTP = 0, WH_RULE_TCP = 1 } wh_rule_proto;
typedef enum { WH_RULE_V3 = 3, WH_RULE_V2 = 2 } wh_rule_syntax;

/* Opaque, immutable after parse; safe to match from several threads at once. */
typedef struct wh_rule wh_rule;

typedef struct wh_rule_error {
  size_t pos; /* 0-based byte offset into the rule text */
  char msg[256];
} wh_rule_error;

#define WH_RULE_MAX_LEN 65536u /* bytes of rule text */
#define WH_RULE_MAX_DEPTH 256u /* nesting of '(' and '!' */

/* Parses text. Returns a rule owned by the caller (free with wh_rule_free), or NULL with
 * *err filled (err may be NULL). Messages look like "unexpected ')' at 14",
 * "unknown matcher \"Hots\" (did you mean \"Host\"?) at 0", "Host: expects 1 argument, got 2 at 0",
 * "PathPrefix: path must start with '/' at 11", "unterminated string at 5"; err->msg always
 * ends with " at <pos>" except for "empty rule". */
wh_rule *wh_rule_parse(const char *text, wh_rule_proto proto, wh_rule_syntax syntax,
                       wh_rule_error *err);
void wh_rule_free(wh_rule *r); /* NULL-safe */
/* Parses "v2"/"v3"/"" (""/NULL -> def). Returns 0 or -1 (unknown value). */
int wh_rule_syntax_parse(const char *s, wh_rule_syntax def, wh_rule_syntax *out);

/* A request as the matcher sees it. Every pointer is borrowed for the duration of the call. */
typedef struct wh_http_req_view {
  const char *method; /* "GET" */
  const char
      *host; /* raw Host header value (may include :port, IPv6 [..]:port), NULL/"" when absent */
  const char *path;  /* routing path: already normalised and %-decoded as TRAEFIK-COMPAT §3 says */
  const char *query; /* raw query string without '?', NULL when none */
  size_t nheaders;
  const char *const *hdr_names; /* header names as received (matched case-insensitively) */
  const char *const *hdr_values;
  const struct sockaddr *client; /* TCP peer (AF_INET or AF_INET6, may be v4-mapped), may be NULL */
} wh_http_req_view;
bool wh_rule_match_http(const wh_rule *r, const wh_http_req_view *req);

typedef struct wh_tcp_conn_view {
  const char *sni; /* any case; NULL/"" when none or not TLS */
  bool is_tls;
  const char *const *alpn; /* ALPN protocols offered by the client */
  size_t nalpn;
  const struct sockaddr *client;
} wh_tcp_conn_view;
bool wh_rule_match_tcp(const wh_rule *r, const wh_tcp_conn_view *conn);

/* For the route table's host index: when every request the rule matches must carry a Host equal
 * to one of a finite set of exact names, stores that set (lowercased, trailing dot removed;
 * borrowed, valid while r lives) in *hosts and returns its size; otherwise returns 0 and the
 * rule must be tried for every host. */
size_t wh_rule_exact_hosts(const wh_rule *r, const char *const **hosts);
/* The request host as wh_rule_exact_hosts spells hosts: trimmed, lowercased, port and IPv6
 * brackets removed, one trailing dot removed. Returns the length written to buf (cap bytes),
 * or (size_t)-1 when it does not fit. */
size_t wh_rule_index_host(const char *raw, char *buf, size_t cap);
/* True when the rule uses the named matcher anywhere (canonical name, e.g. "HostSNI";
 * "Host" also covers the v2 alias HostHeader). */
bool wh_rule_uses(const wh_rule *r, const char *matcher);
/* True when the rule is exactly HostSNI(`*`). */
bool wh_rule_is_catchall_sni(const wh_rule *r);
/* Appends the (lowercased) arguments of every Host/HostHeader (HTTP) or HostSNI (TCP) matcher
 * to a malloc'd array in *out; returns the count (0 leaves *out NULL). The caller frees each
 * string and the array. */
size_t wh_rule_host_values(const wh_rule *r, char ***out);
/* Canonical, re-parsable text of the AST, e.g. "(Host(`a`) && !(Path(`/x`) || Method(`GET`)))".
 * Caller frees. NULL on OOM. */
char *wh_rule_to_string(const wh_rule *r);
/* The syntax and protocol the rule was parsed with. */
wh_rule_syntax wh_rule_get_syntax(const wh_rule *r);
wh_rule_proto wh_rule_get_proto(const wh_rule *r);

#endif
