/* Inside the DNS-01 providers (not for users of lib/acme/dns01.h): the
 * common part of a provider, the operation bookkeeping that lets
 * wh_dns01_free abandon running operations, lego-style environment reading,
 * and the blocking libldns exchanges the providers and the propagation check
 * run on the thread pool. */
#ifndef WH_ACME_DNS01_PROVIDER_H
#define WH_ACME_DNS01_PROVIDER_H

#include <ldns/ldns.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "lib/acme/dns01.h"

/* One present or cleanup; the strings belong to the operation. */
typedef struct wh_dns01_op {
  wh_dns01_provider *p;
  bool present;
  char *domain;   /* as given */
  char *fqdn;     /* "_acme-challenge.<domain>." */
  char *value;    /* wh_dns01_value(key_auth) */
  char *token;    /* "" when not given */
  char *key_auth; /* "" when not given */
  wh_dns01_done_fn done;
  void *arg;
} wh_dns01_op;

typedef struct wh_dns01_ops {
  const char *name;
  /* starts op (owned by the provider from here): 0, or an error after
   * which op is freed by the caller without a callback */
  int (*start)(wh_dns01_op *op);
  /* wh_dns01_free was called: stop what can be stopped; each stopped or
   * later-finishing operation still goes through wh_dns01_op_finish */
  void (*abandon)(wh_dns01_provider *p);
  /* frees the provider's own part; nothing runs any more */
  void (*destroy)(wh_dns01_provider *p);
} wh_dns01_ops;

struct wh_dns01_provider {
  const wh_dns01_ops *ops;
  uv_loop_t *loop;
  uint64_t timeout_ms, interval_ms, sequence_ms;
  size_t pending; /* operations started and not finished */
  bool freed;     /* wh_dns01_free called: callbacks are off */
};

/* Ends op: its callback (unless the provider was freed), then op's memory,
 * and the provider's once freed and idle. status 0 ignores message. */
void wh_dns01_op_finish(wh_dns01_op *op, int status, const char *message);
void wh_dns01_op_free(wh_dns01_op *op);
/* wh_dns01_op_finish on a later turn of the loop, for an operation that
 * ends before anything was started (done never runs inside present). For a
 * start function to return: 0, or WH_ENOMEM (op untouched). message copied. */
int wh_dns01_op_finish_later(wh_dns01_op *op, int status, const char *message);

/* The provider constructors (dns01_<name>.c); p->loop is set by the caller
 * after return. */
wh_dns01_provider *wh_dns01_rfc2136_new(char **envp, char *err, size_t n);
wh_dns01_provider *wh_dns01_cloudflare_new(uv_loop_t *loop, char **envp, char *err, size_t n);
wh_dns01_provider *wh_dns01_exec_new(char **envp, char *err, size_t n);

/* ---- environment, as lego's platform/config/env ---- */

/* The value of name in envp, else the content of the file named by
 * name_FILE (one trailing newline dropped); an empty value counts as unset.
 * Malloc'ed, NULL when unset (or unreadable, or OOM). */
char *wh_dns01_env(char **envp, const char *name);
/* The first of the names that is set (names NULL-terminated). */
char *wh_dns01_env_any(char **envp, const char *const *names);
/* An integer number of seconds (lego's ParseSecond); def_ms when unset or
 * not a non-negative integer, as lego. */
uint64_t wh_dns01_env_seconds(char **envp, const char *const *names, uint64_t def_ms);
/* An integer; def when unset or invalid. */
long wh_dns01_env_int(char **envp, const char *const *names, long def);

/* ---- blocking DNS through libldns (thread pool only) ---- */

/* Splits "host", "host:port", "[v6]", "[v6]:port" into host and port
 * (def_port when absent). host is malloc'ed. 0 or WH_EINVAL. */
int wh_dns01_split_hostport(const char *s, uint16_t def_port, char **host, uint16_t *port);

/* One exchange of query (name, type, RD flag when recursive, EDNS0 4096,
 * TCP when truncated) with the server "host[:port]" (host an address or a
 * name resolved with getaddrinfo). 0 with *reply (caller frees), or an error
 * with a malloc'ed *why. */
int wh_dns01_query(const char *server, const char *name, ldns_rr_type type, bool recursive,
                   uint64_t timeout_ms, ldns_pkt **reply, char **why);
/* lego's dnsQuery: servers in order until one answers with records, else
 * the last reply; an error when none replied. */
int wh_dns01_query_any(const char *const *servers, size_t n, const char *name, ldns_rr_type type,
                       bool recursive, uint64_t timeout_ms, ldns_pkt **reply, char **why);
/* A resolver (no recursion) for "host[:port]" set up as wh_dns01_query's,
 * for callers that send their own packets. NULL with *why. */
ldns_resolver *wh_dns01_resolver(const char *server, uint64_t timeout_ms, char **why);
/* The zone apex of fqdn as lego finds it: SOA queries from fqdn up to the
 * TLD at servers (the first server with an answer), the first name whose
 * answer holds a SOA and no CNAME. Malloc'ed absolute name, or NULL with a
 * malloc'ed *why. */
char *wh_dns01_find_zone(const char *fqdn, const char *const *servers, size_t n,
                         uint64_t timeout_ms, char **why);
/* The nameservers of /etc/resolv.conf as "addr:53", else Google's public
 * resolvers (lego's fallback). *out and its strings malloc'ed. */
int wh_dns01_system_resolvers(char ***out, size_t *n);

#endif
