/* lib/acme/manager.c and renewal.c: the renewal table, the backoff, stored
 * certificates published before any network, a corrupt storage file left
 * alone, which router domains become orders, and a clean shutdown. Orders
 * against a real CA are tested end to end in tests/integration/test_acme.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/support/config_fixture.h"

#include <openssl/pem.h>

#include "lib/acme/keys.h"
#include "lib/acme/manager.h"
#include "lib/acme/renewal.h"
#include "lib/acme/storage.h"
#include "lib/config/load.h"
#include "lib/config/runtime.h"
#include "lib/core/err.h"
#include "lib/core/str.h"
#include "lib/router/snapshot.h"
#include "lib/tls/certificate.h"
#include "middleware/registry.h"

#define HOUR ((int64_t)3600)
#define DAY (24 * HOUR)

static void test_renewal_table(void **state) {
  (void)state;
  static const struct {
    int64_t hours, period, interval;
  } rows[] = {
      {365 * 24 * 2, 120 * DAY, 7 * DAY},
      {365 * 24, 120 * DAY, 7 * DAY},
      {2160, 30 * DAY, DAY},
      {90 * 24 - 1, 10 * DAY, 12 * HOUR},
      {30 * 24, 10 * DAY, 12 * HOUR},
      {7 * 24, 2 * DAY, 2 * HOUR},
      {6 * 24, 2 * DAY, 2 * HOUR},
      {6 * 24 - 1, 6 * HOUR, 600},
      {24, 6 * HOUR, 600},
      {23, 1200, 60},
      {1, 1200, 60},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    int64_t p = 0, iv = 0;
    wh_acme_renewal_durations(rows[i].hours * 3600 * WH_SEC, &p, &iv);
    assert_int_equal(p, rows[i].period);
    assert_int_equal(iv, rows[i].interval);
  }
  /* whole hours, as Traefik's int option: 23h59m is "less than a day" */
  int64_t p = 0;
  wh_acme_renewal_durations(24 * 3600 * WH_SEC - WH_SEC, &p, NULL);
  assert_int_equal(p, 1200);

  time_t now = 1700000000;
  assert_true(wh_acme_renewal_due(now + DAY, now, 30 * DAY));
  assert_true(wh_acme_renewal_due(now - 1, now, 0));
  assert_false(wh_acme_renewal_due(now + 31 * DAY, now, 30 * DAY));
  assert_false(wh_acme_renewal_due(now + 30 * DAY, now, 30 * DAY));
}

static void test_backoff(void **state) {
  (void)state;
  assert_int_equal(wh_acme_backoff_s(1, 0), 60);
  assert_int_equal(wh_acme_backoff_s(2, 0), 120);
  assert_int_equal(wh_acme_backoff_s(3, 0), 240);
  assert_int_equal(wh_acme_backoff_s(11, 0), 61440);
  assert_int_equal(wh_acme_backoff_s(12, 0), 86400);
  assert_int_equal(wh_acme_backoff_s(1000, 0), 86400);
  /* the CA's Retry-After is a floor, capped at a day */
  assert_int_equal(wh_acme_backoff_s(1, 3600), 3600);
  assert_int_equal(wh_acme_backoff_s(5, 30), 960);
  assert_int_equal(wh_acme_backoff_s(1, 10 * DAY), 86400);
}

/* ---- the manager ---- */

static char dir[64];

typedef struct emitted {
  int calls;
  wh_dyn_config *last;
} emitted;

static void fake_emit(void *ctx, const char *provider, wh_dyn_config *cfg,
                      const wh_errlist *errors) {
  emitted *e = ctx;
  assert_string_equal(provider, "acme");
  assert_null(errors);
  e->calls++;
  wh_dyn_config_free(e->last);
  e->last = cfg;
}

/* written into the test directory and kept there (storage paths are next to it) */
static wh_static_config *stat_in_dir(const char *yaml) {
  char path[128];
  snprintf(path, sizeof(path), "%s/static.yml", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(yaml, f);
  fclose(f);
  char *arg = NULL;
  assert_true(asprintf(&arg, "--configFile=%s", path) > 0);
  char *argv[] = {arg};
  char *envp[] = {NULL};
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_static_config *s = wh_static_load(1, argv, envp, &errs, NULL);
  for (size_t i = 0; i < errs.n; i++)
    fprintf(stderr, "static: %s\n", errs.items[i]);
  assert_non_null(s);
  wh_errlist_free(&errs);
  free(arg);
  return s;
}

static char *cert_pem(const wh_cert *c) {
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, c->x509);
  char *data = NULL;
  long n = BIO_get_mem_data(b, &data);
  char *s = wh_strndup(data, (size_t)n);
  BIO_free(b);
  return s;
}

/* acme.json with resolver le: an account key (no registration yet) and a
 * certificate for m.example.com valid for a year. */
static void write_store(const char *path) {
  const char *sans[] = {"m.example.com"};
  wh_cert *c = wh_cert_self_signed("m.example.com", sans, 1);
  assert_non_null(c);
  char *cp = cert_pem(c), *kp = wh_acme_key_to_pem(c->key);
  EVP_PKEY *ak = wh_acme_key_generate(WH_ACME_KEY_EC256);
  char *ab = wh_acme_key_to_der_b64(ak);
  wh_acme_store *s = wh_acme_store_new();
  char err[256];
  wh_acme_store_account a = {.email = "ops@example.com", .private_key = ab};
  assert_int_equal(wh_acme_store_set_account(s, "le", &a, err, sizeof(err)), 0);
  assert_int_equal(
      wh_acme_store_put_cert(s, "le", "m.example.com", NULL, 0, cp, kp, NULL, err, sizeof(err)), 0);
  assert_int_equal(wh_acme_store_save(s, path, err, sizeof(err)), 0);
  wh_acme_store_free(s);
  free(ab);
  EVP_PKEY_free(ak);
  free(cp);
  free(kp);
  wh_cert_unref(c);
}

static const char *STATIC_FMT =
    "entryPoints:\n  web: {address: ':8081'}\n  websecure: {address: ':8443'}\n"
    "certificatesResolvers:\n"
    "  le: {acme: {email: ops@example.com, storage: '%s', keyType: EC256, caServer: "
    "'https://127.0.0.1:1/dir', httpChallenge: {entryPoint: web}}}\n";

static wh_static_config *stat_with_storage(const char *storage) {
  char *y = wh_asprintf(STATIC_FMT, storage);
  wh_static_config *s = stat_in_dir(y);
  free(y);
  return s;
}

static void drain(uv_loop_t *loop) {
  uv_run(loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(loop), 0);
}

static void test_stored_certificates_published_at_start(void **state) {
  (void)state;
  char path[128];
  snprintf(path, sizeof(path), "%s/acme.json", dir);
  write_store(path);
  wh_static_config *stat = stat_with_storage(path);
  uv_loop_t loop;
  uv_loop_init(&loop);
  emitted e = {0};
  wh_acme_manager *m = wh_acme_manager_new(&loop, stat, NULL, fake_emit, &e);
  assert_non_null(m);
  /* before any loop iteration: no network was needed */
  assert_int_equal(e.calls, 1);
  assert_non_null(e.last->tls);
  assert_int_equal(e.last->tls->certificates.n, 1);
  const wh_tls_certificate *tc = e.last->tls->certificates.items;
  assert_non_null(strstr(tc->cert_file, "-----BEGIN CERTIFICATE-----"));
  assert_non_null(strstr(tc->key_file, "PRIVATE KEY-----"));
  assert_int_equal(tc->stores.n, 1);
  assert_string_equal(tc->stores.v[0], "default");
  /* the fragment is what the TLS store loads */
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_cert *c = wh_cert_load(tc->cert_file, tc->key_file, &errs);
  assert_non_null(c);
  assert_true(wh_cert_covers(c, "m.example.com"));
  wh_cert_unref(c);
  wh_errlist_free(&errs);
  assert_int_equal(wh_acme_manager_pending(m), 0); /* valid for a year: no renewal */

  wh_acme_manager_close(m);
  drain(&loop);
  wh_dyn_config_free(e.last);
  wh_static_free(stat);
  unlink(path);
}

static void test_corrupt_storage_left_alone(void **state) {
  (void)state;
  char path[128];
  snprintf(path, sizeof(path), "%s/corrupt.json", dir);
  static const char junk[] = "{\"le\": {\"Certificates\": [ 12 ";
  FILE *f = fopen(path, "w");
  fputs(junk, f);
  fclose(f);
  chmod(path, 0600);
  wh_static_config *stat = stat_with_storage(path);
  uv_loop_t loop;
  uv_loop_init(&loop);
  emitted e = {0};
  wh_acme_manager *m = wh_acme_manager_new(&loop, stat, NULL, fake_emit, &e);
  assert_non_null(m);
  assert_int_equal(e.calls, 1);
  assert_int_equal(e.last->tls->certificates.n, 0);
  wh_acme_manager_close(m);
  drain(&loop);
  char buf[128] = {0};
  f = fopen(path, "r");
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  assert_int_equal(n, strlen(junk));
  assert_string_equal(buf, junk);
  wh_dyn_config_free(e.last);
  wh_static_free(stat);
  unlink(path);
}

/* Names the served certificates cover are not ordered; the others are, once
 * per domain set; the manager then closes cleanly with a request in flight. */
static void test_update_orders_what_is_not_covered(void **state) {
  (void)state;
  char path[128];
  snprintf(path, sizeof(path), "%s/acme2.json", dir);
  write_store(path);
  wh_static_config *stat = stat_with_storage(path);
  uv_loop_t loop;
  uv_loop_init(&loop);
  emitted e = {0};
  wh_acme_manager *m = wh_acme_manager_new(&loop, stat, NULL, fake_emit, &e);
  assert_non_null(m);
  wh_dyn_config *dyn = dyn_from(
      "http:\n  routers:\n"
      "    covered: {rule: 'Host(`m.example.com`)', service: s, entryPoints: [websecure], tls: "
      "{certResolver: le}}\n"
      "    new: {rule: 'Host(`n.example.com`) || Host(`m.example.com`)', service: s, "
      "entryPoints: [websecure], tls: {certResolver: le}}\n"
      "    same: {rule: 'Host(`n.example.com`)', service: s, entryPoints: [websecure], tls: "
      "{certResolver: le}}\n"
      "  services:\n    s: {loadBalancer: {servers: [{url: 'http://127.0.0.1:9'}]}}\n");
  wh_fragment frags[] = {{"file", dyn}, {"acme", e.last}};
  wh_runtime *rt = wh_runtime_build(stat, frags, 2);
  assert_non_null(rt);
  wh_snapshot *snap = wh_snapshot_new(stat, rt, 1, NULL, 1);
  assert_non_null(snap);
  wh_acme_manager_update(m, snap);
  /* only n.example.com: m is served already, and "same" wants what "new" is getting */
  assert_int_equal(wh_acme_manager_pending(m), 1);
  wh_acme_manager_update(m, snap); /* the same configuration again: nothing more */
  assert_int_equal(wh_acme_manager_pending(m), 1);
  /* let the registration start against the closed port, then stop */
  uv_run(&loop, UV_RUN_NOWAIT);
  wh_acme_manager_close(m);
  wh_snapshot_unref(snap);
  drain(&loop);
  wh_dyn_config_free(dyn);
  wh_dyn_config_free(e.last);
  wh_static_free(stat);
  unlink(path);
}

static int setup(void **state) {
  (void)state;
  strcpy(dir, "/tmp/wh_acme_mgr_test.XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char path[128];
  snprintf(path, sizeof(path), "%s/static.yml", dir);
  unlink(path);
  rmdir(dir);
  return 0;
}

int main(void) {
  wh_dynamic_register_middleware_types(wh_mw_registry, wh_mw_registry_len);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_renewal_table),
      cmocka_unit_test(test_backoff),
      cmocka_unit_test(test_stored_certificates_published_at_start),
      cmocka_unit_test(test_corrupt_storage_left_alone),
      cmocka_unit_test(test_update_orders_what_is_not_covered),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
