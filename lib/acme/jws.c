#include "lib/acme/jws.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "lib/acme/keys.h"
#include "lib/core/str.h"

char *wh_acme_b64url(const void *data, size_t n) {
  char *s = wh_acme_b64_encode(data, n);
  if (!s)
    return NULL;
  char *o = s;
  for (char *p = s; *p; p++) {
    if (*p == '=')
      break;
    *o++ = *p == '+' ? '-' : *p == '/' ? '_' : *p;
  }
  *o = '\0';
  return s;
}

unsigned char *wh_acme_b64url_decode(const char *s, size_t *n) {
  return s ? wh_acme_b64_decode(s, n) : NULL;
}

static char *bn_b64url(const BIGNUM *bn, int width) {
  int len = width > 0 ? width : BN_num_bytes(bn);
  if (len <= 0)
    len = 1; /* a zero exponent cannot happen; keep "AA" rather than "" */
  unsigned char *buf = malloc((size_t)len);
  if (!buf)
    return NULL;
  if (BN_bn2binpad(bn, buf, len) < 0) {
    free(buf);
    return NULL;
  }
  char *s = wh_acme_b64url(buf, (size_t)len);
  free(buf);
  return s;
}

static int ec_size(EVP_PKEY *k) {
  return (EVP_PKEY_get_bits(k) + 7) / 8;
}

static int add_bn(cJSON *o, const char *name, EVP_PKEY *k, const char *param, int width) {
  BIGNUM *bn = NULL;
  if (!EVP_PKEY_get_bn_param(k, param, &bn))
    return -1;
  char *s = bn_b64url(bn, width);
  BN_free(bn);
  if (!s)
    return -1;
  cJSON *v = cJSON_AddStringToObject(o, name, s);
  free(s);
  return v ? 0 : -1;
}

cJSON *wh_acme_jwk(EVP_PKEY *k) {
  if (!k)
    return NULL;
  cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  int ok = -1;
  switch (EVP_PKEY_get_base_id(k)) {
  case EVP_PKEY_RSA:
    /* member order as lego/go-jose print them; order does not matter to servers */
    if (cJSON_AddStringToObject(o, "kty", "RSA") &&
        add_bn(o, "n", k, OSSL_PKEY_PARAM_RSA_N, 0) == 0 &&
        add_bn(o, "e", k, OSSL_PKEY_PARAM_RSA_E, 0) == 0)
      ok = 0;
    break;
  case EVP_PKEY_EC: {
    int bits = EVP_PKEY_get_bits(k);
    const char *crv = bits == 256 ? "P-256" : bits == 384 ? "P-384" : bits == 521 ? "P-521" : NULL;
    if (crv && cJSON_AddStringToObject(o, "kty", "EC") && cJSON_AddStringToObject(o, "crv", crv) &&
        add_bn(o, "x", k, OSSL_PKEY_PARAM_EC_PUB_X, ec_size(k)) == 0 &&
        add_bn(o, "y", k, OSSL_PKEY_PARAM_EC_PUB_Y, ec_size(k)) == 0)
      ok = 0;
    break;
  }
  default:
    break;
  }
  if (ok != 0) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

static const char *member(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

char *wh_acme_jwk_thumbprint_json(const cJSON *jwk) {
  const char *kty = member(jwk, "kty");
  char *canon = NULL;
  /* RFC 7638 §3.2: only the required members, sorted, no whitespace; the
   * values are base64url or curve names, which need no JSON escaping. */
  if (wh_streq(kty, "RSA") && member(jwk, "e") && member(jwk, "n"))
    canon = wh_asprintf("{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", member(jwk, "e"),
                        member(jwk, "n"));
  else if (wh_streq(kty, "EC") && member(jwk, "crv") && member(jwk, "x") && member(jwk, "y"))
    canon = wh_asprintf("{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                        member(jwk, "crv"), member(jwk, "x"), member(jwk, "y"));
  if (!canon)
    return NULL;
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)canon, strlen(canon), md);
  free(canon);
  return wh_acme_b64url(md, sizeof(md));
}

char *wh_acme_jwk_thumbprint(EVP_PKEY *k) {
  cJSON *jwk = wh_acme_jwk(k);
  if (!jwk)
    return NULL;
  char *t = wh_acme_jwk_thumbprint_json(jwk);
  cJSON_Delete(jwk);
  return t;
}

char *wh_acme_key_authorization(const char *token, EVP_PKEY *account_key) {
  char *t = token ? wh_acme_jwk_thumbprint(account_key) : NULL;
  if (!t)
    return NULL;
  char *ka = wh_asprintf("%s.%s", token, t);
  free(t);
  return ka;
}

char *wh_acme_dns01_value(const char *key_authorization) {
  if (!key_authorization)
    return NULL;
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)key_authorization, strlen(key_authorization), md);
  return wh_acme_b64url(md, sizeof(md));
}

const char *wh_acme_jws_alg(EVP_PKEY *k) {
  if (!k)
    return NULL;
  switch (EVP_PKEY_get_base_id(k)) {
  case EVP_PKEY_RSA:
    return "RS256";
  case EVP_PKEY_EC:
    return EVP_PKEY_get_bits(k) == 256 ? "ES256" : EVP_PKEY_get_bits(k) == 384 ? "ES384" : NULL;
  default:
    return NULL;
  }
}

/* The JWS signature of input: PKCS#1 v1.5 for RSA; for ECDSA the raw r||s
 * pair of RFC 7518 §3.4, not the DER OpenSSL produces. */
static char *sign_b64url(EVP_PKEY *k, const char *input) {
  const EVP_MD *md = EVP_PKEY_get_base_id(k) == EVP_PKEY_EC && EVP_PKEY_get_bits(k) == 384
                         ? EVP_sha384()
                         : EVP_sha256();
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char *sig = NULL;
  size_t siglen = 0;
  char *out = NULL;
  if (!ctx || EVP_DigestSignInit(ctx, NULL, md, NULL, k) != 1 ||
      EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1)
    goto done;
  sig = malloc(siglen);
  if (!sig || EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1)
    goto done;
  if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC) {
    const unsigned char *p = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
    if (!es)
      goto done;
    int w = ec_size(k);
    unsigned char raw[2 * 66];
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(es, &r, &s);
    if (w <= 66 && BN_bn2binpad(r, raw, w) == w && BN_bn2binpad(s, raw + w, w) == w)
      out = wh_acme_b64url(raw, (size_t)(2 * w));
    ECDSA_SIG_free(es);
  } else {
    out = wh_acme_b64url(sig, siglen);
  }
done:
  free(sig);
  EVP_MD_CTX_free(ctx);
  return out;
}

static char *json_text(cJSON *o) {
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

char *wh_acme_jws(EVP_PKEY *k, const char *kid, const char *nonce, const char *url,
                  const char *payload) {
  const char *alg = wh_acme_jws_alg(k);
  if (!alg || !url)
    return NULL;
  cJSON *h = cJSON_CreateObject();
  if (!h || !cJSON_AddStringToObject(h, "alg", alg)) {
    cJSON_Delete(h);
    return NULL;
  }
  if (kid) {
    if (!cJSON_AddStringToObject(h, "kid", kid)) {
      cJSON_Delete(h);
      return NULL;
    }
  } else {
    cJSON *jwk = wh_acme_jwk(k);
    if (!jwk) {
      cJSON_Delete(h);
      return NULL;
    }
    cJSON_AddItemToObject(h, "jwk", jwk);
  }
  if ((nonce && !cJSON_AddStringToObject(h, "nonce", nonce)) ||
      !cJSON_AddStringToObject(h, "url", url)) {
    cJSON_Delete(h);
    return NULL;
  }
  char *htxt = json_text(h);
  char *prot = htxt ? wh_acme_b64url(htxt, strlen(htxt)) : NULL;
  free(htxt);
  const char *pl = payload ? payload : "";
  char *pay = wh_acme_b64url(pl, strlen(pl));
  char *input = prot && pay ? wh_asprintf("%s.%s", prot, pay) : NULL;
  char *sig = input ? sign_b64url(k, input) : NULL;
  char *out = sig ? wh_asprintf("{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}",
                                prot, pay, sig)
                  : NULL;
  free(prot);
  free(pay);
  free(input);
  free(sig);
  return out;
}

cJSON *wh_acme_eab_jws(EVP_PKEY *account_key, const char *eab_kid, const char *hmac_b64,
                       const char *url) {
  size_t keylen = 0;
  unsigned char *key = eab_kid && url ? wh_acme_b64url_decode(hmac_b64, &keylen) : NULL;
  if (!key)
    return NULL;
  cJSON *out = NULL;
  char *prot = NULL, *pay = NULL, *input = NULL, *jwktxt = NULL, *sig = NULL;
  cJSON *h = cJSON_CreateObject();
  if (!h || !cJSON_AddStringToObject(h, "alg", "HS256") ||
      !cJSON_AddStringToObject(h, "kid", eab_kid) || !cJSON_AddStringToObject(h, "url", url)) {
    cJSON_Delete(h);
    goto done;
  }
  char *htxt = json_text(h);
  prot = htxt ? wh_acme_b64url(htxt, strlen(htxt)) : NULL;
  free(htxt);
  cJSON *jwk = wh_acme_jwk(account_key);
  jwktxt = jwk ? json_text(jwk) : NULL;
  pay = jwktxt ? wh_acme_b64url(jwktxt, strlen(jwktxt)) : NULL;
  input = prot && pay ? wh_asprintf("%s.%s", prot, pay) : NULL;
  if (!input)
    goto done;
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t maclen = 0;
  if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen, (const unsigned char *)input,
                 strlen(input), mac, sizeof(mac), &maclen))
    goto done;
  sig = wh_acme_b64url(mac, maclen);
  out = sig ? cJSON_CreateObject() : NULL;
  if (out && (!cJSON_AddStringToObject(out, "protected", prot) ||
              !cJSON_AddStringToObject(out, "payload", pay) ||
              !cJSON_AddStringToObject(out, "signature", sig))) {
    cJSON_Delete(out);
    out = NULL;
  }
done:
  if (key)
    OPENSSL_cleanse(key, keylen);
  free(key);
  free(prot);
  free(pay);
  free(input);
  free(jwktxt);
  free(sig);
  return out;
}
