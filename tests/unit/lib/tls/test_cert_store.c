#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tests/unit/support/pki.h"

#include "lib/tls/cert_store.h"

/* ---- fixtures ---- */

static EVP_PKEY *g_rsa, *g_ec;

/* A self-signed certificate for key with the given SANs (OpenSSL config
 * syntax) or, when san is NULL, only the subject cn (NULL: no name at all),
 * valid -1h .. +1d, loaded through the public inline-PEM path. */
static wh_cert *mk(EVP_PKEY *key, const char *cn, const char *san) {
  pki_spec sp = {.cn = cn, .san = san, .not_before = -3600, .not_after = 86400, .key = key};
  X509 *x = pki_cert(&sp);
  char *cp = pki_cert_pem(x);
  char *kp = pki_key_pem(key);
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_cert *c = wh_cert_load(cp, kp, &errs);
  assert_non_null(c);
  wh_errlist_free(&errs);
  X509_free(x);
  free(cp);
  free(kp);
  return c;
}

/* Adds c expecting no warning and drops the caller's reference. */
static void add(wh_cert_store *s, wh_cert *c) {
  wh_errlist w;
  wh_errlist_init(&w);
  assert_int_equal(wh_cert_store_add(s, c, &w), 0);
  if (w.n)
    fail_msg("unexpected warning: %s", w.items[0]);
  wh_errlist_free(&w);
  wh_cert_unref(c);
}

/* The certificate a lookup for name selects (EC preferred, as it is set in
 * these tests), or NULL. */
static const wh_cert *pick(const wh_cert_store *s, const char *name) {
  const wh_cert_group *g = wh_cert_store_lookup(s, name);
  if (!g)
    return NULL;
  assert_true(g->rsa || g->ec);
  return g->ec ? g->ec : g->rsa;
}

#define MANY 1000

static wh_cert *g_many[MANY];
static wh_cert *g_wild;

/* Built once for the tests that need many certificates: making 1000 of them
 * is most of this file's run time under ASan. */
static void build_many(wh_cert_store *s) {
  char name[64];
  for (int i = 0; i < MANY; i++) {
    snprintf(name, sizeof(name), "host%d.example.com", i);
    g_many[i] = wh_cert_self_signed(name, NULL, 0);
    assert_non_null(g_many[i]);
    add(s, wh_cert_ref(g_many[i]));
  }
  const char *w[] = {"*.wild.test"};
  g_wild = wh_cert_self_signed("wild", w, 1);
  add(s, wh_cert_ref(g_wild));
  assert_int_equal(wh_cert_store_finish(s), 0);
}

static wh_cert_store *g_many_store;

static int setup(void **state) {
  (void)state;
  g_rsa = EVP_RSA_gen(2048);
  g_ec = EVP_EC_gen("P-256");
  if (!g_rsa || !g_ec)
    return -1;
  g_many_store = wh_cert_store_new();
  build_many(g_many_store);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  wh_cert_store_free(g_many_store);
  for (int i = 0; i < MANY; i++)
    wh_cert_unref(g_many[i]);
  wh_cert_unref(g_wild);
  EVP_PKEY_free(g_rsa);
  EVP_PKEY_free(g_ec);
  return 0;
}

/* ---- tests ---- */

static void test_exact(void **state) {
  (void)state;
  wh_cert_store *s = wh_cert_store_new();
  wh_cert *a = mk(g_ec, NULL, "DNS:a.example.com,DNS:b.example.com");
  wh_cert *c = mk(g_ec, "c.example.com", NULL);
  add(s, wh_cert_ref(a));
  add(s, wh_cert_ref(c));
  assert_int_equal(wh_cert_store_finish(s), 0);
  assert_ptr_equal(pick(s, "a.example.com"), a);
  assert_ptr_equal(pick(s, "b.example.com"), a);
  assert_ptr_equal(pick(s, "c.example.com"), c);
  assert_int_equal(wh_cert_store_count(s), 2);
  wh_cert_store_free(s);
  wh_cert_unref(a);
  wh_cert_unref(c);
}

static void test_h21_case_and_trailing_dot(void **state) {
  (void)state;
  wh_cert_store *s = wh_cert_store_new();
  wh_cert *a = mk(g_ec, NULL, "DNS:A.Example.com.");
  add(s, wh_cert_ref(a));
  wh_cert_store_finish(s);
  assert_ptr_equal(pick(s, "a.example.com"), a);
  assert_ptr_equal(pick(s, "A.Example."), NULL);
  assert_ptr_equal(pick(s, "A.EXAMPLE.COM."), a);
  assert_ptr_equal(pick(s, "a.example.com.."), a);
  wh_cert_store_free(s);
  wh_cert_unref(a);
}

static void test_wildcard_one_label_only(void **state) {
  (void)state;
  wh_cert_store *s = wh_cert_store_new();
  wh_cert *w = mk(g_ec, NULL, "DNS:*.example.com");
  add(s, wh_cert_ref(w));
  wh_cert_store_finish(s);
  assert_ptr_equal(pick(s, "a.example.com"), w);
  assert_ptr_equal(pick(s, "WWW.Example.Com."), w); /* HARDENING 21 */
  assert_ptr_equal(pick(s, "a-very-long-label-0123.example.com"), w);
  assert_null(pick(s, "a.b.example.com"));
  assert_null(pick(s, "example.com"));
  assert_null(pick(s, ".example.com"));
  assert_null(pick(s, "example.com."));
  assert_null(pick(s, "aexample.com"));
  assert_null(pick(s, "a.example.org"));
  wh_cert_store_free(s);
  wh_cert_unref(w);
}

static void test_exact_beats_wildcard_in_any_order(void **state) {
  (void)state;
  for (int order = 0; order < 2; order++) {
    wh_cert_store *s = wh_cert_store_new();
    wh_cert *w = mk(g_ec, NULL, "DNS:*.example.com");
    wh_cert *e = mk(g_ec, NULL, "DNS:api.example.com");
    add(s, wh_cert_ref(order ? e : w));
    add(s, wh_cert_ref(order ? w : e));
    wh_cert_store_finish(s);
    assert_ptr_equal(pick(s, "api.example.com"), e);
    assert_ptr_equal(pick(s, "www.example.com"), w);
    wh_cert_store_free(s);
    wh_cert_unref(w);
    wh_cert_unref(e);
  }
}

static void test_no_match_is_null(void **state) {
  (void)state;
  wh_cert_store *s = wh_cert_store_new();
  wh_cert *a = mk(g_ec, NULL, "DNS:a.test");
  add(s, wh_cert_ref(a));
  wh_cert_store_finish(s);
  assert_null(wh_cert_store_lookup(s, "b.test"));
  assert_null(wh_cert_store_lookup(s, NULL));
  assert_null(wh_cert_store_lookup(s, ""));
  assert_null(wh_cert_store_lookup(s, "."));
  assert_null(wh_cert_store_lookup(s, "test"));
  char big[400];
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  assert_null(wh_cert_store_lookup(s, big)); /* over-long SNI: no match, no overflow */
  memcpy(big + sizeof(big) - 8, ".a.test", 8);
  assert_null(wh_cert_store_lookup(s, big));
  assert_null(wh_cert_store_lookup(NULL, "a.test"));
  wh_cert_store_free(s);
  wh_cert_unref(a);
  /* an empty store finishes and matches nothing */
  s = wh_cert_store_new();
  assert_int_equal(wh_cert_store_finish(s), 0);
  assert_null(wh_cert_store_lookup(s, "a.test"));
  assert_int_equal(wh_cert_store_count(s), 0);
  assert_null(wh_cert_store_at(s, 0));
  wh_cert_store_free(s);
}

static void test_rsa_and_ec_share_a_group(void **state) {
  (void)state;
  wh_cert_store *s = wh_cert_store_new();
  wh_cert *r = mk(g_rsa, NULL, "DNS:b.test,DNS:a.test");
  wh_cert *e = mk(g_ec, NULL, "DNS:A.test,DNS:b.test."); /* same set, other order and case */
  add(s, wh_cert_ref(r));
  add(s, wh_cert_ref(e));
  wh_cert_store_finish(s);
  assert_int_equal(wh_cert_store_count(s), 1);
  const wh_cert_group *g = wh_cert_store_lookup(s, "a.test");
  assert_non_null(g);
  assert_ptr_equal(g->rsa, r);
  assert_ptr_equal(g->ec, e);
  assert_string_equal(g->key, "a.test,b.test");
  assert_ptr_equal(wh_cert_store_lookup(s, "b.test"), g);
  assert_ptr_equal(wh_cert_store_at(s, 0), g);
  wh_cert_store_free(s);
  wh_cert_unref(r);
  wh_cert_unref(e);
}

static void test_subset_names_is_another_group(void **state) {
  (void)state;
  wh_cert_store *s = wh_cert_store_new();
  wh_cert *r = mk(g_rsa, NULL, "DNS:a.test,DNS:b.test");
  wh_cert *e = mk(g_ec, NULL, "DNS:a.test");
  add(s, wh_cert_ref(r));
  add(s, wh_cert_ref(e));
  wh_cert_store_finish(s);
  assert_int_equal(wh_cert_store_count(s), 2);
  /* a.test is in both: the group added first serves it */
  const wh_cert_group *g = wh_cert_store_lookup(s, "a.test");
  assert_ptr_equal(g, wh_cert_store_at(s, 0));
  assert_ptr_equal(g->rsa, r);
  assert_null(g->ec);
  assert_string_equal(wh_cert_store_at(s, 1)->key, "a.test");
  assert_null(wh_cert_store_at(s, 2));
  for (size_t i = 0; i < 2; i++)
    assert_int_equal(wh_cert_store_at(s, i)->index, i);
  assert_int_equal(wh_cert_store_lookup(s, "b.test")->index, 0);
  wh_cert_store_free(s);
  wh_cert_unref(r);
  wh_cert_unref(e);
}

static void test_duplicate_same_kind_warns_first_wins(void **state) {
  (void)state;
  wh_cert_store *s = wh_cert_store_new();
  wh_cert *first = mk(g_ec, NULL, "DNS:dup.test");
  wh_cert *second = mk(g_ec, NULL, "DNS:DUP.test");
  wh_errlist w;
  wh_errlist_init(&w);
  assert_int_equal(wh_cert_store_add(s, first, &w), 0);
  assert_int_equal(w.n, 0);
  assert_int_equal(wh_cert_store_add(s, second, &w), 0);
  assert_int_equal(w.n, 1);
  assert_non_null(strstr(w.items[0], "another ECDSA certificate for the same names (dup.test)"));
  assert_non_null(strstr(w.items[0], "ignored"));
  assert_int_equal(atomic_load(&second->refs), 1); /* the store kept no reference */
  assert_int_equal(atomic_load(&first->refs), 2);
  wh_cert_store_finish(s);
  assert_int_equal(wh_cert_store_count(s), 1);
  assert_ptr_equal(pick(s, "dup.test"), first);
  wh_cert_store_free(s);
  assert_int_equal(atomic_load(&first->refs), 1);
  wh_errlist_free(&w);
  wh_cert_unref(first);
  wh_cert_unref(second);
}

static void test_default(void **state) {
  (void)state;
  wh_cert_store *s = wh_cert_store_new();
  assert_null(wh_cert_store_default(s));
  wh_cert *d1 = wh_cert_self_signed("TRAEFIK DEFAULT CERT", NULL, 0);
  wh_cert *d2 = mk(g_rsa, "default.test", NULL);
  wh_cert_store_set_default(s, d1);
  assert_int_equal(atomic_load(&d1->refs), 2);
  wh_cert_store_set_default(s, d2); /* replaces, and releases d1 */
  assert_int_equal(atomic_load(&d1->refs), 1);
  const wh_cert_group *g = wh_cert_store_default(s);
  assert_non_null(g);
  assert_ptr_equal(g->rsa, d2);
  assert_null(g->ec);
  assert_string_equal(g->key, "default.test");
  wh_cert *other = mk(g_ec, NULL, "DNS:other.test"); /* added after the default was set */
  add(s, other);
  wh_cert_store_finish(s);
  wh_cert_store_set_default(s, d1); /* frozen: ignored */
  assert_ptr_equal(wh_cert_store_default(s)->rsa, d2);
  assert_int_equal(atomic_load(&d1->refs), 1);
  /* the default is not an SNI candidate; its index is one past the groups */
  assert_int_equal(wh_cert_store_count(s), 1);
  assert_int_equal(wh_cert_store_default(s)->index, 1);
  assert_null(wh_cert_store_lookup(s, "default.test"));
  assert_int_equal(wh_cert_store_lookup(s, "other.test")->index, 0);
  wh_cert_store_free(s);
  assert_int_equal(atomic_load(&d2->refs), 1);
  wh_cert_unref(d1);
  wh_cert_unref(d2);
}

static void test_nameless_cert_rejected(void **state) {
  (void)state;
  wh_cert_store *s = wh_cert_store_new();
  wh_cert *c = mk(g_ec, NULL, NULL);
  assert_int_equal(c->nnames, 0);
  wh_errlist w;
  wh_errlist_init(&w);
  assert_int_equal(wh_cert_store_add(s, c, &w), WH_EINVAL);
  assert_int_equal(w.n, 1);
  assert_non_null(strstr(w.items[0], "tls certificate inline PEM: names no host"));
  assert_int_equal(atomic_load(&c->refs), 1);
  assert_int_equal(wh_cert_store_count(s), 0);
  /* the store is still usable */
  wh_cert *ok = mk(g_ec, NULL, "DNS:ok.test");
  add(s, wh_cert_ref(ok));
  wh_cert_store_finish(s);
  assert_ptr_equal(pick(s, "ok.test"), ok);
  wh_errlist_free(&w);
  wh_cert_store_free(s);
  wh_cert_unref(c);
  wh_cert_unref(ok);
}

static void test_ip_names(void **state) {
  (void)state;
  wh_cert_store *s = wh_cert_store_new();
  wh_cert *c = mk(g_ec, NULL, "IP:127.0.0.1,IP:::1");
  add(s, wh_cert_ref(c));
  wh_cert_store_finish(s);
  /* with no SNI the caller looks up the local address, as Traefik does */
  assert_ptr_equal(pick(s, "127.0.0.1"), c);
  assert_ptr_equal(pick(s, "::1"), c);
  assert_null(pick(s, "127.0.0.2"));
  wh_cert_store_free(s);
  wh_cert_unref(c);
}

static void test_other_key_kind_takes_ec_slot(void **state) {
  (void)state;
  EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  assert_non_null(ed);
  /* Ed25519 signs without a digest (pki_cert knows) */
  pki_spec sp = {.cn = "ed.test", .not_before = -60, .not_after = 3600, .key = ed};
  X509 *x = pki_cert(&sp);
  char *cp = pki_cert_pem(x), *kp = pki_key_pem(ed);
  char *pem = pki_cat(cp, kp); /* the certificate and its key in one PEM */
  free(cp);
  free(kp);
  wh_cert *c = wh_cert_load(pem, pem, NULL);
  assert_non_null(c);
  assert_int_equal(c->kind, WH_KEY_OTHER);
  wh_cert *r = mk(g_rsa, "ed.test", NULL);
  wh_cert_store *s = wh_cert_store_new();
  add(s, wh_cert_ref(c));
  add(s, wh_cert_ref(r));
  wh_cert_store_finish(s);
  const wh_cert_group *g = wh_cert_store_lookup(s, "ed.test");
  assert_non_null(g);
  assert_ptr_equal(g->ec, c);
  assert_ptr_equal(g->rsa, r);
  wh_cert_store_free(s);
  wh_cert_unref(c);
  wh_cert_unref(r);
  X509_free(x);
  EVP_PKEY_free(ed);
  free(pem);
}

static void test_lifecycle_misuse(void **state) {
  (void)state;
  wh_cert_store *s = wh_cert_store_new();
  wh_cert *a = mk(g_ec, NULL, "DNS:a.test");
  add(s, wh_cert_ref(a));
  assert_null(wh_cert_store_lookup(s, "a.test")); /* not finished: no index yet */
  assert_int_equal(wh_cert_store_finish(s), 0);
  assert_int_equal(wh_cert_store_finish(s), WH_EINVAL);
  assert_int_equal(wh_cert_store_add(s, a, NULL), WH_EINVAL);
  assert_int_equal(atomic_load(&a->refs), 2);
  assert_int_equal(wh_cert_store_add(NULL, a, NULL), WH_EINVAL);
  assert_ptr_equal(pick(s, "a.test"), a);
  wh_cert_store_free(s);
  wh_cert_store_free(NULL);
  assert_int_equal(wh_cert_store_count(NULL), 0);
  assert_null(wh_cert_store_default(NULL));
  wh_cert_unref(a);
}

static void test_1000_certs(void **state) {
  (void)state;
  const wh_cert_store *s = g_many_store;
  assert_int_equal(wh_cert_store_count(s), MANY + 1);
  char name[64];
  for (int i = 0; i < MANY; i++) {
    snprintf(name, sizeof(name), "HOST%d.example.com.", i);
    if (pick(s, name) != g_many[i])
      fail_msg("wrong certificate for %s", name);
    assert_ptr_equal(wh_cert_store_at(s, (size_t)i)->ec, g_many[i]);
    assert_int_equal(wh_cert_store_lookup(s, name)->index, i);
  }
  assert_ptr_equal(pick(s, "x.wild.test"), g_wild);
  assert_null(pick(s, "host1000.example.com"));
  assert_null(pick(s, "x.host1.example.com"));
}

typedef struct reader {
  const wh_cert_store *s;
  int seed, bad;
} reader;

static void *read_many(void *arg) {
  reader *r = arg;
  char name[64];
  for (int k = 0; k < 20000; k++) {
    int i = (k * 7919 + r->seed) % MANY;
    snprintf(name, sizeof(name), (k & 1) ? "host%d.example.com" : "Host%d.Example.Com.", i);
    const wh_cert_group *g = wh_cert_store_lookup(r->s, name);
    if (!g || g->ec != g_many[i])
      r->bad++;
    if (wh_cert_store_lookup(r->s, "nothing.example.net"))
      r->bad++;
  }
  return NULL;
}

static void test_concurrent_lookups(void **state) {
  (void)state;
  const wh_cert_store *s = g_many_store;
  pthread_t t[4];
  reader r[4];
  for (int i = 0; i < 4; i++) {
    r[i] = (reader){.s = s, .seed = i * 31};
    assert_int_equal(pthread_create(&t[i], NULL, read_many, &r[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(r[i].bad, 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact),
      cmocka_unit_test(test_h21_case_and_trailing_dot),
      cmocka_unit_test(test_wildcard_one_label_only),
      cmocka_unit_test(test_exact_beats_wildcard_in_any_order),
      cmocka_unit_test(test_no_match_is_null),
      cmocka_unit_test(test_rsa_and_ec_share_a_group),
      cmocka_unit_test(test_subset_names_is_another_group),
      cmocka_unit_test(test_duplicate_same_kind_warns_first_wins),
      cmocka_unit_test(test_default),
      cmocka_unit_test(test_nameless_cert_rejected),
      cmocka_unit_test(test_ip_names),
      cmocka_unit_test(test_other_key_kind_takes_ec_slot),
      cmocka_unit_test(test_lifecycle_misuse),
      cmocka_unit_test(test_1000_certs),
      cmocka_unit_test(test_concurrent_lookups),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
