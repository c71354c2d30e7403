#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tests/unit/support/pki.h"

#include "lib/acme/storage.h"
#include "lib/core/log.h"

/* ---- fixtures: real keys and certificates made with OpenSSL, once ---- */

typedef struct pair {
  char *cert_pem, *key_pem; /* PEM */
  char *cert_b64, *key_b64; /* as acme.json carries them */
  time_t not_after;
} pair;

static pair g_wild, g_www, g_other; /* g_other: a third, unrelated certificate */
static char *g_account_key_b64;     /* base64 of a PKCS#1 DER RSA key, as Traefik writes */
static char g_dir[64];

static char *b64(const void *data, size_t n) {
  char *out = malloc(4 * ((n + 2) / 3) + 1);
  assert_non_null(out);
  EVP_EncodeBlock((unsigned char *)out, data, (int)n);
  return out;
}

/* A self-signed certificate for a fresh P-256 key, valid from an hour ago
 * for days. */
static void make_pair(pair *p, const char *cn, const char *san, long days) {
  EVP_PKEY *k = EVP_EC_gen("P-256");
  assert_non_null(k);
  time_t now = time(NULL);
  pki_spec sp = {
      .cn = cn, .san = san, .not_before = -3600, .not_after = days * 86400, .now = now, .key = k};
  X509 *x = pki_cert(&sp);
  p->not_after = now + days * 86400;
  p->cert_pem = pki_cert_pem(x);
  p->key_pem = pki_key_pem(k);
  p->cert_b64 = b64(p->cert_pem, strlen(p->cert_pem));
  p->key_b64 = b64(p->key_pem, strlen(p->key_pem));
  X509_free(x);
  EVP_PKEY_free(k);
}

static void free_pair(pair *p) {
  free(p->cert_pem), free(p->key_pem), free(p->cert_b64), free(p->key_b64);
}

static int group_setup(void **state) {
  (void)state;
  strcpy(g_dir, "/tmp/wh_acme_store_XXXXXX");
  if (!mkdtemp(g_dir))
    return -1;
  make_pair(&g_wild, "*.example.com", "DNS:*.example.com,DNS:example.com", 90);
  make_pair(&g_www, "www.example.org", "DNS:www.example.org", 30);
  make_pair(&g_other, "other.example.net", "DNS:other.example.net", 10);
  EVP_PKEY *rsa = EVP_RSA_gen(2048);
  if (!rsa)
    return -1;
  unsigned char *der = NULL;
  int n = i2d_PrivateKey(rsa, &der); /* traditional form: PKCS#1 for RSA */
  if (n <= 0)
    return -1;
  g_account_key_b64 = b64(der, (size_t)n);
  OPENSSL_free(der);
  EVP_PKEY_free(rsa);
  return 0;
}

static void rm_dir_contents(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
      chmod(p, 0700);
      rm_dir_contents(p);
      rmdir(p);
    } else {
      unlink(p);
    }
  }
  closedir(d);
}

static int group_teardown(void **state) {
  (void)state;
  rm_dir_contents(g_dir);
  rmdir(g_dir);
  free_pair(&g_wild);
  free_pair(&g_www);
  free_pair(&g_other);
  free(g_account_key_b64);
  return 0;
}

static int test_teardown(void **state) {
  (void)state;
  rm_dir_contents(g_dir);
  return 0;
}

/* ---- helpers ---- */

static char *path_in(const char *name) {
  char *p = malloc(strlen(g_dir) + strlen(name) + 2);
  assert_non_null(p);
  sprintf(p, "%s/%s", g_dir, name);
  return p;
}

static void write_file(const char *path, const char *content, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  size_t n = strlen(content);
  assert_int_equal(write(fd, content, n), (ssize_t)n);
  assert_int_equal(fchmod(fd, mode), 0);
  close(fd);
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  assert_non_null(s);
  assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = '\0';
  fclose(f);
  return s;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  char *s = NULL;
  assert_true(vasprintf(&s, f, ap) >= 0);
  va_end(ap);
  return s;
}

/* How many entries the test directory holds (temporary files left behind show here). */
static int dir_entries(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      n++;
  closedir(d);
  return n;
}

static const char BODY_DNS[] = "{\n"
                               "          \"status\": \"valid\",\n"
                               "          \"contact\": [\n"
                               "            \"mailto:ops@example.com\"\n"
                               "          ]\n"
                               "        }";

/* A file as Traefik writes it (json.MarshalIndent, map keys sorted, no final
 * newline): resolver "dns" as current Traefik (no KeyType), resolver "le" as
 * Traefik up to v3.6 (KeyType "4096"). extra_le is spliced before le's first
 * certificate (an entry to be dropped, or ""). */
static char *traefik_file(const char *extra_le) {
  return fmt("{\n"
             "  \"dns\": {\n"
             "    \"Account\": {\n"
             "      \"Email\": \"ops@example.com\",\n"
             "      \"Registration\": {\n"
             "        \"body\": %s,\n"
             "        \"uri\": \"https://acme-v02.api.letsencrypt.org/acme/acct/123456\"\n"
             "      },\n"
             "      \"PrivateKey\": \"%s\"\n"
             "    },\n"
             "    \"Certificates\": [\n"
             "      {\n"
             "        \"domain\": {\n"
             "          \"main\": \"*.example.com\",\n"
             "          \"sans\": [\n"
             "            \"example.com\"\n"
             "          ]\n"
             "        },\n"
             "        \"certificate\": \"%s\",\n"
             "        \"key\": \"%s\",\n"
             "        \"Store\": \"default\"\n"
             "      }\n"
             "    ]\n"
             "  },\n"
             "  \"le\": {\n"
             "    \"Account\": {\n"
             "      \"Email\": \"admin@example.org\",\n"
             "      \"Registration\": {\n"
             "        \"body\": {\n"
             "          \"status\": \"valid\"\n"
             "        },\n"
             "        \"uri\": \"https://acme-v02.api.letsencrypt.org/acme/acct/987\"\n"
             "      },\n"
             "      \"PrivateKey\": \"%s\",\n"
             "      \"KeyType\": \"4096\"\n"
             "    },\n"
             "    \"Certificates\": [\n"
             "%s"
             "      {\n"
             "        \"domain\": {\n"
             "          \"main\": \"www.example.org\"\n"
             "        },\n"
             "        \"certificate\": \"%s\",\n"
             "        \"key\": \"%s\",\n"
             "        \"Store\": \"default\"\n"
             "      }\n"
             "    ]\n"
             "  }\n"
             "}",
             BODY_DNS, g_account_key_b64, g_wild.cert_b64, g_wild.key_b64, g_account_key_b64,
             extra_le, g_www.cert_b64, g_www.key_b64);
}

static const char EMPTY_CERT_ENTRY[] = "      {\n"
                                       "        \"domain\": {\n"
                                       "          \"main\": \"broken.example.org\"\n"
                                       "        },\n"
                                       "        \"certificate\": \"\",\n"
                                       "        \"key\": \"\",\n"
                                       "        \"Store\": \"default\"\n"
                                       "      },\n";

static wh_acme_store *load_ok(const char *path) {
  wh_acme_store *s = NULL;
  char err[512] = "";
  int rc = wh_acme_store_load(path, &s, err, sizeof(err));
  if (rc != 0)
    fail_msg("load %s: %d %s", path, rc, err);
  assert_non_null(s);
  assert_false(wh_acme_store_read_only(s));
  return s;
}

static void assert_file_mode(const char *path, mode_t mode) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, mode);
}

/* Every field of a and b agrees. */
static void assert_stores_equal(const wh_acme_store *a, const wh_acme_store *b) {
  assert_int_equal(wh_acme_store_resolver_count(a), wh_acme_store_resolver_count(b));
  for (size_t i = 0; i < wh_acme_store_resolver_count(a); i++) {
    const char *r = wh_acme_store_resolver_name(a, i);
    const wh_acme_store_account *x = wh_acme_store_get_account(a, r);
    const wh_acme_store_account *y = wh_acme_store_get_account(b, r);
    assert_true((x == NULL) == (y == NULL));
    if (x) {
      assert_string_equal(x->email, y->email);
      assert_true((x->reg_uri == NULL) == (y->reg_uri == NULL));
      if (x->reg_uri)
        assert_string_equal(x->reg_uri, y->reg_uri);
      assert_true((x->reg_body == NULL) == (y->reg_body == NULL));
      if (x->reg_body)
        assert_string_equal(x->reg_body, y->reg_body);
      assert_true((x->private_key == NULL) == (y->private_key == NULL));
      if (x->private_key)
        assert_string_equal(x->private_key, y->private_key);
      assert_true((x->key_type == NULL) == (y->key_type == NULL));
      if (x->key_type)
        assert_string_equal(x->key_type, y->key_type);
    }
    assert_int_equal(wh_acme_store_cert_count(a, r), wh_acme_store_cert_count(b, r));
    for (size_t j = 0; j < wh_acme_store_cert_count(a, r); j++) {
      const wh_acme_store_cert *c = wh_acme_store_cert_at(a, r, j);
      const wh_acme_store_cert *d = wh_acme_store_cert_at(b, r, j);
      assert_string_equal(c->main, d->main);
      assert_int_equal(c->nsans, d->nsans);
      for (size_t k = 0; k < c->nsans; k++)
        assert_string_equal(c->sans[k], d->sans[k]);
      assert_string_equal(c->store, d->store);
      assert_string_equal(c->cert_pem, d->cert_pem);
      assert_string_equal(c->key_pem, d->key_pem);
      assert_int_equal(c->parsed->not_after, d->parsed->not_after);
    }
  }
}

/* ---- tests ---- */

static void test_load_traefik_file(void **state) {
  (void)state;
  char *path = path_in("acme.json");
  char *doc = traefik_file(EMPTY_CERT_ENTRY);
  write_file(path, doc, 0600);
  wh_acme_store *s = load_ok(path);

  assert_int_equal(wh_acme_store_resolver_count(s), 2);
  assert_string_equal(wh_acme_store_resolver_name(s, 0), "dns");
  assert_string_equal(wh_acme_store_resolver_name(s, 1), "le");

  const wh_acme_store_account *a = wh_acme_store_get_account(s, "dns");
  assert_non_null(a);
  assert_string_equal(a->email, "ops@example.com");
  assert_string_equal(a->reg_uri, "https://acme-v02.api.letsencrypt.org/acme/acct/123456");
  assert_string_equal(a->reg_body,
                      "{\"status\":\"valid\",\"contact\":[\"mailto:ops@example.com\"]}");
  assert_string_equal(a->private_key, g_account_key_b64);
  assert_null(a->key_type); /* absent: current Traefik */
  a = wh_acme_store_get_account(s, "le");
  assert_non_null(a);
  assert_string_equal(a->key_type, "4096"); /* present: Traefik <= v3.6 */
  assert_string_equal(a->email, "admin@example.org");

  assert_int_equal(wh_acme_store_cert_count(s, "dns"), 1);
  const wh_acme_store_cert *c = wh_acme_store_cert_at(s, "dns", 0);
  assert_string_equal(c->main, "*.example.com");
  assert_int_equal(c->nsans, 1);
  assert_string_equal(c->sans[0], "example.com");
  assert_string_equal(c->store, "default");
  assert_string_equal(c->cert_pem, g_wild.cert_pem);
  assert_string_equal(c->key_pem, g_wild.key_pem);
  assert_non_null(c->parsed);
  assert_true(c->parsed->not_after >= g_wild.not_after - 5 &&
              c->parsed->not_after <= g_wild.not_after + 5);
  assert_int_equal(c->parsed->nnames, 2);
  assert_string_equal(c->parsed->names[0], "*.example.com");
  assert_string_equal(c->parsed->names[1], "example.com");

  /* the entry with an empty certificate is dropped, with its reason */
  assert_int_equal(wh_acme_store_cert_count(s, "le"), 1);
  assert_string_equal(wh_acme_store_cert_at(s, "le", 0)->main, "www.example.org");
  const wh_errlist *w = wh_acme_store_warnings(s);
  assert_int_equal(w->n, 1);
  assert_non_null(strstr(w->items[0], "broken.example.org"));
  assert_non_null(strstr(w->items[0], "certificate is empty"));

  assert_null(wh_acme_store_get_account(s, "nope"));
  assert_int_equal(wh_acme_store_cert_count(s, "nope"), 0);
  assert_null(wh_acme_store_error(s));
  wh_acme_store_free(s);
  free(doc);
  free(path);
}

/* A file Traefik wrote comes back byte for byte: `diff` is quiet. */
static void test_rewrite_is_byte_exact(void **state) {
  (void)state;
  char *path = path_in("acme.json");
  char *doc = traefik_file("");
  write_file(path, doc, 0600);
  wh_acme_store *s = load_ok(path);
  char *out = wh_acme_store_to_json(s);
  assert_string_equal(out, doc);
  char err[256];
  assert_int_equal(wh_acme_store_save(s, path, err, sizeof(err)), 0);
  char *disk = read_file(path);
  assert_string_equal(disk, doc);
  free(disk);
  free(out);
  wh_acme_store_free(s);
  free(doc);
  free(path);
}

static void test_round_trip_and_mode(void **state) {
  (void)state;
  char *path = path_in("acme.json");
  char *doc = traefik_file(EMPTY_CERT_ENTRY);
  write_file(path, doc, 0400); /* owner-only is accepted, whatever the bits */
  wh_acme_store *s = load_ok(path);
  const char *sans[] = {"b.example.net", "a.example.net"};
  char err[256] = "";
  assert_int_equal(wh_acme_store_put_cert(s, "third", "other.example.net", sans, 2,
                                          g_other.cert_pem, g_other.key_pem, NULL, err,
                                          sizeof(err)),
                   0);
  char *out = path_in("saved.json");
  assert_int_equal(wh_acme_store_save(s, out, err, sizeof(err)), 0);
  assert_file_mode(out, 0600);
  wh_acme_store *t = load_ok(out);
  assert_stores_equal(s, t);
  assert_int_equal(wh_acme_store_resolver_count(t), 3);
  assert_string_equal(wh_acme_store_cert_at(t, "third", 0)->store, "default");
  assert_int_equal(wh_acme_store_warnings(t)->n, 0);

  /* saving over a file with loose bits leaves it 0600 */
  write_file(out, "{}", 0600);
  chmod(out, 0666);
  assert_int_equal(wh_acme_store_save(t, out, err, sizeof(err)), 0);
  assert_file_mode(out, 0600);
  assert_int_equal(dir_entries(g_dir), 2); /* no temporary file left */
  wh_acme_store_free(t);
  wh_acme_store_free(s);
  free(out);
  free(doc);
  free(path);
}

static void test_missing_file_is_empty(void **state) {
  (void)state;
  char *path = path_in("none.json");
  wh_acme_store *s = NULL;
  char err[256] = "";
  assert_int_equal(wh_acme_store_load(path, &s, err, sizeof(err)), 0);
  assert_int_equal(wh_acme_store_resolver_count(s), 0);
  assert_false(wh_acme_store_read_only(s));
  char *out = wh_acme_store_to_json(s);
  assert_string_equal(out, "{}");
  free(out);
  /* an account alone, as Traefik writes it before the first certificate */
  wh_acme_store_account a = {.email = "some@email.com"};
  assert_int_equal(wh_acme_store_set_account(s, "test", &a, err, sizeof(err)), 0);
  assert_int_equal(wh_acme_store_save(s, path, err, sizeof(err)), 0);
  assert_file_mode(path, 0600);
  char *disk = read_file(path);
  /* Traefik's own expectation (local_store_test.go TestLocalStore_SaveAccount) */
  assert_string_equal(disk, "{\n"
                            "  \"test\": {\n"
                            "    \"Account\": {\n"
                            "      \"Email\": \"some@email.com\",\n"
                            "      \"Registration\": null,\n"
                            "      \"PrivateKey\": null\n"
                            "    },\n"
                            "    \"Certificates\": null\n"
                            "  }\n"
                            "}");
  free(disk);
  wh_acme_store_free(s);

  /* an empty file, as Traefik creates it, is an empty store too */
  write_file(path, "", 0600);
  s = load_ok(path);
  assert_int_equal(wh_acme_store_resolver_count(s), 0);
  wh_acme_store_free(s);
  free(path);
}

static void assert_refused_untouched(const char *path, const char *content, const char *needle) {
  wh_acme_store *s = NULL;
  char err[1024] = "";
  assert_int_equal(wh_acme_store_load(path, &s, err, sizeof(err)), WH_EINVAL);
  assert_non_null(s);
  if (!strstr(err, needle))
    fail_msg("error \"%s\" lacks \"%s\"", err, needle);
  assert_true(wh_acme_store_read_only(s));
  assert_string_equal(wh_acme_store_error(s), err);
  assert_int_equal(wh_acme_store_resolver_count(s), 0);
  /* even after changes in memory, the file is never written */
  assert_int_equal(wh_acme_store_put_cert(s, "le", "www.example.org", NULL, 0, g_www.cert_pem,
                                          g_www.key_pem, NULL, err, sizeof(err)),
                   0);
  char err2[1024] = "";
  int entries = dir_entries(g_dir);
  assert_int_equal(wh_acme_store_save(s, path, err2, sizeof(err2)), WH_EINVAL);
  assert_non_null(strstr(err2, "not written"));
  char *disk = read_file(path);
  assert_string_equal(disk, content);
  free(disk);
  assert_int_equal(dir_entries(g_dir), entries);
  wh_acme_store_free(s);
}

static void test_corrupt_file_never_overwritten(void **state) {
  (void)state;
  char *path = path_in("acme.json");
  char *doc = traefik_file("");
  doc[strlen(doc) / 2] = '\0'; /* a write cut in the middle */
  write_file(path, doc, 0600);
  assert_refused_untouched(path, doc, "corrupt: invalid JSON at line");

  /* valid JSON of the wrong shape is refused like Go's decoder refuses it */
  const char *shape = "{\"le\": {\"Account\": {\"Email\": 5}}}";
  write_file(path, shape, 0600);
  assert_refused_untouched(path, shape, "le.Account.Email: expected a string");
  const char *trailing = "{} {}";
  write_file(path, trailing, 0600);
  assert_refused_untouched(path, trailing, "corrupt");
  const char *badkey = "{\"le\": {\"Account\": {\"PrivateKey\": \"%%%\"}}}";
  write_file(path, badkey, 0600);
  assert_refused_untouched(path, badkey, "le.Account.PrivateKey: not base64");
  free(doc);
  free(path);
}

static void test_permissions_too_open(void **state) {
  (void)state;
  char *path = path_in("acme.json");
  char *doc = traefik_file("");
  write_file(path, doc, 0644);
  char *want = fmt("permissions 644 for %s are too open, please use 600", path);
  assert_refused_untouched(path, doc, want);
  free(want);
  chmod(path, 0640);
  want = fmt("permissions 640 for %s are too open, please use 600", path);
  assert_refused_untouched(path, doc, want);
  free(want);
  chmod(path, 0604);
  want = fmt("permissions 604 for %s are too open, please use 600", path);
  assert_refused_untouched(path, doc, want);
  free(want);
  free(doc);
  free(path);
}

/* The write fails half-way (file size limit): the old file is intact and no
 * temporary file is left. Works as root too, unlike a read-only directory. */
static void test_failed_write_keeps_old_file(void **state) {
  (void)state;
  char *path = path_in("acme.json");
  char *doc = traefik_file("");
  write_file(path, doc, 0600);
  wh_acme_store *s = load_ok(path);
  assert_int_equal(wh_acme_store_put_cert(s, "third", "other.example.net", NULL, 0,
                                          g_other.cert_pem, g_other.key_pem, NULL, NULL, 0),
                   0);
  struct rlimit old, lim;
  getrlimit(RLIMIT_FSIZE, &old);
  lim = old;
  lim.rlim_cur = 100;
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  char err[512] = "";
  int rc = wh_acme_store_save(s, path, err, sizeof(err));
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, prev);
  assert_int_equal(rc, WH_EIO);
  assert_non_null(strstr(err, "the file is unchanged"));
  char *disk = read_file(path);
  assert_string_equal(disk, doc);
  free(disk);
  assert_int_equal(dir_entries(g_dir), 1);

  /* a directory the process cannot write to (meaningless for root) */
  if (geteuid() != 0) {
    char *sub = path_in("ro");
    assert_int_equal(mkdir(sub, 0700), 0);
    char *p2 = fmt("%s/acme.json", sub);
    write_file(p2, doc, 0600);
    chmod(sub, 0500);
    assert_int_equal(wh_acme_store_save(s, p2, err, sizeof(err)), WH_EIO);
    chmod(sub, 0700);
    disk = read_file(p2);
    assert_string_equal(disk, doc);
    free(disk);
    assert_int_equal(dir_entries(sub), 1);
    free(p2);
    free(sub);
  }
  /* a directory that does not exist: an error, nothing created */
  char *p3 = path_in("nodir/acme.json");
  assert_int_equal(wh_acme_store_save(s, p3, err, sizeof(err)), WH_EIO);
  assert_non_null(strstr(err, "create temporary file"));
  free(p3);
  wh_acme_store_free(s);
  free(doc);
  free(path);
}

static void test_bad_entries_dropped_with_reason(void **state) {
  (void)state;
  char *path = path_in("acme.json");
  char *doc = fmt(
      "{\"le\": {\"Account\": null, \"Certificates\": ["
      "{\"domain\": {\"main\": \"garbage.example\"}, \"certificate\": \"!!not*base64\", \"key\": "
      "\"%s\", \"Store\": \"default\"},"
      "{\"domain\": {\"main\": \"notpem.example\"}, \"certificate\": \"aGVsbG8=\", \"key\": "
      "\"%s\", \"Store\": \"default\"},"
      "{\"domain\": {\"main\": \"mismatch.example\"}, \"certificate\": \"%s\", \"key\": \"%s\", "
      "\"Store\": \"default\"},"
      "{\"domain\": {\"main\": \"nokey.example\"}, \"certificate\": \"%s\", \"Store\": "
      "\"default\"},"
      "null,"
      "{\"domain\": {\"main\": \"www.example.org\"}, \"certificate\": \"%s\", \"key\": \"%s\", "
      "\"Store\": \"default\"}]}}",
      g_www.key_b64, g_www.key_b64, g_www.cert_b64, g_other.key_b64, g_www.cert_b64, g_www.cert_b64,
      g_www.key_b64);
  write_file(path, doc, 0600);
  wh_acme_store *s = load_ok(path);
  assert_int_equal(wh_acme_store_cert_count(s, "le"), 1);
  assert_string_equal(wh_acme_store_cert_at(s, "le", 0)->main, "www.example.org");
  assert_null(wh_acme_store_get_account(s, "le"));
  const wh_errlist *w = wh_acme_store_warnings(s);
  assert_int_equal(w->n, 5);
  assert_non_null(strstr(w->items[0], "garbage.example: certificate is not base64"));
  assert_non_null(strstr(w->items[1], "notpem.example: certificate is not PEM"));
  assert_non_null(strstr(w->items[2], "mismatch.example"));
  assert_non_null(strstr(w->items[2], "does not match"));
  assert_non_null(strstr(w->items[3], "nokey.example: key is empty"));
  assert_non_null(strstr(w->items[4], "is null"));
  /* the account stays null, Traefik's way */
  char *out = wh_acme_store_to_json(s);
  assert_non_null(strstr(out, "\"Account\": null,"));
  free(out);
  wh_acme_store_free(s);
  free(doc);
  free(path);
}

/* Go's decoder: key names match fields ignoring case, unknown keys and
 * nulls are ignored, base64 may be broken into lines. */
static void test_go_decoder_leniency(void **state) {
  (void)state;
  char *path = path_in("acme.json");
  size_t n = strlen(g_www.cert_b64);
  char *wrapped = malloc(n + n / 64 + 2);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (i && i % 64 == 0)
      wrapped[o++] = '\n';
    wrapped[o++] = g_www.cert_b64[i];
  }
  wrapped[o] = '\0';
  char *doc = fmt("{\"le\": {\"account\": {\"email\": \"x@y.z\", \"Future\": 1, \"keytype\": null,"
                  " \"registration\": {\"Body\": {\"Status\": \"valid\", \"key\": {\"kty\": "
                  "\"RSA\"}, \"createdAt\": \"2020\"}}},"
                  " \"certificates\": [{\"Domain\": {\"Main\": \"www.example.org\", \"SANs\": "
                  "[]}, \"Certificate\": \"%s\", \"KEY\": \"%s\", \"store\": \"default\", "
                  "\"extra\": true}], \"other\": 3}}",
                  wrapped, g_www.key_b64);
  write_file(path, doc, 0600);
  wh_acme_store *s = load_ok(path);
  const wh_acme_store_account *a = wh_acme_store_get_account(s, "le");
  assert_string_equal(a->email, "x@y.z");
  assert_null(a->key_type);
  assert_null(a->reg_uri);
  assert_string_equal(a->reg_body, "{\"status\":\"valid\"}");
  assert_int_equal(wh_acme_store_cert_count(s, "le"), 1);
  assert_string_equal(wh_acme_store_cert_at(s, "le", 0)->cert_pem, g_www.cert_pem);
  char *out = wh_acme_store_to_json(s);
  char *want = fmt("{\n"
                   "  \"le\": {\n"
                   "    \"Account\": {\n"
                   "      \"Email\": \"x@y.z\",\n"
                   "      \"Registration\": {\n"
                   "        \"body\": {\n"
                   "          \"status\": \"valid\"\n"
                   "        }\n"
                   "      },\n"
                   "      \"PrivateKey\": null\n"
                   "    },\n"
                   "    \"Certificates\": [\n"
                   "      {\n"
                   "        \"domain\": {\n"
                   "          \"main\": \"www.example.org\"\n"
                   "        },\n"
                   "        \"certificate\": \"%s\",\n"
                   "        \"key\": \"%s\",\n"
                   "        \"Store\": \"default\"\n"
                   "      }\n"
                   "    ]\n"
                   "  }\n"
                   "}",
                   g_www.cert_b64, g_www.key_b64);
  assert_string_equal(out, want);
  free(want);
  free(out);
  wh_acme_store_free(s);
  free(doc);
  free(wrapped);
  free(path);
}

/* Written by hand as users do (an import script): compact sans, empty uri and
 * PrivateKey. Loads, and is rewritten as Go would write it. */
static void test_hand_written_file(void **state) {
  (void)state;
  char *path = path_in("acme.json");
  char *doc = fmt("{\n  \"le\": {\n    \"Account\": {\"Email\": \"a@b.c\", \"Registration\": "
                  "{\"body\": {\"status\": \"valid\"}, \"uri\": \"\"}, \"PrivateKey\": \"\", "
                  "\"KeyType\": \"4096\"},\n    \"Certificates\": [{\"domain\": {\"main\": "
                  "\"*.example.com\", \"sans\": [\"example.com\"]}, \"certificate\": \"%s\", "
                  "\"key\": \"%s\", \"Store\": \"default\"}]\n  }\n}\n",
                  g_wild.cert_b64, g_wild.key_b64);
  write_file(path, doc, 0600);
  wh_acme_store *s = load_ok(path);
  const wh_acme_store_account *a = wh_acme_store_get_account(s, "le");
  assert_null(a->reg_uri);
  assert_string_equal(a->private_key, "");
  assert_int_equal(wh_acme_store_cert_count(s, "le"), 1);
  char *out = wh_acme_store_to_json(s);
  char *want = fmt("{\n"
                   "  \"le\": {\n"
                   "    \"Account\": {\n"
                   "      \"Email\": \"a@b.c\",\n"
                   "      \"Registration\": {\n"
                   "        \"body\": {\n"
                   "          \"status\": \"valid\"\n"
                   "        }\n"
                   "      },\n"
                   "      \"PrivateKey\": \"\",\n"
                   "      \"KeyType\": \"4096\"\n"
                   "    },\n"
                   "    \"Certificates\": [\n"
                   "      {\n"
                   "        \"domain\": {\n"
                   "          \"main\": \"*.example.com\",\n"
                   "          \"sans\": [\n"
                   "            \"example.com\"\n"
                   "          ]\n"
                   "        },\n"
                   "        \"certificate\": \"%s\",\n"
                   "        \"key\": \"%s\",\n"
                   "        \"Store\": \"default\"\n"
                   "      }\n"
                   "    ]\n"
                   "  }\n"
                   "}",
                   g_wild.cert_b64, g_wild.key_b64);
  assert_string_equal(out, want);
  free(want);
  free(out);
  wh_acme_store_free(s);
  free(doc);
  free(path);
}

static void test_put_find_remove(void **state) {
  (void)state;
  wh_acme_store *s = wh_acme_store_new();
  char err[512] = "";
  const char *sans[] = {"example.com"};
  assert_int_equal(wh_acme_store_put_cert(s, "le", "*.example.com", sans, 1, g_wild.cert_pem,
                                          g_wild.key_pem, NULL, err, sizeof(err)),
                   0);
  assert_int_equal(wh_acme_store_put_cert(s, "le", "www.example.org", NULL, 0, g_www.cert_pem,
                                          g_www.key_pem, NULL, err, sizeof(err)),
                   0);
  assert_int_equal(wh_acme_store_cert_count(s, "le"), 2);
  /* same domain set, other case: replaced in place */
  const char *sans_uc[] = {"EXAMPLE.com"};
  assert_int_equal(wh_acme_store_put_cert(s, "le", "*.Example.com", sans_uc, 1, g_other.cert_pem,
                                          g_other.key_pem, "custom", err, sizeof(err)),
                   0);
  assert_int_equal(wh_acme_store_cert_count(s, "le"), 2);
  const wh_acme_store_cert *c = wh_acme_store_cert_at(s, "le", 0);
  assert_string_equal(c->cert_pem, g_other.cert_pem);
  assert_string_equal(c->store, "custom");
  assert_ptr_equal(wh_acme_store_find_cert(s, "le", "*.example.com", sans, 1), c);
  /* another set (no sans) is another certificate */
  assert_null(wh_acme_store_find_cert(s, "le", "*.example.com", NULL, 0));
  assert_null(wh_acme_store_find_cert(s, "other", "*.example.com", sans, 1));

  /* refused: mismatched key, not PEM (never taken for a path) */
  err[0] = '\0';
  assert_int_equal(wh_acme_store_put_cert(s, "le", "x.example", NULL, 0, g_www.cert_pem,
                                          g_other.key_pem, NULL, err, sizeof(err)),
                   WH_EINVAL);
  assert_non_null(strstr(err, "does not match"));
  assert_int_equal(wh_acme_store_put_cert(s, "le", "x.example", NULL, 0, "/etc/hostname",
                                          g_www.key_pem, NULL, err, sizeof(err)),
                   WH_EINVAL);
  assert_non_null(strstr(err, "not PEM"));
  assert_int_equal(wh_acme_store_cert_count(s, "le"), 2);

  assert_int_equal(wh_acme_store_remove_cert(s, "le", "*.example.com", sans, 1), 0);
  assert_int_equal(wh_acme_store_remove_cert(s, "le", "*.example.com", sans, 1), WH_ENOENT);
  assert_int_equal(wh_acme_store_cert_count(s, "le"), 1);
  assert_string_equal(wh_acme_store_cert_at(s, "le", 0)->main, "www.example.org");
  assert_int_equal(wh_acme_store_remove_cert(s, "le", "www.example.org", NULL, 0), 0);
  char *out = wh_acme_store_to_json(s);
  assert_string_equal(out, "{\n"
                           "  \"le\": {\n"
                           "    \"Account\": null,\n"
                           "    \"Certificates\": []\n"
                           "  }\n"
                           "}");
  free(out);
  wh_acme_store_free(s);
}

static void test_set_account(void **state) {
  (void)state;
  wh_acme_store *s = wh_acme_store_new();
  char err[512] = "";
  /* a CA's raw answer: fields lego does not keep are dropped, order is lego's */
  wh_acme_store_account a = {
      .email = "a<b>&c@example.com",
      .reg_uri = "https://ca.test/acct/1",
      .reg_body = "{\"orders\":\"https://ca.test/acct/1/orders\",\"key\":{\"kty\":\"EC\"},"
                  "\"contact\":[\"mailto:a@example.com\"],\"status\":\"valid\","
                  "\"termsOfServiceAgreed\":false,\"initialIp\":\"10.0.0.1\"}",
      .private_key = g_account_key_b64,
      .key_type = "P256",
  };
  assert_int_equal(wh_acme_store_set_account(s, "le", &a, err, sizeof(err)), 0);
  const wh_acme_store_account *got = wh_acme_store_get_account(s, "le");
  assert_ptr_not_equal(got->email, a.email);
  assert_string_equal(got->reg_body, "{\"status\":\"valid\",\"contact\":[\"mailto:a@example.com\"],"
                                     "\"orders\":\"https://ca.test/acct/1/orders\"}");
  char *out = wh_acme_store_to_json(s);
  char *want = fmt("{\n"
                   "  \"le\": {\n"
                   "    \"Account\": {\n"
                   "      \"Email\": \"a\\u003cb\\u003e\\u0026c@example.com\",\n"
                   "      \"Registration\": {\n"
                   "        \"body\": {\n"
                   "          \"status\": \"valid\",\n"
                   "          \"contact\": [\n"
                   "            \"mailto:a@example.com\"\n"
                   "          ],\n"
                   "          \"orders\": \"https://ca.test/acct/1/orders\"\n"
                   "        },\n"
                   "        \"uri\": \"https://ca.test/acct/1\"\n"
                   "      },\n"
                   "      \"PrivateKey\": \"%s\",\n"
                   "      \"KeyType\": \"P256\"\n"
                   "    },\n"
                   "    \"Certificates\": null\n"
                   "  }\n"
                   "}",
                   g_account_key_b64);
  assert_string_equal(out, want);
  free(want);
  free(out);

  /* round trip through the escaping */
  char *path = path_in("acme.json");
  assert_int_equal(wh_acme_store_save(s, path, err, sizeof(err)), 0);
  wh_acme_store *t = load_ok(path);
  assert_stores_equal(s, t);
  wh_acme_store_free(t);

  wh_acme_store_account bad = {.email = "x", .reg_body = "[1]"};
  assert_int_equal(wh_acme_store_set_account(s, "le", &bad, err, sizeof(err)), WH_EINVAL);
  bad.reg_body = NULL;
  bad.private_key = "not base64!";
  assert_int_equal(wh_acme_store_set_account(s, "le", &bad, err, sizeof(err)), WH_EINVAL);
  assert_string_equal(wh_acme_store_get_account(s, "le")->email, a.email); /* unchanged */
  assert_int_equal(wh_acme_store_set_account(s, "le", NULL, err, sizeof(err)), 0);
  assert_null(wh_acme_store_get_account(s, "le"));
  wh_acme_store_free(s);
  free(path);
}

/* A symlinked acme.json (a mounted secret, a shared volume) keeps its link. */
static void test_save_through_symlink(void **state) {
  (void)state;
  char *real = path_in("real.json");
  char *link = path_in("acme.json");
  write_file(real, "{}", 0600);
  assert_int_equal(symlink(real, link), 0);
  wh_acme_store *s = load_ok(link);
  assert_int_equal(wh_acme_store_put_cert(s, "le", "www.example.org", NULL, 0, g_www.cert_pem,
                                          g_www.key_pem, NULL, NULL, 0),
                   0);
  char err[256];
  assert_int_equal(wh_acme_store_save(s, link, err, sizeof(err)), 0);
  struct stat st;
  assert_int_equal(lstat(link, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  wh_acme_store *t = load_ok(real);
  assert_int_equal(wh_acme_store_cert_count(t, "le"), 1);
  wh_acme_store_free(t);
  wh_acme_store_free(s);
  free(real);
  free(link);
}

/* `-v ./acme.json:/acme.json`: a bind-mounted file cannot be renamed over
 * (EBUSY), so it is rewritten in place. Needs a private mount namespace
 * (CAP_SYS_ADMIN): skipped without one. The child uses no cmocka assertion. */
static void test_save_bind_mounted_file(void **state) {
  (void)state;
  char *src = path_in("host-acme.json");
  char *sub = path_in("container");
  char *target = fmt("%s/acme.json", sub);
  write_file(src, "{}", 0600);
  assert_int_equal(mkdir(sub, 0700), 0);
  write_file(target, "", 0600);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount(src, target, NULL, MS_BIND, NULL) != 0)
      _exit(77);
    wh_acme_store *s = NULL;
    char err[512] = "";
    int rc = wh_acme_store_load(target, &s, err, sizeof(err));
    if (rc == 0)
      rc = wh_acme_store_put_cert(s, "le", "www.example.org", NULL, 0, g_www.cert_pem,
                                  g_www.key_pem, NULL, err, sizeof(err));
    if (rc == 0)
      rc = wh_acme_store_save(s, target, err, sizeof(err));
    if (rc != 0)
      fprintf(stderr, "bind-mounted save: %d %s\n", rc, err);
    wh_acme_store_free(s);
    _exit(rc == 0 ? 0 : 1);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) {
    free(src), free(sub), free(target);
    skip();
  }
  assert_int_equal(WEXITSTATUS(status), 0);
  /* the write went through the mount to the host's file; no temporary file left */
  wh_acme_store *t = load_ok(src);
  assert_int_equal(wh_acme_store_cert_count(t, "le"), 1);
  wh_acme_store_free(t);
  assert_file_mode(src, 0600);
  assert_int_equal(dir_entries(sub), 1);
  free(src), free(sub), free(target);
}

int main(void) {
  /* lines as they happen (a forked child leaves with _exit, past the atexit flush) */
  wh_log_configure(WH_LOG_WARN, WH_LOG_FORMAT_COMMON, NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_load_traefik_file, test_teardown),
      cmocka_unit_test_teardown(test_rewrite_is_byte_exact, test_teardown),
      cmocka_unit_test_teardown(test_round_trip_and_mode, test_teardown),
      cmocka_unit_test_teardown(test_missing_file_is_empty, test_teardown),
      cmocka_unit_test_teardown(test_corrupt_file_never_overwritten, test_teardown),
      cmocka_unit_test_teardown(test_permissions_too_open, test_teardown),
      cmocka_unit_test_teardown(test_failed_write_keeps_old_file, test_teardown),
      cmocka_unit_test_teardown(test_bad_entries_dropped_with_reason, test_teardown),
      cmocka_unit_test_teardown(test_go_decoder_leniency, test_teardown),
      cmocka_unit_test_teardown(test_hand_written_file, test_teardown),
      cmocka_unit_test_teardown(test_put_find_remove, test_teardown),
      cmocka_unit_test_teardown(test_set_account, test_teardown),
      cmocka_unit_test_teardown(test_save_through_symlink, test_teardown),
      cmocka_unit_test_teardown(test_save_bind_mounted_file, test_teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
