#include "lib/acme/keys.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "lib/core/err.h"
#include "lib/core/str.h"

static const char *const type_names[] = {"EC256", "EC384", "RSA2048", "RSA4096", "RSA8192"};

int wh_acme_key_type_parse(const char *name, wh_acme_key_type *out) {
  if (!name || !*name) {
    *out = WH_ACME_KEY_RSA4096;
    return 0;
  }
  for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
    if (strcmp(name, type_names[i]) == 0) {
      *out = (wh_acme_key_type)i;
      return 0;
    }
  return WH_EINVAL;
}

const char *wh_acme_key_type_name(wh_acme_key_type t) {
  return (unsigned)t < sizeof(type_names) / sizeof(type_names[0]) ? type_names[t] : "?";
}

EVP_PKEY *wh_acme_key_generate(wh_acme_key_type t) {
  switch (t) {
  case WH_ACME_KEY_EC256:
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  case WH_ACME_KEY_EC384:
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
  case WH_ACME_KEY_RSA2048:
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  case WH_ACME_KEY_RSA4096:
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
  case WH_ACME_KEY_RSA8192:
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)8192);
  }
  return NULL;
}

int wh_acme_key_type_of(EVP_PKEY *k, wh_acme_key_type *out) {
  int bits = EVP_PKEY_get_bits(k);
  switch (EVP_PKEY_get_base_id(k)) {
  case EVP_PKEY_RSA:
    *out = bits <= 2048   ? WH_ACME_KEY_RSA2048
           : bits <= 4096 ? WH_ACME_KEY_RSA4096
                          : WH_ACME_KEY_RSA8192;
    return 0;
  case EVP_PKEY_EC:
    if (bits == 256)
      *out = WH_ACME_KEY_EC256;
    else if (bits == 384)
      *out = WH_ACME_KEY_EC384;
    else
      return WH_EINVAL;
    return 0;
  default:
    return WH_EINVAL;
  }
}

/* ---- base64 ---- */

char *wh_acme_b64_encode(const void *data, size_t n) {
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const unsigned char *p = data;
  char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
  if (!out)
    return NULL;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    *o++ = a[v >> 18];
    *o++ = a[(v >> 12) & 63];
    *o++ = a[(v >> 6) & 63];
    *o++ = a[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    *o++ = a[v >> 18];
    *o++ = a[(v >> 12) & 63];
    *o++ = '=';
    *o++ = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    *o++ = a[v >> 18];
    *o++ = a[(v >> 12) & 63];
    *o++ = a[(v >> 6) & 63];
    *o++ = '=';
  }
  *o = '\0';
  return out;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+' || c == '-')
    return 62;
  if (c == '/' || c == '_')
    return 63;
  return -1;
}

unsigned char *wh_acme_b64_decode(const char *s, size_t *n) {
  size_t len = strlen(s);
  unsigned char *out = malloc(len / 4 * 3 + 4);
  if (!out)
    return NULL;
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  bool pad = false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
      continue;
    if (c == '=') {
      pad = true;
      continue;
    }
    int v = b64_value(c);
    if (v < 0 || pad) {
      free(out);
      return NULL;
    }
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  /* 6 leftover bits cannot come from whole bytes */
  if (bits >= 6) {
    free(out);
    return NULL;
  }
  out[o] = '\0';
  *n = o;
  return out;
}

/* ---- DER / PEM ---- */

char *wh_acme_key_to_der_b64(EVP_PKEY *k) {
  unsigned char *der = NULL;
  /* i2d_PrivateKey writes the type-specific (traditional) form: PKCS#1 for
   * RSA, SEC1 with the named curve and public key for EC, as Go's
   * MarshalPKCS1PrivateKey / MarshalECPrivateKey do. */
  int len = i2d_PrivateKey(k, &der);
  if (len <= 0)
    return NULL;
  char *out = wh_acme_b64_encode(der, (size_t)len);
  OPENSSL_clear_free(der, (size_t)len);
  return out;
}

EVP_PKEY *wh_acme_key_from_der(const unsigned char *der, size_t len) {
  if (!der || len == 0 || len > 1 << 20)
    return NULL;
  const unsigned char *p = der;
  EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, (long)len);
  if (!k)
    return NULL;
  int id = EVP_PKEY_get_base_id(k);
  if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC) {
    EVP_PKEY_free(k);
    return NULL;
  }
  return k;
}

EVP_PKEY *wh_acme_key_from_der_b64(const char *b64) {
  if (!b64)
    return NULL;
  size_t n = 0;
  unsigned char *der = wh_acme_b64_decode(b64, &n);
  if (!der)
    return NULL;
  EVP_PKEY *k = wh_acme_key_from_der(der, n);
  OPENSSL_cleanse(der, n);
  free(der);
  return k;
}

char *wh_acme_key_to_pem(EVP_PKEY *k) {
  BIO *b = BIO_new(BIO_s_mem());
  if (!b)
    return NULL;
  char *out = NULL;
  if (PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL) == 1) {
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    if (n > 0)
      out = wh_strndup(p, (size_t)n);
  }
  BIO_free(b);
  return out;
}

EVP_PKEY *wh_acme_key_from_pem(const char *pem, size_t len) {
  if (!pem || len > INT32_MAX)
    return NULL;
  BIO *b = BIO_new_mem_buf(pem, (int)len);
  if (!b)
    return NULL;
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  return k;
}
