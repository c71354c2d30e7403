/* Unit-test PKI: keys' certificates made with the OpenSSL API (self-signed
 * or signed by a test CA, with SANs in OpenSSL config syntax), their PEM
 * text, and a mkdtemp directory to write them to for the code that loads
 * files. Header-only (static functions): every tests/unit/ file is its own
 * executable. Include after <cmocka.h>. */
#ifndef WH_TESTS_UNIT_SUPPORT_PKI_H
#define WH_TESTS_UNIT_SUPPORT_PKI_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* ---- certificates ---- */

/* What pki_cert makes. Only key is required. */
typedef struct pki_spec {
  const char *cn;  /* subject CN; NULL: the subject is O=wharf tests */
  const char *san; /* subjectAltName, "DNS:a.test,IP:127.0.0.1,URI:spiffe://x/y"; NULL: none */
  long not_before, not_after; /* seconds from now; both 0: -1h .. +30d */
  time_t now;                 /* the "now" of the validity; 0: the current time */
  EVP_PKEY *key;
  X509 *issuer; /* NULL: self-signed */
  EVP_PKEY *issuer_key;
  bool ca;               /* basicConstraints critical,CA:TRUE */
  const char *key_usage; /* keyUsage in config syntax ("critical,keyCertSign"); NULL: none */
} pki_spec;

/* Adds an extension in OpenSSL config syntax to x (issued by issuer, NULL:
 * self-signed). */
static inline void pki_add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
  X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  assert_non_null(ex);
  assert_int_equal(X509_add_ext(x, ex, -1), 1);
  X509_EXTENSION_free(ex);
}

/* The certificate of sp (caller frees), serial numbers counting up per test
 * file; extensions in the order basicConstraints, keyUsage,
 * subjectAltName. Signed with SHA-256, or with no digest for the keys that
 * take none (Ed25519, Ed448). */
static inline X509 *pki_cert(const pki_spec *sp) {
  static long serial = 1000;
  X509 *x = X509_new();
  assert_non_null(x);
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  long nb = sp->not_before, na = sp->not_after;
  if (nb == 0 && na == 0)
    nb = -3600, na = 30L * 86400;
  time_t now = sp->now ? sp->now : time(NULL);
  X509_time_adj(X509_getm_notBefore(x), nb, &now);
  X509_time_adj(X509_getm_notAfter(x), na, &now);
  X509_set_pubkey(x, sp->key);
  X509_NAME *nm = X509_get_subject_name(x);
  if (sp->cn)
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)sp->cn, -1, -1, 0);
  else
    X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_UTF8, (const unsigned char *)"wharf tests", -1, -1,
                               0);
  X509_set_issuer_name(x, sp->issuer ? X509_get_subject_name(sp->issuer) : nm);
  if (sp->ca)
    pki_add_ext(x, sp->issuer, NID_basic_constraints, "critical,CA:TRUE");
  if (sp->key_usage)
    pki_add_ext(x, sp->issuer, NID_key_usage, sp->key_usage);
  if (sp->san)
    pki_add_ext(x, sp->issuer, NID_subject_alt_name, sp->san);
  EVP_PKEY *signer = sp->issuer_key ? sp->issuer_key : sp->key;
  const EVP_MD *md =
      EVP_PKEY_is_a(signer, "ED25519") || EVP_PKEY_is_a(signer, "ED448") ? NULL : EVP_sha256();
  assert_true(X509_sign(x, signer, md) > 0);
  return x;
}

/* A CA certificate for key, self-signed (basicConstraints CA:TRUE and, as a
 * real CA has, keyUsage keyCertSign and cRLSign). */
static inline X509 *pki_ca(const char *cn, EVP_PKEY *key) {
  pki_spec sp = {.cn = cn, .key = key, .ca = true, .key_usage = "critical,keyCertSign,cRLSign"};
  return pki_cert(&sp);
}

/* A leaf for key with the given SANs (NULL: none), signed by issuer with
 * issuer_key (both NULL: self-signed), valid -1h .. +30d. */
static inline X509 *pki_leaf(const char *cn, const char *san, EVP_PKEY *key, X509 *issuer,
                             EVP_PKEY *issuer_key) {
  pki_spec sp = {.cn = cn, .san = san, .key = key, .issuer = issuer, .issuer_key = issuer_key};
  return pki_cert(&sp);
}

/* ---- PEM ---- */

/* The contents of a memory BIO as a string (caller frees); frees the BIO. */
static inline char *pki_bio_take(BIO *b) {
  char *data = NULL;
  long n = BIO_get_mem_data(b, &data);
  char *s = malloc((size_t)n + 1);
  assert_non_null(s);
  memcpy(s, data, (size_t)n);
  s[n] = '\0';
  BIO_free(b);
  return s;
}

/* PEM of a certificate (caller frees). */
static inline char *pki_cert_pem(X509 *x) {
  BIO *b = BIO_new(BIO_s_mem());
  assert_non_null(b);
  assert_int_equal(PEM_write_bio_X509(b, x), 1);
  return pki_bio_take(b);
}

/* PEM of a private key, unencrypted PKCS#8 (caller frees). */
static inline char *pki_key_pem(EVP_PKEY *k) {
  BIO *b = BIO_new(BIO_s_mem());
  assert_non_null(b);
  assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
  return pki_bio_take(b);
}

/* a followed by b (caller frees): PEM bundles. */
static inline char *pki_cat(const char *a, const char *b) {
  char *s = malloc(strlen(a) + strlen(b) + 1);
  assert_non_null(s);
  strcpy(s, a);
  strcat(s, b);
  return s;
}

/* ---- a directory of files ---- */

#define PKI_DIR_MAX_FILES 64

/* A mkdtemp directory and the files written to it, removed together. */
typedef struct pki_dir {
  char path[64];
  char *files[PKI_DIR_MAX_FILES];
  size_t nfiles;
} pki_dir;

/* Creates a directory from a mkdtemp template ("/tmp/wh_x_test_XXXXXX");
 * false on failure (for a setup function to return -1). */
static inline bool pki_dir_make(pki_dir *d, const char *tmpl) {
  memset(d, 0, sizeof(*d));
  if (strlen(tmpl) >= sizeof(d->path))
    return false;
  strcpy(d->path, tmpl);
  return mkdtemp(d->path) != NULL;
}

/* Writes len bytes of content to the file name in d; the path is borrowed
 * until pki_dir_remove. */
static inline const char *pki_dir_write(pki_dir *d, const char *name, const void *content,
                                        size_t len) {
  assert_true(d->nfiles < PKI_DIR_MAX_FILES);
  char *path = NULL;
  assert_true(asprintf(&path, "%s/%s", d->path, name) > 0);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(content, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
  d->files[d->nfiles++] = path;
  return path;
}

static inline const char *pki_dir_write_str(pki_dir *d, const char *name, const char *content) {
  return pki_dir_write(d, name, content, strlen(content));
}

/* A certificate's PEM in a file of d (path borrowed until pki_dir_remove). */
static inline const char *pki_dir_write_cert(pki_dir *d, const char *name, X509 *x) {
  char *pem = pki_cert_pem(x);
  const char *path = pki_dir_write_str(d, name, pem);
  free(pem);
  return path;
}

/* A private key's PEM in a file of d (path borrowed until pki_dir_remove). */
static inline const char *pki_dir_write_key(pki_dir *d, const char *name, EVP_PKEY *k) {
  char *pem = pki_key_pem(k);
  const char *path = pki_dir_write_str(d, name, pem);
  free(pem);
  return path;
}

/* Removes the files written to d, then d itself. */
static inline void pki_dir_remove(pki_dir *d) {
  for (size_t i = 0; i < d->nfiles; i++) {
    unlink(d->files[i]);
    free(d->files[i]);
  }
  d->nfiles = 0;
  if (d->path[0])
    rmdir(d->path);
}

#endif
