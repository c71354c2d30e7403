/* The ACME storage file (certificatesResolvers.<r>.acme.storage, "acme.json")
 * in Traefik's format, so that a file written by Traefik loads here and a file
 * written here loads in Traefik: a JSON object keyed by resolver name, each
 * with "Account" and "Certificates" (TRAEFIK-COMPAT.md §6, Traefik's
 * pkg/provider/acme/local_store.go). Several resolvers share one file, so the
 * store holds every resolver found in it, configured here or not, and writes
 * them all back.
 *
 * Runs on the control loop only: no locking, plain blocking file I/O (the file
 * is small and written only when an account or a certificate changes).
 *
 * A file that cannot be read or parsed is never overwritten: the store loaded
 * from it is read-only and wh_acme_store_save refuses it, so that a corrupt
 * acme.json stays on disk for the operator to repair and whatever the caller
 * already serves keeps serving. */
#ifndef WH_ACME_STORAGE_H
#define WH_ACME_STORAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/core/err.h"
#include "lib/tls/certificate.h"

/* "Account" of one resolver. All strings are owned by the account. */
typedef struct wh_acme_store_account {
  char *email; /* "Email"; "" when absent, never NULL once in a store */
  /* "Registration": present when reg_body or reg_uri is non-NULL. reg_body is
   * compact JSON text of the object "body" (RFC 8555 account object), reduced
   * to the fields Traefik keeps (status, contact, termsOfServiceAgreed, orders,
   * onlyReturnExisting, externalAccountBinding) in that order. */
  char *reg_uri;  /* "uri", the account URL; NULL when absent */
  char *reg_body; /* NULL when absent */
  /* "PrivateKey": standard padded base64 of the DER account key (Traefik
   * writes PKCS#1 RSA); NULL when absent or null (written as null). */
  char *private_key;
  /* "KeyType" as found ("4096", "P256", ...: lego's certcrypto values, which
   * Traefik before v3.7 wrote and current Traefik no longer does). NULL when
   * absent, and then not written. */
  char *key_type;
} wh_acme_store_account;

/* One entry of "Certificates". Owned by the store. */
typedef struct wh_acme_store_cert {
  char *main;  /* "domain.main"; "" when absent */
  char **sans; /* "domain.sans" */
  size_t nsans;
  char *store;    /* "Store", the TLS store ("default") */
  char *cert_pem; /* "certificate" decoded: the PEM chain, leaf first */
  char *key_pem;  /* "key" decoded: the PEM private key */
  /* The PEM parsed (names, not_after, key matched to the leaf). Owned
   * reference: a caller keeping it beyond the store takes its own with
   * wh_cert_ref. */
  wh_cert *parsed;
} wh_acme_store_cert;

typedef struct wh_acme_store wh_acme_store;

/* An empty, writable store. NULL on OOM. */
wh_acme_store *wh_acme_store_new(void);
void wh_acme_store_free(wh_acme_store *s); /* NULL-safe */

/* Loads path. Always sets *out to a new store the caller frees (NULL only on
 * OOM), and returns:
 *  - 0: the file was read (a missing or empty file gives an empty store).
 *    Entries that cannot be served are dropped, each with a reason in
 *    wh_acme_store_warnings and the log: an empty certificate or key (as
 *    Traefik does), base64 that does not decode, a value that is not PEM, a
 *    certificate that does not parse or whose key does not match it.
 *  - WH_EINVAL: the file is refused: any permission bit for group or others
 *    ("permissions 644 for PATH are too open, please use 600", Traefik's rule
 *    and words), not valid JSON, or not of Traefik's shape (a field of the
 *    wrong type, an account key that is not base64).
 *  - WH_EIO: the file exists but cannot be read.
 * On error the store is empty and read-only, and the message is in errbuf
 * (when errbuf is non-NULL) and in wh_acme_store_error. */
int wh_acme_store_load(const char *path, wh_acme_store **out, char *errbuf, size_t errlen);

/* Writes every resolver to path in Traefik's format, byte for byte as
 * Traefik's json.MarshalIndent(data, "", "  ") would (resolvers sorted by
 * name, no trailing newline), atomically: a temporary file in the same
 * directory created 0600, written, fsync'ed, renamed over path, then the
 * directory fsync'ed. When path is a symbolic link, its target is replaced.
 * When path is a bind-mounted file (rename fails with EBUSY, the usual
 * `-v ./acme.json:/acme.json`), it is rewritten in place instead, as Traefik
 * always does. Returns 0, WH_EINVAL for a read-only store (nothing touched), or
 * WH_EIO (path unchanged, the temporary file removed); message in errbuf. */
int wh_acme_store_save(const wh_acme_store *s, const char *path, char *errbuf, size_t errlen);

/* The document wh_acme_store_save writes. Caller frees. NULL on OOM. */
char *wh_acme_store_to_json(const wh_acme_store *s);

/* True for a store loaded from a file that was refused: save refuses it. */
bool wh_acme_store_read_only(const wh_acme_store *s);
/* Why the load failed; NULL when it did not. Borrowed. */
const char *wh_acme_store_error(const wh_acme_store *s);
/* Reasons for the entries dropped at load ("resolver le: certificate
 * a.example.com: key is empty"). Borrowed. */
const wh_errlist *wh_acme_store_warnings(const wh_acme_store *s);

/* Resolver names in file order, then creation order. Borrowed. */
size_t wh_acme_store_resolver_count(const wh_acme_store *s);
const char *wh_acme_store_resolver_name(const wh_acme_store *s, size_t i);

/* The account of resolver; NULL when there is none. Borrowed until the next
 * change of that resolver's account. */
const wh_acme_store_account *wh_acme_store_get_account(const wh_acme_store *s,
                                                       const char *resolver);
/* Replaces the account of resolver (creating the resolver) with a copy of a;
 * a NULL a removes it (written as "Account": null). Checks that reg_body is a
 * JSON object and private_key valid base64; email NULL means "". Returns 0,
 * WH_EINVAL (message in errbuf, store unchanged) or WH_ENOMEM. Allowed on a
 * read-only store (it only changes memory). */
int wh_acme_store_set_account(wh_acme_store *s, const char *resolver,
                              const wh_acme_store_account *a, char *errbuf, size_t errlen);

/* The certificates of resolver, in file order then insertion order. Borrowed
 * until the next change of that resolver's certificates. */
size_t wh_acme_store_cert_count(const wh_acme_store *s, const char *resolver);
const wh_acme_store_cert *wh_acme_store_cert_at(const wh_acme_store *s, const char *resolver,
                                                size_t i);
/* The first certificate of resolver for the domain set main + sans: main
 * equal and the same set of sans, ignoring ASCII case and order. NULL when
 * none. */
const wh_acme_store_cert *wh_acme_store_find_cert(const wh_acme_store *s, const char *resolver,
                                                  const char *main, const char *const *sans,
                                                  size_t nsans);
/* Stores the certificate for main + sans (replacing the one found as by
 * wh_acme_store_find_cert, else appending), creating the resolver. cert_pem
 * is the PEM chain leaf first, key_pem the PEM key; both are copied and must
 * parse and match. store NULL means "default". Returns 0, WH_EINVAL (message
 * in errbuf, store unchanged) or WH_ENOMEM. */
int wh_acme_store_put_cert(wh_acme_store *s, const char *resolver, const char *main,
                           const char *const *sans, size_t nsans, const char *cert_pem,
                           const char *key_pem, const char *store, char *errbuf, size_t errlen);
/* Removes the certificate found as by wh_acme_store_find_cert. Returns 0 or
 * WH_ENOENT. */
int wh_acme_store_remove_cert(wh_acme_store *s, const char *resolver, const char *main,
                              const char *const *sans, size_t nsans);

#endif
