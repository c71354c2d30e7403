/* An asynchronous RFC 8555 (ACME) client on a libuv loop: the control loop,
 * never a data-plane worker. Every HTTP exchange goes through
 * lib/net/curl_uv (non-blocking), is bounded by clientTimeout (whole
 * transfer) and clientResponseHeaderTimeout (until the response head), and
 * every failure reaches the caller as a problem document, never a crash.
 *
 * What it does for a caller: the directory, nonces (a small pool fed by
 * every Replay-Nonce, HEAD newNonce when empty, badNonce retried), the
 * account (newAccount, with contact, EAB, or onlyReturnExisting), and
 * wh_acme_obtain, the whole issuance: order, authorizations, the challenge
 * through a caller-supplied solver, finalize with a fresh key's CSR, order
 * polling, certificate download (with preferredChain).
 *
 * Threading: one loop; every function and callback on the loop's thread.
 * The only CPU-heavy step, making the certificate key (about a second for
 * RSA 4096), runs on the loop's thread pool (uv_queue_work): the loop must
 * keep running until a freed client's pending work has come back. */
#ifndef WH_ACME_CLIENT_H
#define WH_ACME_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <uv.h>

#include "lib/acme/keys.h"

typedef struct wh_acme_client wh_acme_client;

/* An error: an ACME problem document (RFC 8555 §6.7) as the server sent it,
 * or one made here for a transport failure (type "urn:wharf:acme:transport",
 * status 0), an unexpected answer ("urn:wharf:acme:protocol") or a solver
 * failure ("urn:wharf:acme:solver"). Borrowed: valid during the callback
 * only. */
typedef struct wh_acme_problem {
  const char *type;      /* never NULL */
  const char *detail;    /* never NULL; for a failed challenge, the challenge's error */
  int status;            /* HTTP status, 0 when no response */
  bool rate_limited;     /* urn:ietf:params:acme:error:rateLimited: back off */
  int64_t retry_after_s; /* the server's Retry-After (seconds), 0 when none */
} wh_acme_problem;

typedef struct wh_acme_client_opts {
  /* caCertificates: PEM files trusted for the ACME server's HTTPS; the
   * system roots are dropped unless ca_system_cert_pool (caSystemCertPool)
   * keeps them. When empty, LEGO_CA_CERTIFICATES (paths separated by ':' as
   * lego and Traefik split it; ',' accepted too) is read instead, with
   * LEGO_CA_SYSTEM_CERT_POOL (a Go boolean: 1 t T TRUE true True) in the
   * place of ca_system_cert_pool, as Traefik does. caServerName (TLS server
   * name other than the URL's host) is not supported. */
  const char *const *ca_certificates;
  size_t n_ca_certificates;
  bool ca_system_cert_pool;
  int64_t timeout_ms;                 /* clientTimeout [120000]; <= 0: default */
  int64_t response_header_timeout_ms; /* clientResponseHeaderTimeout [30000] */
  /* how long an authorization or order may stay pending/processing before
   * giving up [120000] */
  int64_t poll_timeout_ms;
  const char *email;              /* contact mailto: for newAccount; NULL or "": none */
  const char *eab_kid, *eab_hmac; /* externalAccountBinding (both or none) */
  const char *preferred_chain;    /* issuer CN of the chain's top certificate */
  const char *user_agent;         /* NULL: "wharf-acme/<version>" */
} wh_acme_client_opts;

/* A client of the ACME server whose directory is directory_url. account_key
 * is referenced (EVP_PKEY_up_ref): the caller keeps its own reference. opts
 * and its strings are copied. NULL when libcurl cannot be loaded, a CA file
 * is unreadable or holds no certificate (err receives why), or on OOM.
 * Nothing is sent before the first operation. */
wh_acme_client *wh_acme_client_new(uv_loop_t *loop, const char *directory_url,
                                   EVP_PKEY *account_key, const wh_acme_client_opts *opts,
                                   char *err, size_t errlen);
/* Stops every operation: no callback of the caller runs afterwards (a
 * solver's present still running must still call its done function, which
 * then only runs the cleanup and releases memory). The memory goes once the
 * loop has run the handles' closes. NULL-safe. */
void wh_acme_client_free(wh_acme_client *c);

/* The account URL (the JWS "kid"); NULL before an account operation
 * succeeded or wh_acme_client_set_account_url. Borrowed. */
const char *wh_acme_client_account_url(const wh_acme_client *c);
/* Uses an account URL kept from earlier (acme.json's Registration.uri):
 * requests are then signed with it without asking the server. Copied. */
int wh_acme_client_set_account_url(wh_acme_client *c, const char *url);
/* badNonce rejections retried so far (for tests and debug logs). */
unsigned wh_acme_client_nonce_retries(const wh_acme_client *c);

/* The account, as the server has it. Borrowed, valid during the callback. */
typedef struct wh_acme_account_info {
  const char *url;    /* the kid */
  const char *status; /* "valid", "deactivated", "revoked" */
  const char *body;   /* the account object as JSON text (acme.json's Registration.body) */
} wh_acme_account_info;
typedef void (*wh_acme_account_fn)(void *arg, const wh_acme_account_info *acct,
                                   const wh_acme_problem *problem);
/* newAccount with termsOfServiceAgreed, opts' email as contact and its EAB;
 * or, only_existing, the lookup of the account of this key (accountDoesNotExist
 * problem when there is none). On success the client keeps the URL as kid.
 * done gets exactly one of acct / problem. 0, or WH_ENOMEM (done not called). */
int wh_acme_account(wh_acme_client *c, bool only_existing, wh_acme_account_fn done, void *arg);

/* ---- issuance ---- */

/* The caller's challenge solver. present makes the server able to validate
 * type ("http-01", "tls-alpn-01", "dns-01") for domain (the authorization's
 * identifier, without "*." for a wildcard), then calls
 * wh_acme_solver_done(handle, 0 or an error message) exactly once, later or
 * from inside present. cleanup undoes it (called once per present that
 * reported success, synchronous, may start async work of its own). The
 * strings are borrowed for the duration of the call. */
typedef struct wh_acme_solver_handle wh_acme_solver_handle;
typedef struct wh_acme_solver {
  /* challenge types in the caller's order of preference (e.g. {"http-01"}) */
  const char *const *types;
  size_t n_types;
  void (*present)(void *ctx, const char *type, const char *domain, const char *token,
                  const char *key_auth, wh_acme_solver_handle *handle);
  void (*cleanup)(void *ctx, const char *type, const char *domain, const char *token,
                  const char *key_auth);
  void *ctx;
} wh_acme_solver;
/* error NULL: presented. The handle is invalid afterwards. */
void wh_acme_solver_done(wh_acme_solver_handle *handle, const char *error);

/* What wh_acme_obtain got. Borrowed, valid during the callback: copy or
 * steal (set a pointer to NULL after taking it; the rest is freed). */
typedef struct wh_acme_certificate {
  char *cert_pem;   /* leaf first, then the chain, PEM */
  char *key_pem;    /* the new certificate key, traditional PEM (lego's) */
  char *cert_url;   /* the certificate's URL (acme.json's certUrl) */
  time_t not_after; /* the leaf's notAfter */
} wh_acme_certificate;
typedef void (*wh_acme_obtain_fn)(void *arg, wh_acme_certificate *cert,
                                  const wh_acme_problem *problem);

/* The whole issuance of one certificate for domains[0..n) (the first is the
 * main domain and the CN; wildcards allowed), with a new key of key_type
 * (made on the thread pool).
 * Fetches the directory and registers the account first when needed.
 * Authorizations are solved one after the other; the solver struct is copied
 * (its strings and ctx must outlive the operation). done gets exactly one of
 * cert / problem, never from inside this call. 0, WH_EINVAL (no domain, no
 * solver type) or WH_ENOMEM (done not called). */
int wh_acme_obtain(wh_acme_client *c, const char *const *domains, size_t n,
                   wh_acme_key_type key_type, const wh_acme_solver *solver, wh_acme_obtain_fn done,
                   void *arg);

#endif
