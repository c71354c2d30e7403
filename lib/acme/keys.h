/* Private keys for ACME: the account key (signs every request) and the
 * certificate keys, the way Traefik (lego) makes and stores them.
 *
 * acme.json keeps an account's key as `PrivateKey`: Go's base64 (standard
 * alphabet, padded) of the DER of the key in its traditional form: PKCS#1
 * RSAPrivateKey for RSA, SEC1 ECPrivateKey for EC. Traefik itself always makes
 * RSA 4096 account keys (keyType only applies to certificates) and reads them
 * back with ParsePKCS1PrivateKey; this reader also accepts SEC1 and PKCS#8.
 * A certificate's `Key` is the base64 of lego's PEM ("RSA PRIVATE KEY" or
 * "EC PRIVATE KEY"), which wh_acme_key_to_pem produces. */
#ifndef WH_ACME_KEYS_H
#define WH_ACME_KEYS_H

#include <stddef.h>

#include <openssl/evp.h>

typedef enum {
  WH_ACME_KEY_EC256 = 0,
  WH_ACME_KEY_EC384,
  WH_ACME_KEY_RSA2048,
  WH_ACME_KEY_RSA4096,
  WH_ACME_KEY_RSA8192,
} wh_acme_key_type;

/* Traefik's keyType names: EC256 EC384 RSA2048 RSA4096 RSA8192 (exact case);
 * "" or NULL is RSA4096 (Traefik's default). WH_EINVAL for another name
 * (Traefik logs and falls back on RSA4096; the caller decides). */
int wh_acme_key_type_parse(const char *name, wh_acme_key_type *out);
const char *wh_acme_key_type_name(wh_acme_key_type t);

/* A new key; NULL on failure. Caller owns it (EVP_PKEY_free). RSA 4096 and
 * 8192 take seconds: run them where a pause does not matter. */
EVP_PKEY *wh_acme_key_generate(wh_acme_key_type t);
/* The type a key is of (RSA of another size: the nearest RSA type);
 * WH_EINVAL for a key of another algorithm or curve. */
int wh_acme_key_type_of(EVP_PKEY *k, wh_acme_key_type *out);

/* acme.json's PrivateKey: base64 of the traditional DER. Caller owns the
 * string; NULL on failure. */
char *wh_acme_key_to_der_b64(EVP_PKEY *k);
/* Reads PKCS#1, SEC1 or PKCS#8 DER, as base64 (standard or URL alphabet,
 * padding optional, whitespace ignored) or as raw bytes. NULL when it is not
 * an RSA or EC private key. Caller owns the key. */
EVP_PKEY *wh_acme_key_from_der_b64(const char *b64);
EVP_PKEY *wh_acme_key_from_der(const unsigned char *der, size_t len);

/* PEM in the traditional form lego writes ("RSA PRIVATE KEY" / "EC PRIVATE
 * KEY"). Caller owns the string. */
char *wh_acme_key_to_pem(EVP_PKEY *k);
/* Any private key PEM OpenSSL reads (traditional or PKCS#8, unencrypted). */
EVP_PKEY *wh_acme_key_from_pem(const char *pem, size_t len);

/* Standard base64 (padded, no line breaks) and a decoder accepting both
 * alphabets, optional padding and whitespace. Caller owns the results; the
 * decoder returns NULL on invalid input (the buffer is NUL-terminated for
 * convenience, *n excludes the NUL). */
char *wh_acme_b64_encode(const void *data, size_t n);
unsigned char *wh_acme_b64_decode(const char *s, size_t *n);

#endif
