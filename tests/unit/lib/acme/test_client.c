/* lib/acme/client.c against a real ACME server: pebble and
 * pebble-challtestsrv (Debian package pebble) started here on loopback
 * ports, pebble's HTTPS listener trusted through LEGO_CA_CERTIFICATES.
 * Missing binaries skip the tests, or fail them when CI=true. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <uv.h>

#include "lib/acme/client.h"
#include "lib/acme/jws.h"
#include "lib/acme/keys.h"
#include "lib/core/str.h"
#include "lib/net/curl_uv.h"

typedef struct env {
  bool ok;
  char dir[64];
  char ca_path[128];
  int acme_port, mgmt_port, http_port, tls_port, dns_port, chall_port;
  pid_t pebble, chall;
  char dir_url[128];
  uv_loop_t loop;
  wh_curl_uv *curl; /* the test's own requests (challtestsrv, pebble's roots) */
} env;

static env E;

/* ---- processes and ports ---- */

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

static bool port_open(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
  close(fd);
  return ok;
}

static bool have_binary(const char *name) {
  char p[256];
  snprintf(p, sizeof(p), "/usr/bin/%s", name);
  return access(p, X_OK) == 0;
}

static pid_t spawn(char *const argv[], const char *log) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    setenv("PEBBLE_VA_NOSLEEP", "1", 1);
    /* 15 % of good nonces refused as badNonce: an issuance of some forty
     * POSTs only succeeds when the client retries them */
    setenv("PEBBLE_WFE_NONCEREJECT", "15", 1);
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

static void stop(pid_t pid) {
  if (pid <= 0)
    return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 50; i++) {
    if (waitpid(pid, NULL, WNOHANG) == pid)
      return;
    usleep(20000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

/* ---- pebble's listener certificate: a throwaway CA and a leaf for
 * localhost / 127.0.0.1 ---- */

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn, bool ca) {
  X509 *x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? 1 : 2);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME *n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
  X509_EXTENSION *ext =
      ca ? X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE")
         : X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  X509_sign(x, signer, EVP_sha256());
  return x;
}

static void write_pem_cert(const char *path, X509 *x) {
  FILE *f = fopen(path, "w");
  PEM_write_X509(f, x);
  fclose(f);
}

static void make_listener_cert(void) {
  EVP_PKEY *cak = wh_acme_key_generate(WH_ACME_KEY_EC256);
  EVP_PKEY *k = wh_acme_key_generate(WH_ACME_KEY_EC256);
  X509 *ca = make_cert(cak, cak, NULL, "wharf test listener CA", true);
  X509 *leaf = make_cert(k, cak, ca, "localhost", false);
  char p[160];
  snprintf(E.ca_path, sizeof(E.ca_path), "%s/ca.pem", E.dir);
  write_pem_cert(E.ca_path, ca);
  snprintf(p, sizeof(p), "%s/cert.pem", E.dir);
  write_pem_cert(p, leaf);
  snprintf(p, sizeof(p), "%s/key.pem", E.dir);
  FILE *f = fopen(p, "w");
  PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
  fclose(f);
  X509_free(leaf);
  X509_free(ca);
  EVP_PKEY_free(k);
  EVP_PKEY_free(cak);
}

static int group_setup(void **state) {
  (void)state;
  if (!have_binary("pebble") || !have_binary("pebble-challtestsrv"))
    return 0;
  strcpy(E.dir, "/tmp/wh_acme_test.XXXXXX");
  if (!mkdtemp(E.dir))
    return 0;
  make_listener_cert();
  E.acme_port = free_port();
  E.mgmt_port = free_port();
  E.http_port = free_port();
  E.tls_port = free_port();
  E.dns_port = free_port();
  E.chall_port = free_port();
  char cfg[256], buf[2048];
  snprintf(cfg, sizeof(cfg), "%s/pebble.json", E.dir);
  snprintf(buf, sizeof(buf),
           "{\"pebble\":{\"listenAddress\":\"127.0.0.1:%d\",\"managementListenAddress\":"
           "\"127.0.0.1:%d\",\"certificate\":\"%s/cert.pem\",\"privateKey\":\"%s/key.pem\","
           "\"httpPort\":%d,\"tlsPort\":%d,\"ocspResponderURL\":\"\","
           "\"externalAccountBindingRequired\":false}}",
           E.acme_port, E.mgmt_port, E.dir, E.dir, E.http_port, E.tls_port);
  FILE *f = fopen(cfg, "w");
  fputs(buf, f);
  fclose(f);

  char a_http[32], a_tls[32], a_dns[32], a_mgmt[32], a_dnssrv[32], log[160];
  snprintf(a_http, sizeof(a_http), "127.0.0.1:%d", E.http_port);
  snprintf(a_tls, sizeof(a_tls), "127.0.0.1:%d", E.tls_port);
  snprintf(a_dns, sizeof(a_dns), "127.0.0.1:%d", E.dns_port);
  snprintf(a_mgmt, sizeof(a_mgmt), "127.0.0.1:%d", E.chall_port);
  snprintf(a_dnssrv, sizeof(a_dnssrv), "127.0.0.1:%d", E.dns_port);
  char *cargv[] = {"/usr/bin/pebble-challtestsrv",
                   "-http01",
                   a_http,
                   "-https01",
                   "",
                   "-tlsalpn01",
                   a_tls,
                   "-dns01",
                   a_dns,
                   "-management",
                   a_mgmt,
                   "-defaultIPv6",
                   "",
                   NULL};
  snprintf(log, sizeof(log), "%s/challtestsrv.log", E.dir);
  E.chall = spawn(cargv, log);
  char *pargv[] = {"/usr/bin/pebble", "-config", cfg, "-dnsserver", a_dnssrv, NULL};
  snprintf(log, sizeof(log), "%s/pebble.log", E.dir);
  E.pebble = spawn(pargv, log);
  for (int i = 0; i < 500; i++) {
    if (port_open(E.acme_port) && port_open(E.chall_port) && port_open(E.mgmt_port)) {
      E.ok = true;
      break;
    }
    usleep(20000);
  }
  snprintf(E.dir_url, sizeof(E.dir_url), "https://127.0.0.1:%d/dir", E.acme_port);
  setenv("LEGO_CA_CERTIFICATES", E.ca_path, 1);
  uv_loop_init(&E.loop);
  E.curl = wh_curl_uv_new(&E.loop);
  if (!E.curl)
    E.ok = false;
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  if (E.curl) {
    wh_curl_uv_close(E.curl);
    uv_run(&E.loop, UV_RUN_DEFAULT);
    uv_loop_close(&E.loop);
  }
  stop(E.pebble);
  stop(E.chall);
  if (E.dir[0]) {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", E.dir);
    if (system(cmd) != 0)
      return 0;
  }
  return 0;
}

#define REQUIRE_PEBBLE()                                                                           \
  do {                                                                                             \
    if (!E.ok) {                                                                                   \
      if (wh_streq(getenv("CI"), "true"))                                                          \
        fail_msg("pebble / pebble-challtestsrv missing or not starting (CI=true)");                \
      print_message("pebble not available: skipped\n");                                            \
      skip();                                                                                      \
    }                                                                                              \
  } while (0)

/* ---- the test's own HTTP requests ---- */

typedef struct xfer {
  wh_strbuf body;
  struct curl_slist *hdrs;
  char *post;
  long status;
  bool done;
  wh_acme_solver_handle *handle; /* a present waiting for this request */
} xfer;

static int pending_xfers;

static size_t xfer_body(char *p, size_t size, size_t n, void *ud) {
  xfer *x = ud;
  wh_strbuf_append(&x->body, p, size * n);
  return size * n;
}

static void xfer_done(void *arg, CURL *easy, CURLcode rc) {
  xfer *x = arg;
  const wh_curl_api *api = wh_curl_uv_api(E.curl);
  api->easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &x->status);
  api->easy_cleanup(easy);
  api->slist_free_all(x->hdrs);
  x->done = true;
  pending_xfers--;
  if (x->handle) {
    wh_acme_solver_done(x->handle,
                        rc == CURLE_OK && x->status == 200 ? NULL : "challtestsrv refused");
    free(x->post);
    wh_strbuf_free(&x->body);
    free(x);
  }
}

/* A request on the test's loop; for a solver, the handle to complete. */
static xfer *http(const char *url, const char *post, wh_acme_solver_handle *handle) {
  const wh_curl_api *api = wh_curl_uv_api(E.curl);
  xfer *x = calloc(1, sizeof(*x));
  x->handle = handle;
  CURL *e = api->easy_init();
  api->easy_setopt(e, CURLOPT_URL, url);
  api->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  api->easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
  api->easy_setopt(e, CURLOPT_CAINFO, E.ca_path);
  api->easy_setopt(e, CURLOPT_WRITEFUNCTION, xfer_body);
  api->easy_setopt(e, CURLOPT_WRITEDATA, x);
  if (post) {
    x->post = strdup(post);
    x->hdrs = api->slist_append(NULL, "Content-Type: application/json");
    api->easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
    api->easy_setopt(e, CURLOPT_POSTFIELDS, x->post);
  }
  pending_xfers++;
  assert_int_equal(wh_curl_uv_add(E.curl, e, xfer_done, x), 0);
  return x;
}

static void on_deadline(uv_timer_t *t) {
  *(bool *)t->data = true;
}

/* Runs the loop until *flag or 30 s. */
static void run_until(bool *flag) {
  uv_timer_t t;
  bool expired = false;
  uv_timer_init(&E.loop, &t);
  t.data = &expired;
  uv_timer_start(&t, on_deadline, 30000, 0);
  while (!*flag && !expired)
    uv_run(&E.loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&E.loop, UV_RUN_NOWAIT);
  assert_false(expired);
}

static void drain(void) {
  for (int i = 0; i < 1000 && pending_xfers > 0; i++)
    uv_run(&E.loop, UV_RUN_ONCE);
  /* handle closes of a freed client */
  uv_run(&E.loop, UV_RUN_NOWAIT);
}

/* ---- the solver: challtestsrv's management API ---- */

static xfer *remembered[64];
static int nremembered;

typedef struct solver_log {
  int presents, cleanups;
  char last_type[16];
  bool hold; /* keep the next present's handle instead of answering */
  wh_acme_solver_handle *held;
  char held_token[128], held_ka[256];
} solver_log;

static void present(void *ctx, const char *type, const char *domain, const char *token,
                    const char *key_auth, wh_acme_solver_handle *handle) {
  solver_log *l = ctx;
  l->presents++;
  snprintf(l->last_type, sizeof(l->last_type), "%s", type);
  if (l->hold) {
    l->held = handle;
    return;
  }
  char url[128], *body = NULL;
  if (strcmp(type, "http-01") == 0) {
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/add-http01", E.chall_port);
    body = wh_asprintf("{\"token\":\"%s\",\"content\":\"%s\"}", token, key_auth);
  } else if (strcmp(type, "dns-01") == 0) {
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/set-txt", E.chall_port);
    char *v = wh_acme_dns01_value(key_auth);
    body = wh_asprintf("{\"host\":\"_acme-challenge.%s.\",\"value\":\"%s\"}", domain, v);
    free(v);
  } else {
    wh_acme_solver_done(handle, "unexpected type");
    return;
  }
  http(url, body, handle);
  free(body);
}

static void cleanup(void *ctx, const char *type, const char *domain, const char *token,
                    const char *key_auth) {
  solver_log *l = ctx;
  l->cleanups++;
  char url[128], *body;
  if (strcmp(type, "http-01") == 0) {
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/del-http01", E.chall_port);
    body = wh_asprintf("{\"token\":\"%s\"}", token);
  } else {
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/clear-txt", E.chall_port);
    body = wh_asprintf("{\"host\":\"_acme-challenge.%s.\"}", domain);
  }
  /* fire and forget: freed by forget_all once the loop has run them */
  if (nremembered < 64)
    remembered[nremembered++] = http(url, body, NULL);
  free(body);
}

static void forget_all(void) {
  drain();
  for (int i = 0; i < nremembered; i++) {
    free(remembered[i]->post);
    wh_strbuf_free(&remembered[i]->body);
    free(remembered[i]);
  }
  nremembered = 0;
}

/* ---- results ---- */

typedef struct result {
  bool done;
  char *cert, *key, *url;
  time_t not_after;
  char *ptype, *pdetail;
  int pstatus;
  bool rate_limited;
} result;

static void on_obtained(void *arg, wh_acme_certificate *cert, const wh_acme_problem *p) {
  result *r = arg;
  r->done = true;
  if (p) {
    assert_null(cert);
    r->ptype = strdup(p->type);
    r->pdetail = strdup(p->detail);
    r->pstatus = p->status;
    r->rate_limited = p->rate_limited;
    return;
  }
  r->cert = cert->cert_pem; /* stolen */
  cert->cert_pem = NULL;
  r->key = strdup(cert->key_pem);
  r->url = strdup(cert->cert_url);
  r->not_after = cert->not_after;
}

static void result_free(result *r) {
  free(r->cert);
  free(r->key);
  free(r->url);
  free(r->ptype);
  free(r->pdetail);
}

typedef struct acct_result {
  bool done;
  char *url, *status, *ptype;
} acct_result;

static void on_account(void *arg, const wh_acme_account_info *a, const wh_acme_problem *p) {
  acct_result *r = arg;
  r->done = true;
  if (p) {
    r->ptype = strdup(p->type);
    return;
  }
  r->url = strdup(a->url);
  r->status = strdup(a->status);
  assert_non_null(strstr(a->body, "\"status\""));
}

/* Verifies the chain against pebble's issuing root, the SANs and notAfter. */
static void verify_certificate(const result *r, const char *const *domains, size_t n) {
  char url[128];
  snprintf(url, sizeof(url), "https://127.0.0.1:%d/roots/0", E.mgmt_port);
  xfer *root_x = http(url, NULL, NULL);
  run_until(&root_x->done);
  assert_int_equal(root_x->status, 200);

  BIO *rb = BIO_new_mem_buf(root_x->body.data, (int)root_x->body.len);
  X509 *root = PEM_read_bio_X509(rb, NULL, NULL, NULL);
  assert_non_null(root);
  BIO_free(rb);

  BIO *cb = BIO_new_mem_buf(r->cert, (int)strlen(r->cert));
  X509 *leaf = PEM_read_bio_X509(cb, NULL, NULL, NULL);
  assert_non_null(leaf);
  STACK_OF(X509) *chain = sk_X509_new_null();
  X509 *x;
  while ((x = PEM_read_bio_X509(cb, NULL, NULL, NULL)))
    sk_X509_push(chain, x);
  ERR_clear_error();
  BIO_free(cb);
  assert_true(sk_X509_num(chain) >= 1);

  X509_STORE *store = X509_STORE_new();
  X509_STORE_add_cert(store, root);
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, chain);
  int ok = X509_verify_cert(ctx);
  if (ok != 1)
    print_error("verify: %s\n", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
  assert_int_equal(ok, 1);

  for (size_t i = 0; i < n; i++) {
    /* X509_check_host matches names against the SANs only; a wildcard SAN is
     * checked with a name under it */
    const char *d = domains[i];
    char probe[256];
    if (strncmp(d, "*.", 2) == 0) {
      snprintf(probe, sizeof(probe), "x.%s", d + 2);
      d = probe;
    }
    assert_int_equal(X509_check_host(leaf, d, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL), 1);
  }
  GENERAL_NAMES *sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
  assert_int_equal(sk_GENERAL_NAME_num(sans), (int)n);
  GENERAL_NAMES_free(sans);

  struct tm tm;
  assert_true(ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm));
  assert_int_equal((long long)timegm(&tm), (long long)r->not_after);
  assert_true(r->not_after > time(NULL));

  EVP_PKEY *k = wh_acme_key_from_pem(r->key, strlen(r->key));
  assert_non_null(k);
  assert_int_equal(X509_check_private_key(leaf, k), 1);
  EVP_PKEY_free(k);

  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  sk_X509_pop_free(chain, X509_free);
  X509_free(leaf);
  X509_free(root);
  wh_strbuf_free(&root_x->body);
  free(root_x);
}

static wh_acme_client *new_client(EVP_PKEY *key, const wh_acme_client_opts *opts) {
  char err[256];
  wh_acme_client *c = wh_acme_client_new(&E.loop, E.dir_url, key, opts, err, sizeof(err));
  if (!c)
    fail_msg("client: %s", err);
  return c;
}

/* ---- tests ---- */

static void test_obtain_http01(void **state) {
  (void)state;
  REQUIRE_PEBBLE();
  EVP_PKEY *key = wh_acme_key_generate(WH_ACME_KEY_EC256);
  wh_acme_client_opts opts = {.email = "admin@example.test", .timeout_ms = 20000};
  wh_acme_client *c = new_client(key, &opts);

  acct_result a = {0};
  assert_int_equal(wh_acme_account(c, false, on_account, &a), 0);
  assert_false(a.done); /* never from inside the call */
  run_until(&a.done);
  assert_null(a.ptype);
  assert_non_null(a.url);
  assert_string_equal(a.status, "valid");
  assert_string_equal(wh_acme_client_account_url(c), a.url);

  const char *types[] = {"tls-alpn-01", "http-01"}; /* challtestsrv answers tls-alpn-01 only
                                                     * for what it was told: http-01 here */
  solver_log log = {0};
  wh_acme_solver solver = {
      .types = types + 1, .n_types = 1, .present = present, .cleanup = cleanup, .ctx = &log};
  (void)types;
  const char *domains[] = {"a.example.test", "b.example.test"};
  result r = {0};
  assert_int_equal(wh_acme_obtain(c, domains, 2, WH_ACME_KEY_EC256, &solver, on_obtained, &r), 0);
  run_until(&r.done);
  if (r.ptype)
    fail_msg("obtain: %s: %s", r.ptype, r.pdetail);
  assert_int_equal(log.presents, 2);
  assert_int_equal(log.cleanups, 2);
  print_message("badNonce retries: %u\n", wh_acme_client_nonce_retries(c));
  assert_string_equal(log.last_type, "http-01");
  assert_non_null(strstr(r.key, "BEGIN EC PRIVATE KEY"));
  assert_true(wh_str_has_prefix(r.url, "https://127.0.0.1:"));
  verify_certificate(&r, domains, 2);
  result_free(&r);
  wh_acme_client_free(c);

  /* the same key finds its account again (acme.json keeps only the key) */
  c = new_client(key, &opts);
  acct_result b = {0};
  assert_int_equal(wh_acme_account(c, true, on_account, &b), 0);
  run_until(&b.done);
  assert_null(b.ptype);
  assert_string_equal(b.url, a.url);
  wh_acme_client_free(c);

  /* another key has none */
  EVP_PKEY *other = wh_acme_key_generate(WH_ACME_KEY_EC384);
  c = new_client(other, &opts);
  acct_result n = {0};
  assert_int_equal(wh_acme_account(c, true, on_account, &n), 0);
  run_until(&n.done);
  assert_string_equal(n.ptype, "urn:ietf:params:acme:error:accountDoesNotExist");
  wh_acme_client_free(c);
  forget_all();

  free(a.url);
  free(a.status);
  free(b.url);
  free(b.status);
  free(n.ptype);
  EVP_PKEY_free(other);
  EVP_PKEY_free(key);
}

static void test_obtain_dns01_wildcard(void **state) {
  (void)state;
  REQUIRE_PEBBLE();
  /* an RSA account key (RS256) and an RSA certificate key this time */
  EVP_PKEY *key = wh_acme_key_generate(WH_ACME_KEY_RSA2048);
  wh_acme_client *c = new_client(key, NULL);
  const char *types[] = {"dns-01", "http-01"};
  solver_log log = {0};
  wh_acme_solver solver = {
      .types = types, .n_types = 2, .present = present, .cleanup = cleanup, .ctx = &log};
  const char *domains[] = {"*.w.example.test", "w.example.test"};
  result r = {0};
  /* no account yet: obtain registers it */
  assert_int_equal(wh_acme_obtain(c, domains, 2, WH_ACME_KEY_RSA2048, &solver, on_obtained, &r), 0);
  run_until(&r.done);
  if (r.ptype)
    fail_msg("obtain: %s: %s", r.ptype, r.pdetail);
  assert_non_null(wh_acme_client_account_url(c));
  assert_string_equal(log.last_type, "dns-01");
  assert_true(log.presents >= 1);
  assert_int_equal(log.cleanups, log.presents);
  assert_non_null(strstr(r.key, "BEGIN RSA PRIVATE KEY"));
  verify_certificate(&r, domains, 2);
  result_free(&r);
  wh_acme_client_free(c);
  forget_all();
  EVP_PKEY_free(key);
}

static void test_refused_order(void **state) {
  (void)state;
  REQUIRE_PEBBLE();
  EVP_PKEY *key = wh_acme_key_generate(WH_ACME_KEY_EC256);
  wh_acme_client *c = new_client(key, NULL);
  const char *types[] = {"http-01"};
  solver_log log = {0};
  wh_acme_solver solver = {
      .types = types, .n_types = 1, .present = present, .cleanup = cleanup, .ctx = &log};
  const char *domains[] = {"*.*.example.test"};
  result r = {0};
  assert_int_equal(wh_acme_obtain(c, domains, 1, WH_ACME_KEY_EC256, &solver, on_obtained, &r), 0);
  run_until(&r.done);
  assert_non_null(r.ptype);
  assert_true(wh_str_has_prefix(r.ptype, "urn:ietf:params:acme:error:"));
  assert_true(r.pstatus >= 400 && r.pstatus < 500);
  assert_false(r.rate_limited);
  assert_int_equal(log.presents, 0);
  result_free(&r);
  wh_acme_client_free(c);
  drain();
  EVP_PKEY_free(key);
}

/* No ACME server: nothing listens on the port, or it never answers. */
static void test_unreachable(void **state) {
  (void)state;
  EVP_PKEY *key = wh_acme_key_generate(WH_ACME_KEY_EC256);
  if (!E.curl) { /* runs without pebble too */
    uv_loop_init(&E.loop);
    E.curl = wh_curl_uv_new(&E.loop);
    assert_non_null(E.curl);
  }
  const char *types[] = {"http-01"};
  solver_log log = {0};
  wh_acme_solver solver = {
      .types = types, .n_types = 1, .present = present, .cleanup = cleanup, .ctx = &log};
  const char *domains[] = {"a.example.test"};

  char url[128];
  snprintf(url, sizeof(url), "https://127.0.0.1:%d/dir", free_port());
  char err[256];
  wh_acme_client_opts opts = {.timeout_ms = 5000};
  wh_acme_client *c = wh_acme_client_new(&E.loop, url, key, &opts, err, sizeof(err));
  assert_non_null(c);
  result r = {0};
  assert_int_equal(wh_acme_obtain(c, domains, 1, WH_ACME_KEY_EC256, &solver, on_obtained, &r), 0);
  run_until(&r.done);
  assert_string_equal(r.ptype, "urn:wharf:acme:transport");
  assert_int_equal(r.pstatus, 0);
  assert_non_null(strstr(r.pdetail, url));
  result_free(&r);
  wh_acme_client_free(c);

  /* a listener that accepts nothing: clientResponseHeaderTimeout ends it */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof(a);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(fd, 8), 0);
  getsockname(fd, (struct sockaddr *)&a, &alen);
  snprintf(url, sizeof(url), "https://127.0.0.1:%d/dir", ntohs(a.sin_port));
  opts.response_header_timeout_ms = 1000;
  c = wh_acme_client_new(&E.loop, url, key, &opts, err, sizeof(err));
  memset(&r, 0, sizeof(r));
  uint64_t t0 = uv_hrtime();
  assert_int_equal(wh_acme_obtain(c, domains, 1, WH_ACME_KEY_EC256, &solver, on_obtained, &r), 0);
  run_until(&r.done);
  assert_string_equal(r.ptype, "urn:wharf:acme:transport");
  assert_non_null(strstr(r.pdetail, "no response head"));
  assert_true((uv_hrtime() - t0) / 1000000 < 4500); /* well before clientTimeout */
  result_free(&r);
  wh_acme_client_free(c);
  close(fd);

  /* an unreadable caCertificates file is refused up front */
  const char *bad[] = {"/nonexistent/ca.pem"};
  wh_acme_client_opts bopts = {.ca_certificates = bad, .n_ca_certificates = 1};
  assert_null(wh_acme_client_new(&E.loop, url, key, &bopts, err, sizeof(err)));
  assert_non_null(strstr(err, "/nonexistent/ca.pem"));
  drain();
  EVP_PKEY_free(key);
}

/* The client freed while the solver holds a present: no callback afterwards,
 * the solver's late done runs the cleanup, nothing leaks. */
static void test_free_during_present(void **state) {
  (void)state;
  REQUIRE_PEBBLE();
  EVP_PKEY *key = wh_acme_key_generate(WH_ACME_KEY_EC256);
  wh_acme_client *c = new_client(key, NULL);
  const char *types[] = {"http-01"};
  solver_log log = {.hold = true};
  wh_acme_solver solver = {
      .types = types, .n_types = 1, .present = present, .cleanup = cleanup, .ctx = &log};
  const char *domains[] = {"held.example.test"};
  result r = {0};
  assert_int_equal(wh_acme_obtain(c, domains, 1, WH_ACME_KEY_EC256, &solver, on_obtained, &r), 0);
  bool held = false;
  for (int i = 0; i < 3000 && !log.held; i++)
    uv_run(&E.loop, UV_RUN_ONCE);
  held = log.held != NULL;
  assert_true(held);
  wh_acme_client_free(c);
  wh_acme_solver_done(log.held, NULL);
  assert_int_equal(log.cleanups, 1);
  forget_all();
  assert_false(r.done);
  EVP_PKEY_free(key);
}

typedef struct loop_gap {
  uint64_t last_ns, max_ns;
} loop_gap;

static void on_tick(uv_timer_t *t) {
  loop_gap *g = t->data;
  uint64_t now = uv_hrtime();
  if (g->last_ns && now - g->last_ns > g->max_ns)
    g->max_ns = now - g->last_ns;
  g->last_ns = now;
}

/* An RSA 4096 certificate key takes one to three seconds to make here: it is
 * made on the thread pool while the loop keeps turning. A client freed while
 * a key is being made leaves nothing behind once the work comes back. */
static void test_certificate_key_off_the_loop(void **state) {
  (void)state;
  REQUIRE_PEBBLE();
  EVP_PKEY *key = wh_acme_key_generate(WH_ACME_KEY_EC256);
  wh_acme_client *c = new_client(key, NULL);
  const char *types[] = {"http-01"};
  solver_log log = {0};
  wh_acme_solver solver = {
      .types = types, .n_types = 1, .present = present, .cleanup = cleanup, .ctx = &log};
  const char *domains[] = {"rsa.example.test"};
  loop_gap g = {0};
  uv_timer_t tick;
  uv_timer_init(&E.loop, &tick);
  tick.data = &g;
  uv_timer_start(&tick, on_tick, 10, 10);
  result r = {0};
  assert_int_equal(wh_acme_obtain(c, domains, 1, WH_ACME_KEY_RSA4096, &solver, on_obtained, &r), 0);
  run_until(&r.done);
  uv_timer_stop(&tick);
  if (r.ptype)
    fail_msg("obtain: %s: %s", r.ptype, r.pdetail);
  assert_non_null(strstr(r.key, "BEGIN RSA PRIVATE KEY"));
  verify_certificate(&r, domains, 1);
  print_message("longest loop turn during the issuance: %llu ms\n",
                (unsigned long long)(g.max_ns / 1000000));
  assert_true(g.max_ns / 1000000 < 700);
  result_free(&r);

  /* freed right after the last cleanup: finalize has queued the key */
  const char *domains2[] = {"orphan.example.test"};
  memset(&r, 0, sizeof(r));
  int cleanups = log.cleanups;
  assert_int_equal(wh_acme_obtain(c, domains2, 1, WH_ACME_KEY_RSA2048, &solver, on_obtained, &r),
                   0);
  for (int i = 0; i < 30000 && log.cleanups == cleanups; i++)
    uv_run(&E.loop, UV_RUN_ONCE);
  assert_int_equal(log.cleanups, cleanups + 1);
  assert_true(E.loop.active_reqs.count > 0); /* the key's work */
  wh_acme_client_free(c);
  for (int i = 0; i < 3000 && E.loop.active_reqs.count > 0; i++)
    uv_run(&E.loop, UV_RUN_ONCE);
  assert_int_equal(E.loop.active_reqs.count, 0);
  assert_false(r.done);
  uv_close((uv_handle_t *)&tick, NULL);
  forget_all();
  EVP_PKEY_free(key);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_obtain_http01), cmocka_unit_test(test_obtain_dns01_wildcard),
      cmocka_unit_test(test_refused_order), cmocka_unit_test(test_free_during_present),
      cmocka_unit_test(test_unreachable),   cmocka_unit_test(test_certificate_key_off_the_loop),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
