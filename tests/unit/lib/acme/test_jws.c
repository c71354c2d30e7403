/* lib/acme/jws.c: JWK, RFC 7638 thumbprints, key authorizations and the
 * signed requests, checked with OpenSSL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "lib/acme/jws.h"
#include "lib/acme/keys.h"

/* RFC 7638 §3.1 */
static const char rfc7638_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
    "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_"
    "RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbI"
    "SD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
    "kEgU8awapJzKnqDKgw";
static const char rfc7638_thumbprint[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

static void test_rfc7638_vector(void **state) {
  (void)state;
  cJSON *jwk = cJSON_CreateObject();
  cJSON_AddStringToObject(jwk, "kty", "RSA");
  cJSON_AddStringToObject(jwk, "n", rfc7638_n);
  cJSON_AddStringToObject(jwk, "e", "AQAB");
  cJSON_AddStringToObject(jwk, "alg", "RS256"); /* not part of the thumbprint */
  cJSON_AddStringToObject(jwk, "kid", "2011-04-29");
  char *t = wh_acme_jwk_thumbprint_json(jwk);
  assert_non_null(t);
  assert_string_equal(t, rfc7638_thumbprint);
  free(t);
  cJSON_Delete(jwk);
}

static void test_b64url(void **state) {
  (void)state;
  const unsigned char bytes[] = {0xfb, 0xff, 0xfe};
  char *s = wh_acme_b64url(bytes, 3);
  assert_string_equal(s, "-__-");
  free(s);
  s = wh_acme_b64url("a", 1);
  assert_string_equal(s, "YQ");
  size_t n;
  unsigned char *d = wh_acme_b64url_decode(s, &n);
  assert_int_equal(n, 1);
  assert_int_equal(d[0], 'a');
  free(d);
  free(s);
}

static void test_jwk_ec_coordinates(void **state) {
  (void)state;
  struct {
    wh_acme_key_type t;
    const char *crv;
    size_t len;
  } cases[] = {{WH_ACME_KEY_EC256, "P-256", 43}, {WH_ACME_KEY_EC384, "P-384", 64}};
  for (size_t i = 0; i < 2; i++) {
    /* a few keys, so that a coordinate with a leading zero byte is likely
     * enough over the runs; the length must never shrink */
    for (int j = 0; j < 8; j++) {
      EVP_PKEY *k = wh_acme_key_generate(cases[i].t);
      cJSON *jwk = wh_acme_jwk(k);
      assert_string_equal(cJSON_GetObjectItem(jwk, "kty")->valuestring, "EC");
      assert_string_equal(cJSON_GetObjectItem(jwk, "crv")->valuestring, cases[i].crv);
      assert_int_equal(strlen(cJSON_GetObjectItem(jwk, "x")->valuestring), cases[i].len);
      assert_int_equal(strlen(cJSON_GetObjectItem(jwk, "y")->valuestring), cases[i].len);
      char *t1 = wh_acme_jwk_thumbprint(k), *t2 = wh_acme_jwk_thumbprint_json(jwk);
      assert_string_equal(t1, t2);
      assert_int_equal(strlen(t1), 43);
      free(t1);
      free(t2);
      cJSON_Delete(jwk);
      EVP_PKEY_free(k);
    }
  }
}

static void test_key_authorization(void **state) {
  (void)state;
  EVP_PKEY *k = wh_acme_key_generate(WH_ACME_KEY_EC256);
  char *t = wh_acme_jwk_thumbprint(k);
  char *ka = wh_acme_key_authorization("tok-en_1", k);
  char *want = malloc(strlen(t) + 16);
  strcpy(want, "tok-en_1.");
  strcat(want, t);
  assert_string_equal(ka, want);
  char *v = wh_acme_dns01_value(ka);
  unsigned char md[32];
  SHA256((const unsigned char *)ka, strlen(ka), md);
  char *w = wh_acme_b64url(md, 32);
  assert_string_equal(v, w);
  free(w);
  free(v);
  free(want);
  free(ka);
  free(t);
  EVP_PKEY_free(k);
}

static char *b64url_text(const char *s) {
  size_t n;
  return (char *)wh_acme_b64url_decode(s, &n);
}

/* Verifies a flattened JWS made by wh_acme_jws with OpenSSL and returns its
 * protected header (caller frees). */
static cJSON *verify_jws(const char *text, EVP_PKEY *k, const char *want_payload) {
  cJSON *j = cJSON_Parse(text);
  assert_non_null(j);
  const char *prot = cJSON_GetObjectItem(j, "protected")->valuestring;
  const char *pay = cJSON_GetObjectItem(j, "payload")->valuestring;
  const char *sig = cJSON_GetObjectItem(j, "signature")->valuestring;
  char *paytxt = b64url_text(pay);
  assert_string_equal(paytxt, want_payload);
  free(paytxt);
  char *hdrtxt = b64url_text(prot);
  cJSON *h = cJSON_Parse(hdrtxt);
  free(hdrtxt);
  assert_non_null(h);

  size_t siglen;
  unsigned char *raw = wh_acme_b64url_decode(sig, &siglen);
  unsigned char *der = NULL;
  int derlen = 0;
  const EVP_MD *md = EVP_sha256();
  if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC) {
    size_t w = (size_t)(EVP_PKEY_get_bits(k) + 7) / 8;
    assert_int_equal(siglen, 2 * w); /* raw r||s, not DER */
    if (w == 48)
      md = EVP_sha384();
    ECDSA_SIG *es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(raw, (int)w, NULL), BN_bin2bn(raw + w, (int)w, NULL));
    derlen = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
  } else {
    der = OPENSSL_malloc(siglen);
    memcpy(der, raw, siglen);
    derlen = (int)siglen;
  }
  size_t inlen = strlen(prot) + 1 + strlen(pay);
  char *input = malloc(inlen + 1);
  strcpy(input, prot);
  strcat(input, ".");
  strcat(input, pay);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, md, NULL, k), 1);
  assert_int_equal(EVP_DigestVerify(ctx, der, (size_t)derlen, (const unsigned char *)input, inlen),
                   1);
  EVP_MD_CTX_free(ctx);
  free(input);
  OPENSSL_free(der);
  free(raw);
  cJSON_Delete(j);
  return h;
}

static void check_jws(wh_acme_key_type type, const char *alg) {
  EVP_PKEY *k = wh_acme_key_generate(type);
  assert_string_equal(wh_acme_jws_alg(k), alg);
  /* with the jwk (newAccount) */
  char *s = wh_acme_jws(k, NULL, "nonce-1", "https://ca/new-acct", "{\"a\":1}");
  assert_non_null(s);
  cJSON *h = verify_jws(s, k, "{\"a\":1}");
  assert_string_equal(cJSON_GetObjectItem(h, "alg")->valuestring, alg);
  assert_string_equal(cJSON_GetObjectItem(h, "nonce")->valuestring, "nonce-1");
  assert_string_equal(cJSON_GetObjectItem(h, "url")->valuestring, "https://ca/new-acct");
  assert_null(cJSON_GetObjectItem(h, "kid"));
  cJSON *jwk = cJSON_GetObjectItem(h, "jwk");
  assert_non_null(jwk);
  char *t1 = wh_acme_jwk_thumbprint_json(jwk), *t2 = wh_acme_jwk_thumbprint(k);
  assert_string_equal(t1, t2);
  free(t1);
  free(t2);
  cJSON_Delete(h);
  free(s);
  /* with the kid, POST-as-GET */
  s = wh_acme_jws(k, "https://ca/acct/1", "nonce-2", "https://ca/order/1", NULL);
  h = verify_jws(s, k, "");
  assert_string_equal(cJSON_GetObjectItem(h, "kid")->valuestring, "https://ca/acct/1");
  assert_null(cJSON_GetObjectItem(h, "jwk"));
  cJSON *j = cJSON_Parse(s);
  assert_string_equal(cJSON_GetObjectItem(j, "payload")->valuestring, "");
  cJSON_Delete(j);
  cJSON_Delete(h);
  free(s);
  EVP_PKEY_free(k);
}

static void test_jws_es256(void **state) {
  (void)state;
  check_jws(WH_ACME_KEY_EC256, "ES256");
}

static void test_jws_es384(void **state) {
  (void)state;
  check_jws(WH_ACME_KEY_EC384, "ES384");
}

static void test_jws_rs256(void **state) {
  (void)state;
  check_jws(WH_ACME_KEY_RSA2048, "RS256");
}

static void test_eab(void **state) {
  (void)state;
  EVP_PKEY *k = wh_acme_key_generate(WH_ACME_KEY_EC256);
  /* pebble's example key */
  const char *hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
  cJSON *e = wh_acme_eab_jws(k, "kid-1", hmac, "https://ca/new-acct");
  assert_non_null(e);
  const char *prot = cJSON_GetObjectItem(e, "protected")->valuestring;
  const char *pay = cJSON_GetObjectItem(e, "payload")->valuestring;
  const char *sig = cJSON_GetObjectItem(e, "signature")->valuestring;
  char *htxt = b64url_text(prot);
  cJSON *h = cJSON_Parse(htxt);
  assert_string_equal(cJSON_GetObjectItem(h, "alg")->valuestring, "HS256");
  assert_string_equal(cJSON_GetObjectItem(h, "kid")->valuestring, "kid-1");
  assert_string_equal(cJSON_GetObjectItem(h, "url")->valuestring, "https://ca/new-acct");
  assert_null(cJSON_GetObjectItem(h, "nonce")); /* RFC 8555 §7.3.4: no nonce */
  /* the payload is the account key's JWK */
  char *ptxt = b64url_text(pay);
  cJSON *pj = cJSON_Parse(ptxt);
  char *t1 = wh_acme_jwk_thumbprint_json(pj), *t2 = wh_acme_jwk_thumbprint(k);
  assert_string_equal(t1, t2);
  /* the MAC is HMAC-SHA256 with the decoded key */
  size_t klen;
  unsigned char *key = wh_acme_b64url_decode(hmac, &klen);
  assert_int_equal(klen, 48);
  char input[4096];
  snprintf(input, sizeof(input), "%s.%s", prot, pay);
  unsigned char mac[32];
  size_t maclen = 0;
  assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, klen, (unsigned char *)input,
                            strlen(input), mac, sizeof(mac), &maclen));
  char *want = wh_acme_b64url(mac, maclen);
  assert_string_equal(sig, want);
  free(want);
  free(key);
  free(t1);
  free(t2);
  cJSON_Delete(pj);
  free(ptxt);
  cJSON_Delete(h);
  free(htxt);
  cJSON_Delete(e);
  assert_null(wh_acme_eab_jws(k, "kid-1", "not*base64", "https://ca/new-acct"));
  EVP_PKEY_free(k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc7638_vector),     cmocka_unit_test(test_b64url),
      cmocka_unit_test(test_jwk_ec_coordinates), cmocka_unit_test(test_key_authorization),
      cmocka_unit_test(test_jws_es256),          cmocka_unit_test(test_jws_es384),
      cmocka_unit_test(test_jws_rs256),          cmocka_unit_test(test_eab),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
