/* The pending ACME challenges the data plane answers: HTTP-01 (token -> key
 * authorization, served by the acme-http@internal service) and TLS-ALPN-01
 * (RFC 8737: domain -> a self-signed certificate carrying the key
 * authorization's digest, served to a ClientHello offering "acme-tls/1").
 *
 * One registry per process. The ACME client's solver writes it from the
 * control thread (add before telling the CA to validate, remove once the
 * authorization is settled); workers read it from any thread. Lookups take a
 * mutex, but only on the challenge path: the normal path reads one relaxed
 * atomic counter (wh_acme_chal_tls_any) and goes on. The registry is bounded
 * (WH_ACME_CHAL_MAX entries per kind) and so are its keys and values: what a
 * CA never sends is refused up front, and a request for it is a 404 without a
 * lookup. */
#ifndef WH_ACME_CHALLENGES_H
#define WH_ACME_CHALLENGES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define WH_ACME_CHAL_MAX 1000   /* entries per kind (HTTP-01, TLS-ALPN-01) */
#define WH_ACME_TOKEN_MAX 128   /* base64url characters */
#define WH_ACME_KEYAUTH_MAX 512 /* token "." base64url(JWK thumbprint) is far shorter */
#define WH_ACME_DOMAIN_MAX 253  /* a DNS name without its trailing dot */
#define WH_ACME_CHAL_PATH "/.well-known/acme-challenge/"
#define WH_ACME_TLS_ALPN "acme-tls/1"
#define WH_ACME_TLS_HANDSHAKE_MS 2000 /* a validation handshake is never left open longer */

/* The number of pending TLS-ALPN-01 challenges. Read through
 * wh_acme_chal_tls_any(); written only by this module. */
extern atomic_size_t wh_acme_chal_tls_count;

/* Whether any TLS-ALPN-01 challenge is pending: the single check every TLS
 * handshake pays (one relaxed load), any thread. */
static inline bool wh_acme_chal_tls_any(void) {
  return atomic_load_explicit(&wh_acme_chal_tls_count, memory_order_relaxed) != 0;
}

/* ---- HTTP-01 ---- */

/* Registers (or replaces) token -> key_auth (both copied). The token must be
 * 1..WH_ACME_TOKEN_MAX base64url characters; key_auth must be
 * 1..WH_ACME_KEYAUTH_MAX characters of base64url or '.'.
 * 0, WH_EINVAL (bad token or key authorization), WH_ERR (registry full), or
 * WH_ENOMEM. Control thread. */
int wh_acme_chal_http_add(const char *token, const char *key_auth);
/* Forgets token; 0, or WH_ENOENT when it was not pending. Control thread. */
int wh_acme_chal_http_remove(const char *token);

/* The token of a request path "/.well-known/acme-challenge/<token>" (one
 * trailing '/' tolerated, as Traefik does), copied into tok (at least
 * WH_ACME_TOKEN_MAX + 1 bytes). False for any other path and for a token
 * that is not 1..WH_ACME_TOKEN_MAX base64url characters. No lookup, no lock. */
bool wh_acme_chal_http_token(const char *path, char *tok);
/* Copies the key authorization of a pending token into out (cap bytes,
 * WH_ACME_KEYAUTH_MAX + 1 is always enough); false when the token is not
 * pending, is malformed, or does not fit. Any thread. */
bool wh_acme_chal_http_get(const char *token, char *out, size_t cap);

/* ---- TLS-ALPN-01 ---- */

/* Makes and registers (or replaces) the RFC 8737 certificate for domain:
 * self-signed, EC P-256, its only SAN the dNSName domain, with the critical
 * id-pe-acmeIdentifier extension (1.3.6.1.5.5.7.1.31) whose value is the DER
 * OCTET STRING of SHA-256(key_auth). domain is an ASCII DNS name (matched
 * case-insensitively, one trailing dot ignored; no wildcard: RFC 8737 §3
 * forbids them), key_auth as for HTTP-01.
 * 0, WH_EINVAL, WH_ERR (registry full or OpenSSL failure), WH_ENOMEM.
 * Control thread (it signs a certificate: about a millisecond). */
int wh_acme_chal_tls_add(const char *domain, const char *key_auth);
/* Forgets domain's challenge; 0, or WH_ENOENT. Control thread. Handshakes
 * already given the certificate keep their own references. */
int wh_acme_chal_tls_remove(const char *domain);

/* The certificate and key for a ClientHello's SNI (any case, one trailing
 * dot ignored, not NUL-terminated: sni_len bytes): new references the caller
 * frees (X509_free, EVP_PKEY_free). False when no challenge is pending for
 * it. Any thread. */
bool wh_acme_chal_tls_get(const char *sni, size_t sni_len, X509 **cert, EVP_PKEY **key);
/* Whether a challenge is pending for sni (NUL-terminated). Any thread. */
bool wh_acme_chal_tls_has(const char *sni);

/* Makes the RFC 8737 certificate without registering it (new references in
 * *cert and *key); the same checks and codes as wh_acme_chal_tls_add. */
int wh_acme_chal_tls_cert(const char *domain, const char *key_auth, X509 **cert, EVP_PKEY **key);

/* Forgets every challenge (shutdown, tests). Control thread. */
void wh_acme_chal_clear(void);
/* Pending challenges of each kind (for logs and tests). Any thread. */
size_t wh_acme_chal_http_count(void);

#endif
