#include "lib/acme/challenges.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "lib/core/err.h"
#include "lib/core/str.h"

atomic_size_t wh_acme_chal_tls_count;

typedef struct http_entry {
  char *token, *key_auth;
} http_entry;

typedef struct tls_entry {
  char *domain; /* canonical: lowercase, no trailing dot */
  X509 *cert;
  EVP_PKEY *key;
} tls_entry;

/* A few entries at a time in practice (one per domain of an order), so
 * arrays scanned linearly: lookups only happen on the challenge path. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static http_entry *https;
static size_t nhttp, chttp;
static tls_entry *tlss;
static size_t ntls, ctls;

/* ---- syntax ---- */

static bool b64url_char(char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
         ch == '-' || ch == '_';
}

/* The length of a valid token at s (up to a NUL or stop), 0 when invalid. */
static size_t token_len(const char *s, char stop) {
  size_t n = 0;
  for (; s[n] && s[n] != stop; n++)
    if (n == WH_ACME_TOKEN_MAX || !b64url_char(s[n]))
      return 0;
  return n;
}

static bool valid_key_auth(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (n == WH_ACME_KEYAUTH_MAX || !(b64url_char(s[n]) || s[n] == '.'))
      return false;
  return n > 0;
}

/* Canonical domain of in[0..len) into out (WH_ACME_DOMAIN_MAX + 1 bytes):
 * ASCII lowercase, one trailing dot dropped, letters, digits and inner
 * hyphens in labels of 1..63 bytes. False otherwise (wildcards included). */
static bool canon_domain(const char *in, size_t len, char *out) {
  if (len && in[len - 1] == '.')
    len--;
  if (len == 0 || len > WH_ACME_DOMAIN_MAX)
    return false;
  size_t label = 0;
  for (size_t i = 0; i < len; i++) {
    char ch = in[i];
    if (ch >= 'A' && ch <= 'Z')
      ch = (char)(ch - 'A' + 'a');
    if (ch == '.') {
      if (label == 0 || out[i - 1] == '-')
        return false;
      label = 0;
    } else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || (ch == '-' && label)) {
      if (++label > 63)
        return false;
    } else {
      return false;
    }
    out[i] = ch;
  }
  if (label == 0 || out[len - 1] == '-')
    return false;
  out[len] = '\0';
  return true;
}

/* ---- HTTP-01 ---- */

static ssize_t http_find(const char *token) {
  for (size_t i = 0; i < nhttp; i++)
    if (strcmp(https[i].token, token) == 0)
      return (ssize_t)i;
  return -1;
}

int wh_acme_chal_http_add(const char *token, const char *key_auth) {
  if (!token || !key_auth || token_len(token, '\0') == 0 || !valid_key_auth(key_auth))
    return WH_EINVAL;
  char *ka = wh_strdup(key_auth);
  if (!ka)
    return WH_ENOMEM;
  pthread_mutex_lock(&mu);
  ssize_t i = http_find(token);
  if (i >= 0) {
    free(https[i].key_auth);
    https[i].key_auth = ka;
    pthread_mutex_unlock(&mu);
    return 0;
  }
  int rc = WH_ERR;
  if (nhttp == WH_ACME_CHAL_MAX)
    goto out;
  rc = WH_ENOMEM;
  if (nhttp == chttp) {
    size_t nc = chttp ? chttp * 2 : 8;
    http_entry *v = realloc(https, nc * sizeof(*v));
    if (!v)
      goto out;
    https = v;
    chttp = nc;
  }
  char *tok = wh_strdup(token);
  if (!tok)
    goto out;
  https[nhttp++] = (http_entry){tok, ka};
  ka = NULL;
  rc = 0;
out:
  pthread_mutex_unlock(&mu);
  free(ka);
  return rc;
}

int wh_acme_chal_http_remove(const char *token) {
  if (!token)
    return WH_ENOENT;
  pthread_mutex_lock(&mu);
  ssize_t i = http_find(token);
  if (i >= 0) {
    free(https[i].token);
    free(https[i].key_auth);
    https[i] = https[--nhttp];
  }
  pthread_mutex_unlock(&mu);
  return i >= 0 ? 0 : WH_ENOENT;
}

bool wh_acme_chal_http_token(const char *path, char *tok) {
  static const size_t plen = sizeof(WH_ACME_CHAL_PATH) - 1;
  if (!path || strncmp(path, WH_ACME_CHAL_PATH, plen) != 0)
    return false;
  const char *t = path + plen;
  size_t n = token_len(t, '/');
  if (n == 0 || (t[n] == '/' && t[n + 1] != '\0'))
    return false;
  memcpy(tok, t, n);
  tok[n] = '\0';
  return true;
}

bool wh_acme_chal_http_get(const char *token, char *out, size_t cap) {
  if (!token || token_len(token, '\0') == 0)
    return false;
  bool found = false;
  pthread_mutex_lock(&mu);
  ssize_t i = nhttp ? http_find(token) : -1;
  if (i >= 0) {
    size_t n = strlen(https[i].key_auth);
    if (n < cap) {
      memcpy(out, https[i].key_auth, n + 1);
      found = true;
    }
  }
  pthread_mutex_unlock(&mu);
  return found;
}

size_t wh_acme_chal_http_count(void) {
  pthread_mutex_lock(&mu);
  size_t n = nhttp;
  pthread_mutex_unlock(&mu);
  return n;
}

/* ---- TLS-ALPN-01: the certificate ---- */

/* id-pe-acmeIdentifier (RFC 8737 §6.1); OpenSSL 3.0 has no NID for it. */
#define ACME_IDENTIFIER_OID "1.3.6.1.5.5.7.1.31"

static int add_san(X509 *x, const char *domain) {
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
  GENERAL_NAME *gn = GENERAL_NAME_new();
  ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
  int rc = -1;
  if (!gens || !gn || !ia5 || !ASN1_STRING_set(ia5, domain, (int)strlen(domain)))
    goto out;
  GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
  ia5 = NULL;
  if (!sk_GENERAL_NAME_push(gens, gn))
    goto out;
  gn = NULL;
  if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1)
    rc = 0;
out:
  ASN1_IA5STRING_free(ia5);
  GENERAL_NAME_free(gn);
  GENERAL_NAMES_free(gens);
  return rc;
}

/* The extension's extnValue holds the DER of Authorization ::= OCTET STRING
 * (SIZE (32)): the digest wrapped once more, as RFC 8737 §3 specifies. */
static int add_acme_identifier(X509 *x, const char *key_auth) {
  unsigned char der[2 + SHA256_DIGEST_LENGTH] = {0x04, SHA256_DIGEST_LENGTH};
  SHA256((const unsigned char *)key_auth, strlen(key_auth), der + 2);
  ASN1_OBJECT *obj = OBJ_txt2obj(ACME_IDENTIFIER_OID, 1);
  ASN1_OCTET_STRING *val = ASN1_OCTET_STRING_new();
  X509_EXTENSION *ext = NULL;
  int rc = -1;
  if (!obj || !val || !ASN1_OCTET_STRING_set(val, der, (int)sizeof(der)))
    goto out;
  ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, val);
  if (ext && X509_add_ext(x, ext, -1) == 1)
    rc = 0;
out:
  X509_EXTENSION_free(ext);
  ASN1_OCTET_STRING_free(val);
  ASN1_OBJECT_free(obj);
  return rc;
}

static int random_serial(X509 *x) {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof(b)) != 1)
    return -1;
  b[0] &= 0x7f; /* positive */
  BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
  int rc = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ? 0 : -1;
  BN_free(bn);
  return rc;
}

static int make_cert(const char *domain, const char *key_auth, X509 **cert, EVP_PKEY **key) {
  EVP_PKEY *k = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  int rc = WH_ERR;
  if (!k || !x || X509_set_version(x, 2) != 1 || random_serial(x) < 0)
    goto out;
  /* A validation happens within minutes; a week's validity is generous
   * and forgives a CA's clock being off. */
  if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
      !X509_gmtime_adj(X509_getm_notAfter(x), 7L * 86400))
    goto out;
  X509_NAME *name = X509_get_subject_name(x);
  if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                  (const unsigned char *)"ACME TLS-ALPN-01 challenge", -1, -1, 0) ||
      X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, k) != 1)
    goto out;
  if (add_san(x, domain) < 0 || add_acme_identifier(x, key_auth) < 0)
    goto out;
  if (X509_sign(x, k, EVP_sha256()) <= 0)
    goto out;
  *cert = x;
  *key = k;
  return 0;
out:
  X509_free(x);
  EVP_PKEY_free(k);
  return rc;
}

int wh_acme_chal_tls_cert(const char *domain, const char *key_auth, X509 **cert, EVP_PKEY **key) {
  char d[WH_ACME_DOMAIN_MAX + 1];
  if (!domain || !key_auth || !cert || !key || !canon_domain(domain, strlen(domain), d) ||
      !valid_key_auth(key_auth))
    return WH_EINVAL;
  return make_cert(d, key_auth, cert, key);
}

/* ---- TLS-ALPN-01: the registry ---- */

static ssize_t tls_find(const char *domain) {
  for (size_t i = 0; i < ntls; i++)
    if (strcmp(tlss[i].domain, domain) == 0)
      return (ssize_t)i;
  return -1;
}

static void tls_entry_free(tls_entry *e) {
  free(e->domain);
  X509_free(e->cert);
  EVP_PKEY_free(e->key);
}

int wh_acme_chal_tls_add(const char *domain, const char *key_auth) {
  char d[WH_ACME_DOMAIN_MAX + 1];
  if (!domain || !key_auth || !canon_domain(domain, strlen(domain), d) || !valid_key_auth(key_auth))
    return WH_EINVAL;
  tls_entry e = {0};
  int rc = make_cert(d, key_auth, &e.cert, &e.key);
  if (rc < 0)
    return rc;
  pthread_mutex_lock(&mu);
  ssize_t i = tls_find(d);
  if (i >= 0) {
    X509_free(tlss[i].cert);
    EVP_PKEY_free(tlss[i].key);
    tlss[i].cert = e.cert;
    tlss[i].key = e.key;
    pthread_mutex_unlock(&mu);
    return 0;
  }
  rc = WH_ERR;
  if (ntls == WH_ACME_CHAL_MAX)
    goto out;
  rc = WH_ENOMEM;
  if (ntls == ctls) {
    size_t nc = ctls ? ctls * 2 : 8;
    tls_entry *v = realloc(tlss, nc * sizeof(*v));
    if (!v)
      goto out;
    tlss = v;
    ctls = nc;
  }
  if (!(e.domain = wh_strdup(d)))
    goto out;
  tlss[ntls++] = e;
  memset(&e, 0, sizeof(e));
  /* published after the entry: a handshake that sees the count finds it */
  atomic_fetch_add_explicit(&wh_acme_chal_tls_count, 1, memory_order_release);
  rc = 0;
out:
  pthread_mutex_unlock(&mu);
  tls_entry_free(&e);
  return rc;
}

int wh_acme_chal_tls_remove(const char *domain) {
  char d[WH_ACME_DOMAIN_MAX + 1];
  if (!domain || !canon_domain(domain, strlen(domain), d))
    return WH_ENOENT;
  tls_entry gone = {0};
  pthread_mutex_lock(&mu);
  ssize_t i = tls_find(d);
  if (i >= 0) {
    gone = tlss[i];
    tlss[i] = tlss[--ntls];
    atomic_fetch_sub_explicit(&wh_acme_chal_tls_count, 1, memory_order_release);
  }
  pthread_mutex_unlock(&mu);
  tls_entry_free(&gone);
  return i >= 0 ? 0 : WH_ENOENT;
}

bool wh_acme_chal_tls_get(const char *sni, size_t sni_len, X509 **cert, EVP_PKEY **key) {
  char d[WH_ACME_DOMAIN_MAX + 1];
  if (!sni || !canon_domain(sni, sni_len, d))
    return false;
  bool found = false;
  pthread_mutex_lock(&mu);
  ssize_t i = tls_find(d);
  if (i >= 0 && X509_up_ref(tlss[i].cert) == 1) {
    if (EVP_PKEY_up_ref(tlss[i].key) == 1) {
      *cert = tlss[i].cert;
      *key = tlss[i].key;
      found = true;
    } else {
      X509_free(tlss[i].cert);
    }
  }
  pthread_mutex_unlock(&mu);
  return found;
}

bool wh_acme_chal_tls_has(const char *sni) {
  char d[WH_ACME_DOMAIN_MAX + 1];
  if (!wh_acme_chal_tls_any() || !sni || !canon_domain(sni, strlen(sni), d))
    return false;
  pthread_mutex_lock(&mu);
  bool found = tls_find(d) >= 0;
  pthread_mutex_unlock(&mu);
  return found;
}

void wh_acme_chal_clear(void) {
  pthread_mutex_lock(&mu);
  for (size_t i = 0; i < nhttp; i++) {
    free(https[i].token);
    free(https[i].key_auth);
  }
  for (size_t i = 0; i < ntls; i++)
    tls_entry_free(&tlss[i]);
  free(https);
  free(tlss);
  https = NULL;
  tlss = NULL;
  nhttp = chttp = ntls = ctls = 0;
  atomic_store_explicit(&wh_acme_chal_tls_count, 0, memory_order_release);
  pthread_mutex_unlock(&mu);
}
