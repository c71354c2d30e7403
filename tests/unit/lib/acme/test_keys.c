/* lib/acme/keys.c and lib/acme/csr.c: key types, acme.json's DER form, PEM,
 * and the CSR sent to finalize. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "lib/acme/csr.h"
#include "lib/acme/keys.h"
#include "lib/core/err.h"

static void test_key_type_names(void **state) {
  (void)state;
  wh_acme_key_type t;
  assert_int_equal(wh_acme_key_type_parse("EC256", &t), 0);
  assert_int_equal(t, WH_ACME_KEY_EC256);
  assert_int_equal(wh_acme_key_type_parse("RSA8192", &t), 0);
  assert_int_equal(t, WH_ACME_KEY_RSA8192);
  assert_int_equal(wh_acme_key_type_parse("", &t), 0);
  assert_int_equal(t, WH_ACME_KEY_RSA4096);
  assert_int_equal(wh_acme_key_type_parse("ec256", &t), WH_EINVAL);
  assert_string_equal(wh_acme_key_type_name(WH_ACME_KEY_EC384), "EC384");
}

static void roundtrip(wh_acme_key_type type, const char *pem_label) {
  EVP_PKEY *k = wh_acme_key_generate(type);
  assert_non_null(k);
  wh_acme_key_type back;
  assert_int_equal(wh_acme_key_type_of(k, &back), 0);
  assert_int_equal(back, type);

  char *b64 = wh_acme_key_to_der_b64(k);
  assert_non_null(b64);
  EVP_PKEY *k2 = wh_acme_key_from_der_b64(b64);
  assert_non_null(k2);
  assert_int_equal(EVP_PKEY_eq(k, k2), 1);

  /* the DER is the traditional form Go's x509 package reads: PKCS#1 / SEC1 */
  size_t n = 0;
  unsigned char *der = wh_acme_b64_decode(b64, &n);
  assert_non_null(der);
  /* SEQUENCE { INTEGER version, ... }: PKCS#1 goes on with the modulus
   * (INTEGER, version 0), SEC1 with the key (OCTET STRING, version 1);
   * PKCS#8 would have an AlgorithmIdentifier SEQUENCE there */
  assert_int_equal(der[0], 0x30);
  size_t off = der[1] & 0x80 ? 2 + (der[1] & 0x7f) : 2;
  if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
    assert_memory_equal(der + off, "\x02\x01\x00\x02", 4);
  } else {
    assert_memory_equal(der + off, "\x02\x01\x01\x04", 4);
  }
  free(der);

  char *pem = wh_acme_key_to_pem(k);
  assert_non_null(pem);
  assert_non_null(strstr(pem, pem_label));
  EVP_PKEY *k3 = wh_acme_key_from_pem(pem, strlen(pem));
  assert_non_null(k3);
  assert_int_equal(EVP_PKEY_eq(k, k3), 1);

  /* PKCS#8 DER is accepted too */
  unsigned char *p8 = NULL;
  PKCS8_PRIV_KEY_INFO *inf = EVP_PKEY2PKCS8(k);
  int p8len = i2d_PKCS8_PRIV_KEY_INFO(inf, &p8);
  assert_true(p8len > 0);
  EVP_PKEY *k4 = wh_acme_key_from_der(p8, (size_t)p8len);
  assert_non_null(k4);
  assert_int_equal(EVP_PKEY_eq(k, k4), 1);

  OPENSSL_free(p8);
  PKCS8_PRIV_KEY_INFO_free(inf);
  EVP_PKEY_free(k4);
  EVP_PKEY_free(k3);
  EVP_PKEY_free(k2);
  EVP_PKEY_free(k);
  free(pem);
  free(b64);
}

static void test_roundtrip_ec256(void **state) {
  (void)state;
  roundtrip(WH_ACME_KEY_EC256, "-----BEGIN EC PRIVATE KEY-----");
}

static void test_roundtrip_ec384(void **state) {
  (void)state;
  roundtrip(WH_ACME_KEY_EC384, "-----BEGIN EC PRIVATE KEY-----");
}

static void test_roundtrip_rsa2048(void **state) {
  (void)state;
  roundtrip(WH_ACME_KEY_RSA2048, "-----BEGIN RSA PRIVATE KEY-----");
}

static void test_bad_input(void **state) {
  (void)state;
  size_t n;
  assert_null(wh_acme_b64_decode("ab$d", &n));
  assert_null(wh_acme_b64_decode("a", &n));
  unsigned char *d = wh_acme_b64_decode("aGk=", &n);
  assert_non_null(d);
  assert_int_equal(n, 2);
  assert_memory_equal(d, "hi", 2);
  free(d);
  d = wh_acme_b64_decode("aGk", &n); /* unpadded, as base64url */
  assert_non_null(d);
  assert_int_equal(n, 2);
  free(d);
  char *e = wh_acme_b64_encode("hi", 2);
  assert_string_equal(e, "aGk=");
  free(e);
  assert_null(wh_acme_key_from_der_b64("aGVsbG8gd29ybGQ="));
  assert_null(wh_acme_key_from_der_b64("not base64 !"));
  assert_null(wh_acme_key_from_pem("junk", 4));
}

static void test_csr(void **state) {
  (void)state;
  EVP_PKEY *k = wh_acme_key_generate(WH_ACME_KEY_EC256);
  const char *domains[] = {"a.example.test", "*.b.example.test", "c.example.test"};
  unsigned char *der = NULL;
  size_t len = 0;
  assert_int_equal(wh_acme_csr(k, domains, 3, &der, &len), 0);
  const unsigned char *p = der;
  X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
  assert_non_null(req);
  assert_int_equal(X509_REQ_verify(req, k), 1);
  char cn[256];
  assert_true(X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn,
                                        sizeof(cn)) > 0);
  assert_string_equal(cn, "a.example.test");
  STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
  assert_non_null(exts);
  GENERAL_NAMES *sans = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
  assert_non_null(sans);
  assert_int_equal(sk_GENERAL_NAME_num(sans), 3);
  for (int i = 0; i < 3; i++) {
    GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
    assert_int_equal(gn->type, GEN_DNS);
    assert_string_equal((const char *)ASN1_STRING_get0_data(gn->d.dNSName), domains[i]);
  }
  GENERAL_NAMES_free(sans);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_free(req);
  free(der);

  /* a first name longer than a CN may be is only a SAN */
  char longname[128];
  memset(longname, 'a', 70);
  strcpy(longname + 70, ".example.test");
  const char *one[] = {longname};
  assert_int_equal(wh_acme_csr(k, one, 1, &der, &len), 0);
  p = der;
  req = d2i_X509_REQ(NULL, &p, (long)len);
  assert_non_null(req);
  assert_int_equal(X509_NAME_entry_count(X509_REQ_get_subject_name(req)), 0);
  X509_REQ_free(req);
  free(der);

  const char *bad[] = {"a b.example"};
  assert_int_equal(wh_acme_csr(k, bad, 1, &der, &len), WH_EINVAL);
  assert_int_equal(wh_acme_csr(k, domains, 0, &der, &len), WH_EINVAL);
  EVP_PKEY_free(k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_type_names),  cmocka_unit_test(test_roundtrip_ec256),
      cmocka_unit_test(test_roundtrip_ec384), cmocka_unit_test(test_roundtrip_rsa2048),
      cmocka_unit_test(test_bad_input),       cmocka_unit_test(test_csr),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
