/* Which certificates the configuration wants from each ACME resolver: the
 * domain sets of the routers whose tls.certResolver names it (Traefik's
 * watchNewDomains). Pure functions of a built runtime and the static
 * configuration; the manager (manager.c) decides what to order. */
#ifndef WH_ACME_DOMAINS_H
#define WH_ACME_DOMAINS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/config/runtime.h"
#include "lib/config/static.h"
#include "lib/core/err.h"

/* One domain set a router wants from a resolver. Everything is owned. */
typedef struct wh_acme_want {
  char *resolver; /* a resolver of certificatesResolvers */
  char *router;   /* qualified router name ("web@file"), for logs */
  /* lowercased, trailing dots removed, de-duplicated, in the order given:
   * names[0] is the main domain (the CN), the others the SANs; n >= 1 */
  char **names;
  size_t n;
} wh_acme_want;

typedef struct wh_acme_wants {
  wh_acme_want *v;
  size_t n;
} wh_acme_wants;

/* Appends to out, in router order (HTTP then TCP, by qualified name), the
 * domain set of every router naming a resolver, whatever its status:
 *  - HTTP routers with their own tls.certResolver, and routers without a tls
 *    section on an entry point whose http.tls.certResolver is set (Traefik
 *    copies the entry point's tls section into such routers);
 *  - TCP routers with tls.certResolver;
 *  - each entry of tls.domains ({main, sans}) is one set; without
 *    tls.domains, the hosts of the rule's Host(...) matchers (HostSNI(...)
 *    for TCP; HostSNI(`*`) names nothing) form one set, the first host the
 *    main domain, as Traefik's ParseDomains gives them.
 * Identical sets (same resolver, same names in any order) are kept once.
 * Problems are appended to errs (may be NULL), one message each, naming the
 * router, and the set is skipped: a resolver that does not exist (Traefik:
 * "Router uses a non-existent certificate resolver"), a wildcard for a
 * resolver without dnsChallenge, "*.*" or a '*' anywhere but a leading
 * "*." label. 0, or WH_ENOMEM (out holds what was collected). */
int wh_acme_domains_collect(const wh_static_config *stat, const wh_runtime *rt, wh_acme_wants *out,
                            wh_errlist *errs);
void wh_acme_wants_free(wh_acme_wants *w); /* NULL-safe; leaves it empty */

/* Traefik's MatchDomain, for one label: name equal to pattern (ASCII case
 * ignored), or pattern "*.<rest>" with name "<label>.<rest>", label
 * non-empty. */
bool wh_acme_name_matches(const char *name, const char *pattern);

/* Whether the sets a (n names) and b (m names) hold the same names, in any
 * order, ASCII case ignored. */
bool wh_acme_names_equal(const char *const *a, size_t n, const char *const *b, size_t m);

#endif
