/* JOSE for ACME (RFC 8555 §6.2, RFC 7515/7517/7518/7638): a public key as a
 * JWK, its thumbprint, key authorizations, and the flattened JWS every ACME
 * request is. Keys: RSA (RS256) or EC P-256/P-384 (ES256/ES384). */
#ifndef WH_ACME_JWS_H
#define WH_ACME_JWS_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

/* base64url without padding (RFC 7515 §2) and its decoder (padding and the
 * standard alphabet tolerated). Caller owns the results; NULL on OOM or, for
 * the decoder, invalid input. */
char *wh_acme_b64url(const void *data, size_t n);
unsigned char *wh_acme_b64url_decode(const char *s, size_t *n);

/* The public JWK of k: {"kty":"RSA","n","e"} or {"kty":"EC","crv","x","y"}
 * with coordinates padded to the curve's size. Caller owns the object. */
cJSON *wh_acme_jwk(EVP_PKEY *k);
/* RFC 7638 thumbprint (base64url SHA-256 of the required members in
 * lexicographic order) of a JWK object or of a key. Caller owns the string. */
char *wh_acme_jwk_thumbprint_json(const cJSON *jwk);
char *wh_acme_jwk_thumbprint(EVP_PKEY *k);
/* token "." thumbprint (RFC 8555 §8.1). Caller owns the string. */
char *wh_acme_key_authorization(const char *token, EVP_PKEY *account_key);
/* The TXT value of a dns-01 challenge: base64url(SHA-256(key authorization)). */
char *wh_acme_dns01_value(const char *key_authorization);

/* "RS256", "ES256", "ES384", or NULL for a key ACME cannot sign with. */
const char *wh_acme_jws_alg(EVP_PKEY *k);

/* A flattened JWS (JSON text) over payload signed with k. The protected
 * header carries alg, nonce, url and "kid" when kid is not NULL, else the
 * "jwk" of k. payload NULL is POST-as-GET (empty payload). Caller owns the
 * string; NULL on failure. */
char *wh_acme_jws(EVP_PKEY *k, const char *kid, const char *nonce, const char *url,
                  const char *payload);

/* The externalAccountBinding of a newAccount request (RFC 8555 §7.3.4): a
 * JWS with {alg: HS256, kid: eab_kid, url} over the account key's JWK, MACed
 * with the base64url-decoded hmac_b64. Caller owns the object; NULL when the
 * HMAC key does not decode. */
cJSON *wh_acme_eab_jws(EVP_PKEY *account_key, const char *eab_kid, const char *hmac_b64,
                       const char *url);

#endif
