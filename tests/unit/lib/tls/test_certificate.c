#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tests/unit/support/pki.h"

#include "lib/tls/certificate.h"

/* ---- fixtures: keys made once, certificates made per test (tests/unit/support/pki.h) ---- */

static EVP_PKEY *g_rsa, *g_ec, *g_ec2;
static pki_dir g_dir;

/* A certificate for spec, loaded from inline PEM. */
static wh_cert *load_spec(const pki_spec *sp) {
  X509 *x = pki_cert(sp);
  char *cp = pki_cert_pem(x), *kp = pki_key_pem(sp->key);
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_cert *c = wh_cert_load(cp, kp, &errs);
  if (!c)
    fail_msg("load failed: %s", errs.n ? errs.items[0] : "(no message)");
  assert_int_equal(errs.n, 0);
  wh_errlist_free(&errs);
  X509_free(x);
  free(cp);
  free(kp);
  return c;
}

/* Loads expecting failure; returns the single message (caller frees). */
static char *load_err(const char *cert, const char *key) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_cert *c = wh_cert_load(cert, key, &errs);
  assert_null(c);
  assert_int_equal(errs.n, 1);
  char *msg = strdup(errs.items[0]);
  wh_errlist_free(&errs);
  assert_int_equal(ERR_peek_error(), 0); /* nothing left for the next SSL call */
  return msg;
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle))
    fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

static void assert_names(const wh_cert *c, const char *const *want, size_t n) {
  if (c->nnames != n) {
    for (size_t i = 0; i < c->nnames; i++)
      print_message("name[%zu] = %s\n", i, c->names[i]);
    fail_msg("%zu names, want %zu", c->nnames, n);
  }
  for (size_t i = 0; i < n; i++)
    assert_string_equal(c->names[i], want[i]);
}

static int setup(void **state) {
  (void)state;
  g_rsa = EVP_RSA_gen(2048);
  g_ec = EVP_EC_gen("P-256");
  g_ec2 = EVP_EC_gen("P-256");
  return g_rsa && g_ec && g_ec2 && pki_dir_make(&g_dir, "/tmp/wh_cert_test_XXXXXX") ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  pki_dir_remove(&g_dir);
  EVP_PKEY_free(g_rsa);
  EVP_PKEY_free(g_ec);
  EVP_PKEY_free(g_ec2);
  return 0;
}

/* ---- loading ---- */

static void test_load_rsa_from_files(void **state) {
  (void)state;
  pki_spec sp = {
      .cn = "www.example.com", .san = "DNS:www.example.com,DNS:Example.COM.", .key = g_rsa};
  X509 *x = pki_cert(&sp);
  char *cp = pki_cert_pem(x), *kp = pki_key_pem(g_rsa);
  const char *cpath = pki_dir_write_str(&g_dir, "rsa.crt", cp),
             *kpath = pki_dir_write_str(&g_dir, "rsa.key", kp);
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_cert *c = wh_cert_load(cpath, kpath, &errs);
  assert_non_null(c);
  assert_int_equal(errs.n, 0);
  assert_int_equal(c->kind, WH_KEY_RSA);
  const char *names[] = {"www.example.com", "example.com"};
  assert_names(c, names, 2);
  assert_string_equal(c->subject, "CN=www.example.com");
  assert_string_equal(c->issuer, "CN=www.example.com");
  assert_int_equal(sk_X509_num(c->chain), 0);
  assert_int_equal(X509_cmp(c->x509, x), 0);
  char *origin = malloc(strlen(cpath) + 6);
  sprintf(origin, "file %s", cpath);
  assert_string_equal(c->origin, origin);
  free(origin);
  /* fingerprint of the DER leaf, lowercase hex */
  unsigned char md[32];
  unsigned int mdlen = 0;
  X509_digest(x, EVP_sha256(), md, &mdlen);
  char hex[65];
  for (unsigned i = 0; i < 32; i++)
    sprintf(hex + 2 * i, "%02x", md[i]);
  assert_string_equal(c->sha256, hex);
  time_t now = time(NULL);
  assert_true(llabs((long long)(c->not_before - (now - 3600))) < 120);
  assert_true(llabs((long long)(c->not_after - (now + 30L * 86400))) < 120);
  assert_int_equal(atomic_load(&c->refs), 1);
  wh_cert_unref(c);
  X509_free(x);
  free(cp);
  free(kp);
}

static void test_load_ec_inline(void **state) {
  (void)state;
  pki_spec sp = {.cn = "ec.test", .san = "DNS:ec.test", .key = g_ec};
  wh_cert *c = load_spec(&sp);
  assert_int_equal(c->kind, WH_KEY_EC);
  assert_string_equal(c->origin, "inline PEM");
  const char *names[] = {"ec.test"};
  assert_names(c, names, 1);
  assert_true(EVP_PKEY_eq(c->key, g_ec) == 1);
  wh_cert_unref(c);
}

static void test_load_path_and_inline_mixed(void **state) {
  (void)state;
  pki_spec sp = {.san = "DNS:mixed.test", .key = g_ec};
  X509 *x = pki_cert(&sp);
  char *cp = pki_cert_pem(x), *kp = pki_key_pem(g_ec);
  const char *cpath = pki_dir_write_str(&g_dir, "mixed.crt", cp),
             *kpath = pki_dir_write_str(&g_dir, "mixed.key", kp);
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_cert *a = wh_cert_load(cpath, kp, &errs);
  wh_cert *b = wh_cert_load(cp, kpath, &errs);
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(errs.n, 0);
  assert_string_equal(a->sha256, b->sha256);
  assert_true(strncmp(a->origin, "file ", 5) == 0);
  assert_string_equal(b->origin, "inline PEM");
  wh_cert_unref(a);
  wh_cert_unref(b);
  X509_free(x);
  free(cp);
  free(kp);
}

static void test_names_cn_only(void **state) {
  (void)state;
  pki_spec sp = {.cn = "Host.Example.ORG.", .key = g_ec};
  wh_cert *c = load_spec(&sp);
  const char *names[] = {"host.example.org"};
  assert_names(c, names, 1);
  assert_string_equal(c->subject, "CN=Host.Example.ORG."); /* the subject is shown as written */
  wh_cert_unref(c);
}

static void test_names_cn_ignored_with_dns_san(void **state) {
  (void)state;
  pki_spec sp = {.cn = "cn.example", .san = "DNS:a.example,DNS:b.example", .key = g_ec};
  wh_cert *c = load_spec(&sp);
  const char *names[] = {"a.example", "b.example"};
  assert_names(c, names, 2);
  wh_cert_unref(c);
}

static void test_names_ip_sans(void **state) {
  (void)state;
  pki_spec sp = {.cn = "ignored", .san = "IP:127.0.0.1,DNS:Local.Test,IP:::1", .key = g_ec};
  wh_cert *c = load_spec(&sp);
  const char *names[] = {"127.0.0.1", "local.test", "::1"};
  assert_names(c, names, 3);
  wh_cert_unref(c);
  /* IP SANs only: the CN still names the certificate, first */
  pki_spec sp2 = {.cn = "Box", .san = "IP:10.1.2.3", .key = g_ec};
  c = load_spec(&sp2);
  const char *names2[] = {"box", "10.1.2.3"};
  assert_names(c, names2, 2);
  wh_cert_unref(c);
}

static void test_names_duplicates_dropped(void **state) {
  (void)state;
  pki_spec sp = {.san = "DNS:a.com,DNS:A.COM.,DNS:b.com,DNS:a.com", .key = g_ec};
  wh_cert *c = load_spec(&sp);
  const char *names[] = {"a.com", "b.com"};
  assert_names(c, names, 2);
  wh_cert_unref(c);
}

static void test_no_names(void **state) {
  (void)state;
  pki_spec sp = {.key = g_ec}; /* subject O=wharf tests, no CN, no SAN */
  wh_cert *c = load_spec(&sp);
  assert_int_equal(c->nnames, 0);
  assert_string_equal(c->subject, "O=wharf tests");
  wh_cert_unref(c);
}

static void test_expired_still_loads(void **state) {
  (void)state;
  pki_spec sp = {
      .san = "DNS:old.test", .not_before = -2L * 365 * 86400, .not_after = -86400, .key = g_rsa};
  wh_cert *c = load_spec(&sp);
  assert_true(c->not_after < time(NULL));
  assert_true(c->not_before < c->not_after);
  wh_cert_unref(c);
}

/* root CA -> intermediate -> leaf; the PEM carries leaf then intermediate. */
static void make_chain(X509 **root, X509 **inter, X509 **leaf) {
  pki_spec rs = {.cn = "Test Root", .key = g_rsa, .ca = true};
  *root = pki_cert(&rs);
  pki_spec is = {
      .cn = "Test Intermediate", .key = g_ec2, .issuer = *root, .issuer_key = g_rsa, .ca = true};
  *inter = pki_cert(&is);
  pki_spec ls = {.cn = "leaf.test",
                 .san = "DNS:leaf.test",
                 .key = g_ec,
                 .issuer = *inter,
                 .issuer_key = g_ec2};
  *leaf = pki_cert(&ls);
}

static void test_chain_pem(void **state) {
  (void)state;
  X509 *root, *inter, *leaf;
  make_chain(&root, &inter, &leaf);
  char *lp = pki_cert_pem(leaf), *ip = pki_cert_pem(inter), *kp = pki_key_pem(g_ec);
  char *bundle = pki_cat(lp, ip);
  const char *path = pki_dir_write_str(&g_dir, "chain.pem", bundle);
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_cert *c = wh_cert_load(path, kp, &errs);
  assert_non_null(c);
  assert_int_equal(X509_cmp(c->x509, leaf), 0);
  assert_int_equal(sk_X509_num(c->chain), 1);
  assert_int_equal(X509_cmp(sk_X509_value(c->chain, 0), inter), 0);
  assert_string_equal(c->subject, "CN=leaf.test");
  assert_string_equal(c->issuer, "CN=Test Intermediate");
  wh_cert_unref(c);
  X509_free(root);
  X509_free(inter);
  X509_free(leaf);
  free(lp);
  free(ip);
  free(kp);
  free(bundle);
}

static void test_combined_pem_one_file(void **state) {
  (void)state;
  X509 *root, *inter, *leaf;
  make_chain(&root, &inter, &leaf);
  char *lp = pki_cert_pem(leaf), *ip = pki_cert_pem(inter), *kp = pki_key_pem(g_ec);
  /* key first, as some tools write it: the first certificate is still the leaf */
  char *t = pki_cat(kp, lp), *all = pki_cat(t, ip);
  const char *path = pki_dir_write_str(&g_dir, "combined.pem", all);
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_cert *c = wh_cert_load(path, path, &errs);
  assert_non_null(c);
  assert_int_equal(errs.n, 0);
  assert_int_equal(X509_cmp(c->x509, leaf), 0);
  assert_int_equal(sk_X509_num(c->chain), 1);
  wh_cert_unref(c);
  /* same bundle inline, for both values */
  c = wh_cert_load(all, all, &errs);
  assert_non_null(c);
  assert_int_equal(sk_X509_num(c->chain), 1);
  wh_cert_unref(c);
  X509_free(root);
  X509_free(inter);
  X509_free(leaf);
  free(lp);
  free(ip);
  free(kp);
  free(t);
  free(all);
}

/* ---- errors ---- */

static void test_err_missing_files(void **state) {
  (void)state;
  char *m = load_err("/nonexistent/wharf/a.pem", "/nonexistent/wharf/a.key");
  assert_string_equal(m, "tls certificate /nonexistent/wharf/a.pem: no such file");
  free(m);
  pki_spec sp = {.san = "DNS:k.test", .key = g_ec};
  X509 *x = pki_cert(&sp);
  char *cp = pki_cert_pem(x);
  m = load_err(cp, "/nonexistent/wharf/a.key");
  assert_string_equal(m, "tls key /nonexistent/wharf/a.key: no such file");
  free(m);
  X509_free(x);
  free(cp);
}

static void test_err_garbage_pem(void **state) {
  (void)state;
  char *kp = pki_key_pem(g_ec);
  char *m =
      load_err("-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n", kp);
  assert_string_equal(m, "tls certificate inline PEM: certificate in PEM does not parse");
  free(m);
  m = load_err("junk -----BEGIN nothing useful", kp);
  assert_string_equal(m, "tls certificate inline PEM: no certificate in PEM");
  free(m);
  const char *path = pki_dir_write_str(&g_dir, "garbage.pem", "this is not a certificate\n");
  m = load_err(path, kp);
  assert_contains(m, path);
  assert_contains(m, ": no certificate in PEM");
  free(m);
  /* a bad second certificate is reported, not silently dropped */
  pki_spec sp = {.san = "DNS:g.test", .key = g_ec};
  X509 *x = pki_cert(&sp);
  char *cp = pki_cert_pem(x);
  char *bad = pki_cat(cp, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  m = load_err(bad, kp);
  assert_string_equal(m, "tls certificate inline PEM: certificate 2 in PEM does not parse");
  free(m);
  X509_free(x);
  free(cp);
  free(bad);
  free(kp);
}

static void test_err_key_mismatch(void **state) {
  (void)state;
  pki_spec sp = {.san = "DNS:m.test", .key = g_ec};
  X509 *x = pki_cert(&sp);
  char *cp = pki_cert_pem(x), *other = pki_key_pem(g_ec2), *rsa = pki_key_pem(g_rsa);
  char *m = load_err(cp, other);
  assert_string_equal(m, "tls certificate inline PEM: key does not match certificate");
  free(m);
  const char *cpath = pki_dir_write_str(&g_dir, "mm.crt", cp),
             *kpath = pki_dir_write_str(&g_dir, "mm.key", rsa);
  m = load_err(cpath, kpath);
  assert_contains(m, "key does not match certificate");
  assert_contains(m, kpath);
  /* no key material in the message */
  char body[33];
  memcpy(body, strchr(rsa, '\n') + 1, 32);
  body[32] = '\0';
  assert_null(strstr(m, body));
  assert_null(strstr(m, "PRIVATE"));
  free(m);
  X509_free(x);
  free(cp);
  free(other);
  free(rsa);
}

static void test_err_empty_values(void **state) {
  (void)state;
  char *kp = pki_key_pem(g_ec);
  char *m = load_err("", kp);
  assert_string_equal(m, "tls certificate: certFile is empty");
  free(m);
  m = load_err(NULL, kp);
  assert_string_equal(m, "tls certificate: certFile is empty");
  free(m);
  pki_spec sp = {.san = "DNS:e.test", .key = g_ec};
  X509 *x = pki_cert(&sp);
  char *cp = pki_cert_pem(x);
  m = load_err(cp, "");
  assert_string_equal(m, "tls certificate inline PEM: keyFile is empty");
  free(m);
  m = load_err(cp, NULL);
  assert_string_equal(m, "tls certificate inline PEM: keyFile is empty");
  free(m);
  /* NULL errs is allowed */
  assert_null(wh_cert_load("", "", NULL));
  X509_free(x);
  free(cp);
  free(kp);
}

static void test_err_no_private_key(void **state) {
  (void)state;
  pki_spec sp = {.san = "DNS:n.test", .key = g_ec};
  X509 *x = pki_cert(&sp);
  char *cp = pki_cert_pem(x);
  char *m = load_err(cp, cp);
  assert_string_equal(m, "tls key inline PEM: no private key in PEM");
  free(m);
  X509_free(x);
  free(cp);
}

static void test_err_encrypted_key_never_prompts(void **state) {
  (void)state;
  pki_spec sp = {.san = "DNS:enc.test", .key = g_ec};
  X509 *x = pki_cert(&sp);
  char *cp = pki_cert_pem(x);
  BIO *b = BIO_new(BIO_s_mem());
  assert_int_equal(
      PEM_write_bio_PKCS8PrivateKey(b, g_ec, EVP_aes_256_cbc(), "secret", 6, NULL, NULL), 1);
  char *enc = pki_bio_take(b);
  char *m = load_err(cp, enc);
  assert_string_equal(m, "tls key inline PEM: private key is encrypted (not supported)");
  free(m);
  X509_free(x);
  free(cp);
  free(enc);
}

static void test_err_not_a_regular_small_file(void **state) {
  (void)state;
  char *kp = pki_key_pem(g_ec);
  char *m = load_err(g_dir.path, kp);
  assert_contains(m, ": is a directory");
  free(m);
  m = load_err("/dev/null", kp);
  assert_string_equal(m, "tls certificate /dev/null: not a regular file");
  free(m);
  size_t big = (1u << 20) + 1;
  char *blob = malloc(big);
  memset(blob, 'A', big);
  const char *path = pki_dir_write(&g_dir, "big.pem", blob, big);
  m = load_err(path, kp);
  assert_contains(m, ": larger than 1 MiB");
  free(m);
  free(blob);
  /* exactly 1 MiB is read (and then found to hold no certificate) */
  blob = malloc(1u << 20);
  memset(blob, 'A', 1u << 20);
  path = pki_dir_write(&g_dir, "exact.pem", blob, 1u << 20);
  m = load_err(path, kp);
  assert_contains(m, ": no certificate in PEM");
  free(m);
  /* inline PEM has the same cap */
  char *huge = malloc((2u << 20) + 1);
  memset(huge, 'A', 2u << 20);
  memcpy(huge, "-----BEGIN CERTIFICATE-----\n", 28);
  huge[2u << 20] = '\0';
  m = load_err(huge, kp);
  assert_string_equal(m, "tls certificate inline PEM: larger than 1 MiB");
  free(m);
  free(huge);
  free(blob);
  free(kp);
}

static void test_err_value_never_echoed(void **state) {
  (void)state;
  /* key material pasted without its armour: not PEM, not a path */
  const char *raw = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7";
  char *m = load_err(raw, raw);
  assert_string_equal(m, "tls certificate: certFile is neither PEM nor a file path");
  free(m);
  pki_spec sp = {.san = "DNS:v.test", .key = g_ec};
  X509 *x = pki_cert(&sp);
  char *cp = pki_cert_pem(x);
  m = load_err(cp, raw);
  assert_string_equal(m, "tls certificate inline PEM: keyFile is neither PEM nor a file path");
  assert_null(strstr(m, "MIIE"));
  free(m);
  X509_free(x);
  free(cp);
}

/* ---- self-signed ---- */

static void test_self_signed_default(void **state) {
  (void)state;
  time_t now = time(NULL);
  wh_cert *c = wh_cert_self_signed("TRAEFIK DEFAULT CERT", NULL, 0);
  assert_non_null(c);
  assert_int_equal(c->kind, WH_KEY_EC);
  const char *names[] = {"traefik default cert"};
  assert_names(c, names, 1);
  assert_string_equal(c->subject, "CN=TRAEFIK DEFAULT CERT");
  assert_string_equal(c->issuer, c->subject);
  assert_string_equal(c->origin, "self-signed");
  assert_true(llabs((long long)(c->not_before - (now - 3600))) < 120);
  assert_true(llabs((long long)(c->not_after - (now + 365L * 86400))) < 120);
  assert_int_equal(X509_verify(c->x509, c->key), 1);
  assert_int_equal(X509_check_private_key(c->x509, c->key), 1);
  assert_int_equal(strlen(c->sha256), 64);
  assert_int_equal(strspn(c->sha256, "0123456789abcdef"), 64);
  /* fresh key and serial each time */
  wh_cert *d = wh_cert_self_signed("TRAEFIK DEFAULT CERT", NULL, 0);
  assert_string_not_equal(c->sha256, d->sha256);
  wh_cert_unref(c);
  wh_cert_unref(d);
}

static void test_self_signed_sans(void **state) {
  (void)state;
  const char *sans[] = {"Example.test", "*.example.test", "127.0.0.1"};
  wh_cert *c = wh_cert_self_signed("example.test", sans, 3);
  assert_non_null(c);
  const char *names[] = {"example.test", "*.example.test", "127.0.0.1"};
  assert_names(c, names, 3);
  assert_true(wh_cert_covers(c, "a.example.test"));
  assert_true(wh_cert_covers(c, "127.0.0.1"));
  wh_cert_unref(c);
  /* a name too long for a CN still gets a certificate, named by its SAN */
  char longname[120];
  memset(longname, 'a', 100);
  strcpy(longname + 100, ".example.test");
  c = wh_cert_self_signed(longname, NULL, 0);
  assert_non_null(c);
  assert_int_equal(c->nnames, 1);
  assert_string_equal(c->names[0], longname);
  wh_cert_unref(c);
  assert_null(wh_cert_self_signed(NULL, NULL, 0));
  assert_null(wh_cert_self_signed("", NULL, 0));
}

/* ---- matching, references, installation ---- */

static void test_covers(void **state) {
  (void)state;
  pki_spec sp = {.san = "DNS:*.example.com,DNS:example.org,IP:::1", .key = g_ec};
  wh_cert *c = load_spec(&sp);
  assert_true(wh_cert_covers(c, "a.example.com"));
  assert_true(wh_cert_covers(c, "A.Example.COM."));
  assert_true(wh_cert_covers(c, "*.example.com")); /* the pattern itself, e.g. an ACME domain */
  assert_false(wh_cert_covers(c, "a.b.example.com"));
  assert_false(wh_cert_covers(c, "example.com"));
  assert_false(wh_cert_covers(c, ".example.com"));
  assert_false(wh_cert_covers(c, "aexample.com"));
  assert_true(wh_cert_covers(c, "example.org"));
  assert_false(wh_cert_covers(c, "www.example.org"));
  assert_true(wh_cert_covers(c, "::1"));
  assert_false(wh_cert_covers(c, ""));
  assert_false(wh_cert_covers(c, NULL));
  assert_false(wh_cert_covers(NULL, "example.org"));
  wh_cert_unref(c);
}

static void test_name_normalize(void **state) {
  (void)state;
  char out[WH_CERT_NAME_MAX + 1];
  assert_int_equal(wh_cert_name_normalize("A.Example.", out), 9);
  assert_string_equal(out, "a.example");
  assert_int_equal(wh_cert_name_normalize("..", out), 0);
  assert_int_equal(wh_cert_name_normalize("", out), 0);
  assert_int_equal(wh_cert_name_normalize(NULL, out), 0);
  char big[WH_CERT_NAME_MAX + 2];
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  assert_int_equal(wh_cert_name_normalize(big, out), 0);
  big[WH_CERT_NAME_MAX] = '\0';
  assert_int_equal(wh_cert_name_normalize(big, out), WH_CERT_NAME_MAX);
}

static void test_ref_unref(void **state) {
  (void)state;
  wh_cert *c = wh_cert_self_signed("ref.test", NULL, 0);
  assert_ptr_equal(wh_cert_ref(c), c);
  assert_int_equal(atomic_load(&c->refs), 2);
  wh_cert_unref(c);
  assert_int_equal(atomic_load(&c->refs), 1);
  wh_cert_unref(c); /* freed: ASan reports a leak or double free otherwise */
  wh_cert_unref(NULL);
  assert_null(wh_cert_ref(NULL));
}

/* Runs a handshake over a BIO pair with a client that accepts only sigalgs;
 * returns the server certificate the client saw and the chain length. */
static X509 *handshake(SSL_CTX *sctx, const char *sigalgs, int *chain_len) {
  SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
  assert_non_null(cctx);
  assert_int_equal(SSL_CTX_set1_sigalgs_list(cctx, sigalgs), 1);
  SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
  SSL *cl = SSL_new(cctx), *sv = SSL_new(sctx);
  BIO *bc = NULL, *bs = NULL;
  assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
  SSL_set_bio(cl, bc, bc);
  SSL_set_bio(sv, bs, bs);
  SSL_set_connect_state(cl);
  SSL_set_accept_state(sv);
  int done_c = 0, done_s = 0;
  for (int i = 0; i < 20 && !(done_c && done_s); i++) {
    if (!done_c)
      done_c = SSL_do_handshake(cl) == 1;
    if (!done_s)
      done_s = SSL_do_handshake(sv) == 1;
  }
  assert_true(done_c && done_s);
  X509 *peer = SSL_get1_peer_certificate(cl);
  *chain_len = sk_X509_num(SSL_get_peer_cert_chain(cl));
  SSL_free(cl);
  SSL_free(sv);
  SSL_CTX_free(cctx);
  return peer;
}

static void test_install_rsa_and_ec_side_by_side(void **state) {
  (void)state;
  X509 *root, *inter, *leaf;
  make_chain(&root, &inter, &leaf);
  char *lp = pki_cert_pem(leaf), *ip = pki_cert_pem(inter), *kp = pki_key_pem(g_ec);
  char *bundle = pki_cat(lp, ip);
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_cert *ec = wh_cert_load(bundle, kp, &errs);
  assert_non_null(ec);
  pki_spec rs = {.san = "DNS:leaf.test", .key = g_rsa};
  wh_cert *rsa = load_spec(&rs);

  SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
  assert_non_null(sctx);
  assert_int_equal(wh_cert_install(rsa, sctx), 0);
  assert_int_equal(wh_cert_install(ec, sctx), 0);
  int chain_len = 0;
  X509 *peer = handshake(sctx, "ecdsa_secp256r1_sha256", &chain_len);
  assert_non_null(peer);
  assert_int_equal(X509_cmp(peer, ec->x509), 0);
  assert_int_equal(chain_len, 2); /* leaf + intermediate */
  X509_free(peer);
  peer = handshake(sctx, "rsa_pss_rsae_sha256:rsa_pkcs1_sha256", &chain_len);
  assert_non_null(peer);
  assert_int_equal(X509_cmp(peer, rsa->x509), 0);
  assert_int_equal(chain_len, 1);
  X509_free(peer);
  SSL_CTX_free(sctx);

  /* the certificates outlive the context and vice versa */
  wh_cert_unref(ec);
  wh_cert_unref(rsa);
  X509_free(root);
  X509_free(inter);
  X509_free(leaf);
  free(lp);
  free(ip);
  free(kp);
  free(bundle);
}

static void test_install_bad_args(void **state) {
  (void)state;
  SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
  assert_true(wh_cert_install(NULL, sctx) < 0);
  wh_cert *c = wh_cert_self_signed("x.test", NULL, 0);
  assert_true(wh_cert_install(c, NULL) < 0);
  assert_int_equal(wh_cert_install(c, sctx), 0);
  wh_cert_unref(c);
  SSL_CTX_free(sctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_rsa_from_files),
      cmocka_unit_test(test_load_ec_inline),
      cmocka_unit_test(test_load_path_and_inline_mixed),
      cmocka_unit_test(test_names_cn_only),
      cmocka_unit_test(test_names_cn_ignored_with_dns_san),
      cmocka_unit_test(test_names_ip_sans),
      cmocka_unit_test(test_names_duplicates_dropped),
      cmocka_unit_test(test_no_names),
      cmocka_unit_test(test_expired_still_loads),
      cmocka_unit_test(test_chain_pem),
      cmocka_unit_test(test_combined_pem_one_file),
      cmocka_unit_test(test_err_missing_files),
      cmocka_unit_test(test_err_garbage_pem),
      cmocka_unit_test(test_err_key_mismatch),
      cmocka_unit_test(test_err_empty_values),
      cmocka_unit_test(test_err_no_private_key),
      cmocka_unit_test(test_err_encrypted_key_never_prompts),
      cmocka_unit_test(test_err_not_a_regular_small_file),
      cmocka_unit_test(test_err_value_never_echoed),
      cmocka_unit_test(test_self_signed_default),
      cmocka_unit_test(test_self_signed_sans),
      cmocka_unit_test(test_covers),
      cmocka_unit_test(test_name_normalize),
      cmocka_unit_test(test_ref_unref),
      cmocka_unit_test(test_install_rsa_and_ec_side_by_side),
      cmocka_unit_test(test_install_bad_args),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
