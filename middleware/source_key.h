/* State keyed by request source, shared by rateLimit and inFlightReq:
 *
 * - which source a request belongs to (sourceCriterion: ipStrategy depth /
 *   excludedIPs / ipv6Subnet, requestHeaderName, requestHost; by default the
 *   socket's remote IP, never X-Forwarded-For unless configured, HARDENING 19),
 *   exactly as Traefik's pkg/ip/strategy.go and middlewares.GetSourceExtractor;
 * - a process-wide registry of per-middleware state, keyed by the qualified
 *   name and a fingerprint of the options, so that every worker thread sees
 *   the same counters and a configuration reload that leaves a middleware
 *   unchanged keeps them (a changed one starts fresh);
 * - the keyed hash table and the monotonic clock both use.
 *
 * Everything here is thread-safe unless said otherwise. */
#ifndef WH_MW_SOURCE_KEY_H
#define WH_MW_SOURCE_KEY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/core/str.h"
#include "lib/http/exchange.h"
#include "lib/net/ipset.h"
#include "middleware/common_criteria.h"

/* ---- which source ---- */

typedef enum {
  WH_MW_SRC_REMOTE = 0, /* socket peer (ipStrategy without depth/excludedIPs, or none) */
  WH_MW_SRC_DEPTH,      /* ipStrategy.depth: Nth X-Forwarded-For entry from the right */
  WH_MW_SRC_POOL,       /* ipStrategy.excludedIPs: rightmost XFF entry not excluded */
  WH_MW_SRC_HEADER,     /* requestHeaderName */
  WH_MW_SRC_HOST        /* requestHost */
} wh_mw_src_kind;

/* A sourceCriterion compiled once (excludedIPs parsed). Immutable after init. */
typedef struct wh_mw_source_spec {
  wh_mw_src_kind kind;
  int64_t depth;
  int ipv6_subnet;   /* 0 = keep the full address */
  wh_ipset *exclude; /* owned; POOL only */
  char *header;      /* owned; HEADER only */
} wh_mw_source_spec;

/* c NULL (or with no kind set) selects the remote IP. Returns 0, WH_ENOMEM,
 * or WH_EINVAL when an excludedIPs entry does not parse (*bad then names it,
 * borrowed from c). On error s holds nothing to free. */
int wh_mw_source_spec_init(wh_mw_source_spec *s, const wh_mw_source_criterion *c, const char **bad);
void wh_mw_source_spec_free(wh_mw_source_spec *s);

/* Appends the request's source to out (which the caller owns): an IP as
 * text, a header value, the Host, or "" when the criterion finds nothing
 * (Traefik groups all such requests together). Headers are read as the next
 * handler will see them; X-Forwarded-For as Traefik's entry point leaves it:
 * absent unless x->fwd_trusted (or a middleware set it), several lines
 * joined. 0 or WH_ENOMEM. */
int wh_mw_source_get(const wh_mw_source_spec *s, const wh_mw_exchange *x, wh_strbuf *out);

/* Folds the criterion's options into a fingerprint (see wh_mw_fp_*). */
uint64_t wh_mw_source_fp(uint64_t fp, const wh_mw_source_criterion *c);

/* ---- fingerprints and hashing ---- */

/* Keyed (per-process random key) SipHash of a byte string: table hashes of
 * client-chosen sources cannot be steered into one chain. */
uint64_t wh_mw_hash(const void *p, size_t n);
/* FNV-1a folding of option values into a fingerprint. Start from
 * WH_MW_FP_INIT. Strings are folded with their length (NULL differs from ""). */
#define WH_MW_FP_INIT 0xcbf29ce484222325ULL
uint64_t wh_mw_fp_bytes(uint64_t fp, const void *p, size_t n);
uint64_t wh_mw_fp_i64(uint64_t fp, int64_t v);
uint64_t wh_mw_fp_str(uint64_t fp, const char *s);

/* ---- clock ---- */

/* CLOCK_MONOTONIC in nanoseconds, or the test clock when one is set. */
int64_t wh_mw_clock_ns(void);
/* Tests only: replaces the clock (NULL restores CLOCK_MONOTONIC). Not
 * thread-safe against concurrent wh_mw_clock_ns callers of the switch itself. */
void wh_mw_clock_set(int64_t (*now_ns)(void));

/* ---- a chained hash table of string keys (not locked: the owner locks) ---- */

typedef struct wh_mw_keynode {
  struct wh_mw_keynode *hnext;
  uint64_t hash;
  const char *key; /* borrowed from the embedding node */
} wh_mw_keynode;

typedef struct wh_mw_keytab {
  wh_mw_keynode **heads; /* owned */
  size_t nheads, n;
} wh_mw_keytab;

wh_mw_keynode *wh_mw_keytab_find(const wh_mw_keytab *t, const char *key, uint64_t hash);
/* Links n (key and hash set by the caller; n stays the caller's). Grows the
 * table when needed. 0 or WH_ENOMEM (then n is not linked). */
int wh_mw_keytab_insert(wh_mw_keytab *t, wh_mw_keynode *n);
void wh_mw_keytab_remove(wh_mw_keytab *t, wh_mw_keynode *n);
void wh_mw_keytab_free(wh_mw_keytab *t); /* frees the heads, not the nodes */

/* ---- registry of per-middleware state ---- */

typedef struct wh_mw_state wh_mw_state;

typedef struct wh_mw_state_ops {
  const char *kind; /* the middleware type, part of the identity */
  /* Frees the state embedding st (only ever called with no reference held). */
  void (*destroy)(wh_mw_state *st);
  /* How long the state must have gone unused before it may be dropped:
   * long enough that nothing it holds still matters (bucket TTL). */
  int64_t (*keep_ns)(const wh_mw_state *st);
} wh_mw_state_ops;

/* Embedded as the first member of a middleware's state. */
struct wh_mw_state {
  const wh_mw_state_ops *ops;
  char *name; /* owned: qualified middleware name */
  uint64_t fp;
  atomic_int refs;
  _Atomic int64_t last_used; /* wh_mw_clock_ns() of the last get */
  wh_mw_state *next;         /* registry chain */
};

/* Creates a state for the registry: returns it with ops set, or NULL. */
typedef wh_mw_state *(*wh_mw_state_create_fn)(const void *ctx);

/* The state for (ops->kind, name, fp), created with create(ctx) when there is
 * none. Returns it with a reference the caller gives back with
 * wh_mw_state_put (the state is never freed while referenced), or NULL on
 * OOM / when create fails. */
wh_mw_state *wh_mw_state_get(const wh_mw_state_ops *ops, const char *name, uint64_t fp,
                             wh_mw_state_create_fn create, const void *ctx);
void wh_mw_state_put(wh_mw_state *st);
/* Drops every unreferenced state idle for longer than its keep_ns (this also
 * runs by itself every few seconds from wh_mw_state_get). */
void wh_mw_state_sweep(void);

/* X-Forwarded-For as Traefik's middlewares see it: "" for a peer outside
 * forwardedHeaders.trustedIPs (the entry point would have deleted it), a
 * trusted peer's lines joined with ", " (into tmp when there are several),
 * or the value an earlier middleware set. *oom on allocation failure. */
const char *wh_mw_xff_view(const wh_mw_exchange *x, wh_strbuf *tmp, bool *oom);

#endif
