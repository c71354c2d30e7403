/* DNS-01 challenges (RFC 8555 §8.4): the TXT record
 * "_acme-challenge.<domain>." holding base64url(SHA-256(key authorization)),
 * published through a DNS provider and checked for propagation before the
 * ACME server is asked to validate.
 *
 * Providers and their credentials follow lego (which Traefik uses): the
 * provider name of certificatesResolvers.<r>.acme.dnsChallenge.provider and
 * the environment variables lego reads (see docs/internals/acme.md, "DNS-01").
 * Everything runs on one uv loop (the control loop): HTTP through
 * lib/net/curl_uv, programs through uv_spawn, and the blocking libldns calls
 * (DNS UPDATE, lookups) on the loop's thread pool (uv_queue_work). */
#ifndef WH_ACME_DNS01_H
#define WH_ACME_DNS01_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct wh_dns01_provider wh_dns01_provider;

/* The end of an operation, called exactly once on the loop (never from
 * inside the call that started it): status 0, or a negative WH_* code with
 * message saying why (borrowed for the call; "" on success). */
typedef void (*wh_dns01_done_fn)(void *arg, int status, const char *message);

/* The TXT value for a key authorization: base64url without padding of its
 * SHA-256 (43 characters). out must hold WH_DNS01_VALUE_SIZE bytes. */
#define WH_DNS01_VALUE_SIZE 44
void wh_dns01_value(const char *key_auth, char out[WH_DNS01_VALUE_SIZE]);
/* "_acme-challenge.<domain>." with a leading "*." of a wildcard dropped and
 * a trailing dot of domain not doubled (lego's ChallengeInfo.FQDN; CNAMEs
 * are not followed). Caller frees; NULL on OOM. */
char *wh_dns01_fqdn(const char *domain);

/* A provider by name: "cloudflare", "rfc2136" (alias "dnsupdate", lego's
 * newer name), "exec". Credentials and settings are read from envp (a
 * NULL-terminated "NAME=value" array such as main's envp or environ; read
 * once, here, and copied), each NAME also as NAME_FILE (a file holding the
 * value, one trailing newline dropped), as lego does. NULL with a message in
 * err (n bytes) when the name is unknown or a setting is missing or invalid
 * (the message names the variable). The provider belongs to the caller
 * (wh_dns01_free) and must be used from loop's thread. */
wh_dns01_provider *wh_dns01_new(const char *name, uv_loop_t *loop, char **envp, char *err,
                                size_t n);

/* Publishes (present) or removes (cleanup) the TXT record for the challenge
 * of domain ("example.com" or "*.example.com"), with token and key_auth the
 * challenge's token and key authorization (lego's Present/CleanUp
 * arguments; only exec in RAW mode passes them on as such, the others use
 * wh_dns01_value(key_auth)). The strings are copied. 0 when started (done
 * follows), or WH_ENOMEM / WH_EINVAL (done will not be called). */
int wh_dns01_present(wh_dns01_provider *p, const char *domain, const char *token,
                     const char *key_auth, wh_dns01_done_fn done, void *arg);
int wh_dns01_cleanup(wh_dns01_provider *p, const char *domain, const char *token,
                     const char *key_auth, wh_dns01_done_fn done, void *arg);

/* lego's propagation timeout and polling interval for the provider (its
 * *_PROPAGATION_TIMEOUT / *_POLLING_INTERVAL, else its defaults). */
void wh_dns01_timing(const wh_dns01_provider *p, uint64_t *timeout_ms, uint64_t *interval_ms);
/* lego's Sequential(): the pause between two challenges for providers whose
 * records of one name overwrite each other (rfc2136, exec), else 0. */
uint64_t wh_dns01_sequence_interval(const wh_dns01_provider *p);
const char *wh_dns01_name(const wh_dns01_provider *p);

/* Frees p. Operations still running are abandoned: their done callbacks
 * are not called; a running program is killed, HTTP transfers cancelled,
 * and a DNS exchange already on the thread pool finishes there (bounded by
 * its DNS timeout), its memory released by the loop afterwards: the loop
 * must run again before it is closed. NULL is a no-op. */
void wh_dns01_free(wh_dns01_provider *p);

/* ---- propagation check ---- */

typedef struct wh_dns01_check_opts {
  /* recursive resolvers, "host", "host:port" or "[v6]:port" (port 53 when
   * absent); n == 0: the nameservers of /etc/resolv.conf (lego's default,
   * Google's public resolvers when that file has none) */
  const char *const *resolvers;
  size_t n_resolvers;
  /* every resolver must answer the value (Traefik's propagation.requireAllRNS) */
  bool require_all_resolvers;
  /* lego checks the zone's authoritative nameservers by default: true
   * skips that (Traefik's propagation.disableANSChecks) */
  bool skip_authoritative;
  uint16_t authoritative_port; /* port of the authoritative nameservers; 0: 53 */
  uint64_t timeout_ms;         /* give up after; 0: 60 s (lego's default) */
  uint64_t interval_ms;        /* between attempts; 0: 2 s */
  uint64_t dns_timeout_ms;     /* one DNS exchange; 0: 10 s */
} wh_dns01_check_opts;

typedef struct wh_dns01_check wh_dns01_check;

/* Polls until fqdn (absolute, "_acme-challenge.example.com.") has a TXT
 * record equal to value as lego's default pre-check sees it: a recursive
 * query at the resolvers (a CNAME answer is followed), then, unless
 * skipped, a non-recursive query at each authoritative nameserver of the
 * zone (found by SOA then NS queries at the resolvers; their addresses
 * asked of the resolvers, else of the system), and with
 * require_all_resolvers a recursive query at each resolver. done(arg, 0,
 * "") at the first attempt where all agree, or done(arg, WH_ERR, the last
 * attempt's reason) once timeout_ms has passed. opts and its strings are
 * copied. The handle is the caller's until done is called; NULL on OOM or
 * invalid arguments (done will not be called). */
wh_dns01_check *wh_dns01_check_propagation(uv_loop_t *loop, const char *fqdn, const char *value,
                                           const wh_dns01_check_opts *opts, wh_dns01_done_fn done,
                                           void *arg);
/* Stops a check before its done callback (which is then never called); an
 * attempt running on the thread pool finishes there and its memory is
 * released by the loop afterwards. */
void wh_dns01_check_cancel(wh_dns01_check *c);

#endif
