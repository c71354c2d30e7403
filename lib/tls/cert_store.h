/* The certificates of one TLS store, indexed for SNI selection.
 *
 * Built once on the control thread (new, add..., set_default, finish), then
 * immutable: any number of worker threads may call lookup, default, count and
 * at concurrently without locks. The store holds a reference on every
 * certificate it keeps; freeing the store drops them.
 *
 * Selection rule (deterministic; Traefik's own is "highest matching name in
 * lexical order", which is the same rule where it is deterministic):
 *  1. the SNI is canonicalised (ASCII lowercase, trailing dots removed);
 *  2. a group with that exact name wins;
 *  3. else a group with the wildcard "*.<rest>" where <rest> is the SNI
 *     without its first label (a wildcard covers exactly one label);
 *  4. when several groups carry the same matching name, the one added first
 *     wins (Traefik picks among them in map order, i.e. at random).
 * An exact name always beats a wildcard, as in Traefik ('*' sorts before
 * every character allowed in a host name). */
#ifndef WH_TLS_CERT_STORE_H
#define WH_TLS_CERT_STORE_H

#include <stddef.h>

#include "lib/core/err.h"
#include "lib/tls/certificate.h"

/* The certificates serving one set of names. */
typedef struct wh_cert_group {
  /* Either may be NULL; at least one is set. ec holds the non-RSA certificate:
   * ECDSA, or the rare other kind (Ed25519, RSA-PSS). Borrowed from the store. */
  wh_cert *rsa, *ec;
  /* The group's names: the sorted, de-duplicated name list of the first
   * certificate added, joined with ","; Traefik's certificate key, for the API
   * and logs. Owned by the store. */
  const char *key;
  /* Position in the store: wh_cert_store_at(s, index) is this group, so a
   * caller can keep per-group data (an SSL_CTX) in an array. The default group
   * has index wh_cert_store_count(s) (set by finish), one past the others. */
  size_t index;
} wh_cert_group;

typedef struct wh_cert_store wh_cert_store;

/* NULL on OOM. */
wh_cert_store *wh_cert_store_new(void);

/* Adds a reference to c (the caller keeps its own). Certificates with the same
 * name set and a different key kind join the same group (RSA and ECDSA side by
 * side). A second certificate with the same names and the same kind is not
 * kept: the one added first wins and a warning is appended to warns (may be
 * NULL); this still returns 0. A certificate with no name at all cannot be
 * selected by SNI: a warning is appended and WH_EINVAL returned. WH_EINVAL too
 * after finish or for NULL arguments, WH_ENOMEM on OOM. */
int wh_cert_store_add(wh_cert_store *s, wh_cert *c, wh_errlist *warns);

/* The certificate served when lookup finds nothing (unless sniStrict). Takes a
 * reference to c and drops any previous default. Only before finish (ignored
 * after). NULL clears it. */
void wh_cert_store_set_default(wh_cert_store *s, wh_cert *c);

/* Freezes the store and builds the lookup index. After this, only lookups.
 * 0, WH_ENOMEM (the store stays unfinished), or WH_EINVAL if already done. */
int wh_cert_store_finish(wh_cert_store *s);

/* Selection for name, the SNI as received (any case, trailing dot tolerated;
 * NULL or "" = none), by the rule at the top of this file. Returns the group
 * (borrowed, valid as long as the store) or NULL when nothing matches or the
 * store is not finished: the caller then uses the default or refuses the
 * handshake (sniStrict). Never allocates and takes no lock. */
const wh_cert_group *wh_cert_store_lookup(const wh_cert_store *s, const char *name);

/* The default group (only its cert set), or NULL when none was set. Borrowed. */
const wh_cert_group *wh_cert_store_default(const wh_cert_store *s);

/* Groups in the order their first certificate was added (the default is not
 * counted unless it was also added). at returns NULL for i >= count. */
size_t wh_cert_store_count(const wh_cert_store *s);
const wh_cert_group *wh_cert_store_at(const wh_cert_store *s, size_t i);

/* NULL-safe. Drops the store's references. */
void wh_cert_store_free(wh_cert_store *s);

#endif
