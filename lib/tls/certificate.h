/* A loaded certificate: leaf, chain and private key, with the facts the
 * certificate store, the logs and the API need (names, validity, fingerprint).
 * Immutable once built and reference-counted, so that several snapshots and
 * worker threads can share one without copying or locking. */
#ifndef WH_TLS_CERTIFICATE_H
#define WH_TLS_CERTIFICATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "lib/core/err.h"

typedef enum { WH_KEY_RSA, WH_KEY_EC, WH_KEY_OTHER } wh_key_kind;

typedef struct wh_cert {
  X509 *x509;             /* leaf, owned */
  STACK_OF(X509) * chain; /* intermediates following the leaf in the PEM, owned, may be empty */
  EVP_PKEY *key;          /* owned */
  wh_key_kind kind;       /* RSA-PSS, Ed25519 and the like are WH_KEY_OTHER */
  /* DNS SANs lowercased with any trailing dot removed, in certificate order;
   * when there is no DNS SAN, the subject CN (lowercased); IP SANs as text
   * ("127.0.0.1", "::1") kept too. Exact duplicates and empty names are
   * dropped. May be empty (nnames == 0) for a certificate that names nothing. */
  char **names;
  size_t nnames;
  char *subject; /* one-line RFC 2253 string */
  char *issuer;
  time_t not_before, not_after; /* UTC */
  char sha256[65];              /* lowercase hex fingerprint of the DER leaf */
  char *origin;                 /* "file /path", "inline PEM" or "self-signed", for logs/API */
  atomic_int refs;
} wh_cert;

/* cert and key are each either a path or inline PEM (a value containing
 * "-----BEGIN" is PEM, as Traefik accepts both in certFile/keyFile). Files are
 * read with a 1 MiB cap (inline PEM too) and must be regular files. The PEM may carry the key
 * beside the certificates; the first certificate is the leaf, those after it
 * are the chain. Checks that the PEM parses and that the key matches the leaf.
 * Expiry is NOT checked: an expired certificate is served, and the caller
 * reports it from not_before/not_after. Encrypted keys are refused (never a
 * passphrase prompt).
 * Returns a new certificate with one reference (the caller's), or NULL after
 * appending exactly one message to errs (may be NULL), e.g.
 * "tls certificate /a/b.pem: no such file", "tls certificate inline PEM: key
 * does not match certificate". Messages never include key material, nor a
 * value that is neither PEM nor a plausible path. */
wh_cert *wh_cert_load(const char *cert, const char *key, wh_errlist *errs);

/* A self-signed certificate (EC P-256, validity now-1h .. now+365d) with
 * subject CN=cn and SAN entries sans[0..n) (cn alone when n == 0). An entry
 * that is an IP literal becomes an IP SAN, any other a DNS SAN. Traefik's
 * default is CN "TRAEFIK DEFAULT CERT". Returns a new certificate with one
 * reference, or NULL (cn NULL or empty, or OpenSSL failure). */
wh_cert *wh_cert_self_signed(const char *cn, const char *const *sans, size_t n);

/* Takes one more reference; returns c. Thread-safe. */
wh_cert *wh_cert_ref(wh_cert *c);
/* Drops one reference, freeing on the last. NULL-safe, thread-safe. */
void wh_cert_unref(wh_cert *c);

/* True when name is covered by the certificate: equal to one of its names, or
 * matched by a "*.x" name covering exactly one non-empty label ("*.example.com"
 * covers "a.example.com", not "a.b.example.com" nor "example.com"). name should
 * be lowercase without a trailing dot; ASCII case and trailing dots are
 * tolerated anyway. */
bool wh_cert_covers(const wh_cert *c, const char *name);

/* The longest name handled: a DNS name is at most 253 bytes, plus a trailing
 * dot and slack for IPv6 text. */
#define WH_CERT_NAME_MAX 255

/* Canonical form of a host name for matching: ASCII lowercase, trailing dots
 * removed. Writes into out (WH_CERT_NAME_MAX + 1 bytes) and returns the length,
 * or 0 when in is NULL, empty, only dots, or longer than WH_CERT_NAME_MAX.
 * Never allocates (the SNI path calls it per handshake). */
size_t wh_cert_name_normalize(const char *in, char *out);

/* Installs leaf, key and chain on ctx in the slot of the key's type
 * (SSL_CTX_use_cert_and_key), so one SSL_CTX can hold an RSA and an EC
 * certificate side by side and OpenSSL picks per handshake. ctx takes its own
 * references; c is unchanged. Returns 0, or WH_ERR (OpenSSL error queue
 * cleared). */
int wh_cert_install(const wh_cert *c, SSL_CTX *ctx);

/* A distinguished name as RFC 2253 text ("CN=client,O=Example"), the way Go's
 * pkix.Name.String() prints it, truncated to cap. false when it cannot be
 * printed. */
bool wh_x509_name_rfc2253(const X509_NAME *nm, char *buf, size_t cap);

/* Reads a whole regular file of at most 1 MiB (the cap of certFile, keyFile,
 * rootCAs) into *out, NUL-terminated, *len bytes. Returns NULL on success
 * (*out owned by the caller, who should OPENSSL_cleanse it when it may hold a
 * key), else a static reason ("no such file", "not a regular file", "larger
 * than 1 MiB"). Never blocks on a FIFO. */
const char *wh_cert_read_file(const char *path, char **out, size_t *len);

/* Every certificate of a PEM bundle (a path or inline PEM, as certFile), for
 * trust anchors such as a serversTransport's rootCAs. what names the value in
 * messages ("rootCAs[0]"). Returns a new stack the caller frees with
 * sk_X509_pop_free(..., X509_free), or NULL after appending one message to
 * errs: unreadable file, no certificate, invalid PEM. */
STACK_OF(X509) * wh_cert_bundle_load(const char *value, const char *what, wh_errlist *errs);

#endif
