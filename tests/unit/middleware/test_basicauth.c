/* Runtime of the basicAuth middleware and the htpasswd hashes it verifies:
 * every hash kind against vectors made by Apache's htpasswd, OpenSSL and
 * Openwall's crypt_blowfish test set, Basic header parsing as Go's
 * req.BasicAuth() does it, usersFile reading, and the 401 Traefik sends. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/config/schema.h"
#include "lib/config/tree.h"
#include "lib/http/exchange.h"
#include "lib/http/request.h"
#include "middleware/basicauth.h"
#include "middleware/htpasswd.h"

/* ---- vectors ---- */

/* Traefik's documentation: test / test */
#define APR1_TEST "$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"
/* htpasswd -nbm bob hunter2 */
#define APR1_BOB "$apr1$qhXhQTuH$pI.olmXPIMjg..aOqnd3e/"
/* openssl passwd -1 -salt abcdefgh test */
#define MD5_TEST "$1$abcdefgh$irWbblnpmw.5z7wgBnprh0"
/* htpasswd -nbs carol 'pa:ss' */
#define SHA_CAROL "{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68="
/* htpasswd -nbB alice s3cret */
#define BCRYPT_ALICE "$2y$05$KhOc8C5AsxPHqqGM/PpgGOZMbKVzWny8ZS86mqir77Pkvux.gdFYW"
/* htpasswd -nbB -C 4 dave pw */
#define BCRYPT_DAVE "$2y$04$CsXgvBLMQQlhLudvfBFO4.xWxvrx91Mt8efRO.LosSvm2H5DeH98e"
/* htpasswd -nbB -C 8 erin slowpw */
#define BCRYPT_ERIN "$2y$08$7dO8C1nseTGqHg1kRr7PV.zDIl7ICyI.9fqeNCT4YuTwLd3oea9Jy"
/* crypt_blowfish's test vectors: "U*U", and "\xa3" under $2x$ (the 8-bit bug) and $2y$ */
#define BCRYPT_UU "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
#define BCRYPT_A3_BUGGY "$2x$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e"
#define BCRYPT_A3_FIXED "/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq"
/* openssl passwd -5 -salt saltsalt test: valid SHA-crypt, which Traefik never accepts */
#define SHA256CRYPT_TEST "$5$saltsalt$q6kNPzk9GPb3dpYKO2TUS45z2kiVxsUVz7eWVJcih.0"

/* ---- harness ---- */

#define KV(...) ((const char *const[]){__VA_ARGS__, NULL})

static wh_mw_basicauth_conf *conf_(const char *const *kv) {
  wh_node *root = wh_node_new(WH_NODE_MAP, NULL, NULL);
  assert_non_null(root);
  for (size_t i = 0; kv[i]; i += 2)
    assert_int_equal(wh_node_set_dotted(root, kv[i], kv[i + 1], "test", 0), 0);
  wh_mw_basicauth_conf *c = wh_schema_new(wh_mw_basicauth.schema);
  assert_non_null(c);
  wh_errlist errs;
  wh_errlist_init(&errs);
  int rc = wh_schema_decode(wh_mw_basicauth.schema, root, c, "http.middlewares.a.basicAuth", &errs);
  for (size_t i = 0; i < errs.n; i++)
    print_message("  error: %s\n", errs.items[i]);
  assert_int_equal(rc, 0);
  wh_errlist_free(&errs);
  wh_node_free(root);
  return c;
}
#define CONF(...) conf_(KV(__VA_ARGS__))

static void conf_free(wh_mw_basicauth_conf *c) {
  wh_schema_destroy(wh_mw_basicauth.schema, c);
}

typedef struct tx {
  wh_http_req req;
  wh_http_resp resp;
  wh_mw_exchange x;
  char *names[4], *vals[4];
} tx;

/* A request carrying this Authorization header (none when NULL). */
static tx *tx_new(const char *authorization) {
  tx *t = calloc(1, sizeof *t);
  assert_non_null(t);
  size_t n = 0;
  t->names[n] = "Accept";
  t->vals[n++] = "*/*";
  if (authorization) {
    t->names[n] = "Authorization";
    t->vals[n++] = (char *)authorization;
  }
  t->req.method = "GET";
  t->req.target = "/p";
  t->req.path = "/p";
  t->req.host = "example.com";
  t->req.nheaders = n;
  t->req.hdr_names = t->names;
  t->req.hdr_values = t->vals;
  t->req.body = "";
  struct sockaddr_in *sin = (struct sockaddr_in *)&t->req.peer;
  sin->sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &sin->sin_addr);
  t->req.http_minor = 1;
  wh_http_resp_init(&t->resp);
  t->x.req = &t->req;
  t->x.path = strdup("/p");
  t->x.resp = &t->resp;
  t->x.mw_name = "auth@file";
  t->x.level = 1;
  return t;
}

static void tx_free(tx *t) {
  wh_http_resp_free(&t->resp);
  wh_mw_exchange_free(&t->x);
  free(t);
}

/* "Basic " + base64(user:password) */
static char *basic(const char *userpass) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n = strlen(userpass);
  char *out = malloc(6 + 4 * ((n + 2) / 3) + 1);
  assert_non_null(out);
  strcpy(out, "Basic ");
  char *p = out + 6;
  const unsigned char *s = (const unsigned char *)userpass;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
                 (i + 2 < n ? s[i + 2] : 0);
    *p++ = tbl[v >> 18 & 63];
    *p++ = tbl[v >> 12 & 63];
    *p++ = i + 1 < n ? tbl[v >> 6 & 63] : '=';
    *p++ = i + 2 < n ? tbl[v & 63] : '=';
  }
  *p = '\0';
  return out;
}

/* Runs the middleware with the raw Authorization value; returns its verdict. */
static int run_raw(const wh_mw_basicauth_conf *c, const char *authorization, tx **out) {
  tx *t = tx_new(authorization);
  int rc = wh_mw_basicauth.on_request(c, &t->x);
  if (out)
    *out = t;
  else
    tx_free(t);
  return rc;
}

static int run(const wh_mw_basicauth_conf *c, const char *userpass, tx **out) {
  char *h = userpass ? basic(userpass) : NULL;
  tx *t = NULL;
  int rc = run_raw(c, h, &t);
  /* the header value is borrowed by the request: keep it until t is freed */
  if (out) {
    t->names[3] = h; /* parked for freeing */
    *out = t;
  } else {
    tx_free(t);
    free(h);
  }
  return rc;
}

static void tx_done(tx *t) {
  free(t->names[3]);
  tx_free(t);
}

static bool has_set_header(const tx *t, const char *name, const char **val) {
  for (size_t i = 0; i < t->x.set_headers.n; i++)
    if (strcasecmp(t->x.set_headers.keys[i], name) == 0) {
      *val = t->x.set_headers.vals[i];
      return true;
    }
  return false;
}

static void assert_401(const tx *t, const char *realm) {
  assert_int_equal(t->resp.status, 401);
  assert_string_equal(wh_http_resp_get_header(&t->resp, "Content-Type"), "text/plain");
  char want[256];
  snprintf(want, sizeof want, "Basic realm=\"%s\"", realm);
  assert_string_equal(wh_http_resp_get_header(&t->resp, "WWW-Authenticate"), want);
  assert_string_equal(wh_strbuf_cstr(&t->resp.body), "401 Unauthorized\n");
  /* nothing of any hash leaks into the answer */
  assert_null(strchr(wh_strbuf_cstr(&t->resp.body), '$'));
}

/* Asserts a 401 for the given raw header. */
static void expect_401_raw(const wh_mw_basicauth_conf *c, const char *authorization) {
  tx *t;
  assert_int_equal(run_raw(c, authorization, &t), WH_MW_DONE);
  assert_401(t, "traefik");
  tx_free(t);
}

static char *write_tmp(const char *content) {
  char *path = strdup("/tmp/wh_basicauth_XXXXXX");
  assert_non_null(path);
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  size_t n = strlen(content);
  assert_int_equal(write(fd, content, n), (ssize_t)n);
  close(fd);
  return path;
}

/* ---- hashes ---- */

static void test_apr1_vectors(void **state) {
  (void)state;
  assert_int_equal(wh_htpasswd_kind_of(APR1_TEST), WH_HTPASSWD_APR1);
  assert_true(wh_htpasswd_verify(APR1_TEST, "test"));
  assert_true(wh_htpasswd_verify(APR1_BOB, "hunter2"));
  assert_false(wh_htpasswd_verify(APR1_TEST, "Test"));
  assert_false(wh_htpasswd_verify(APR1_BOB, "hunter"));
  assert_false(wh_htpasswd_verify(APR1_BOB, ""));
  char *h = wh_htpasswd_apr1("test", "H6uskkkW$rest-ignored");
  assert_non_null(h);
  assert_string_equal(h, APR1_TEST);
  free(h);
  /* a changed character of the stored hash no longer matches */
  assert_false(wh_htpasswd_verify("$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj0", "test"));
  /* no '$' after the salt: malformed */
  assert_false(wh_htpasswd_verify("$apr1$H6uskkkW", "test"));
}

static void test_apr1_long_password(void **state) {
  (void)state;
  /* the alternate sum is added in 16-byte steps: cross that boundary */
  const char *pw = "0123456789abcdefghijklmnopqrstuvwxyz!";
  char *h = wh_htpasswd_apr1(pw, "saltsalt");
  assert_non_null(h);
  /* openssl passwd -apr1 -salt saltsalt '0123456789abcdefghijklmnopqrstuvwxyz!' */
  assert_string_equal(h, "$apr1$saltsalt$Dpvg6YPTwXJ5thGw2Fzo8.");
  assert_true(wh_htpasswd_verify(h, pw));
  free(h);
}

static void test_md5crypt_vector(void **state) {
  (void)state;
  assert_int_equal(wh_htpasswd_kind_of(MD5_TEST), WH_HTPASSWD_MD5);
  assert_true(wh_htpasswd_verify(MD5_TEST, "test"));
  assert_false(wh_htpasswd_verify(MD5_TEST, "tesT"));
  /* the apr1 hash of the same password and salt is not a $1$ hash */
  char *apr = wh_htpasswd_apr1("test", "abcdefgh");
  assert_non_null(apr);
  assert_string_not_equal(apr + 6, MD5_TEST + 3);
  free(apr);
}

static void test_sha_vector(void **state) {
  (void)state;
  assert_int_equal(wh_htpasswd_kind_of(SHA_CAROL), WH_HTPASSWD_SHA);
  assert_true(wh_htpasswd_verify(SHA_CAROL, "pa:ss"));
  assert_false(wh_htpasswd_verify(SHA_CAROL, "pa:sS"));
  assert_false(wh_htpasswd_verify("{SHA}XyRLaTIb/WCdo8CuWc58gPVHl68", "pa:ss")); /* truncated */
  assert_false(wh_htpasswd_verify("{SHA}", ""));
}

static void test_bcrypt_vectors(void **state) {
  (void)state;
  assert_int_equal(wh_htpasswd_kind_of(BCRYPT_ALICE), WH_HTPASSWD_BCRYPT);
  assert_true(wh_htpasswd_verify(BCRYPT_ALICE, "s3cret"));
  assert_false(wh_htpasswd_verify(BCRYPT_ALICE, "s3creT"));
  assert_true(wh_htpasswd_verify(BCRYPT_DAVE, "pw"));
  assert_true(wh_htpasswd_verify(BCRYPT_UU, "U*U"));
  assert_false(wh_htpasswd_verify(BCRYPT_UU, "U*V"));
  /* the four prefixes run the same algorithm (Go's bcrypt) */
  const char *prefixes[] = {"$2a$", "$2b$", "$2x$", "$2y$"};
  for (size_t i = 0; i < 4; i++) {
    char h[80];
    snprintf(h, sizeof h, "%s%s", prefixes[i], BCRYPT_DAVE + 4);
    assert_int_equal(wh_htpasswd_kind_of(h), WH_HTPASSWD_BCRYPT);
    assert_true(wh_htpasswd_verify(h, "pw"));
    assert_false(wh_htpasswd_verify(h, "pW"));
  }
  /* truncated / bad cost */
  assert_false(wh_htpasswd_verify("$2y$04$CsXgvBLMQQlhLudvfBFO4.", "pw"));
  assert_false(
      wh_htpasswd_verify("$2y$99$CsXgvBLMQQlhLudvfBFO4.xWxvrx91Mt8efRO.LosSvm2H5DeH98e", "pw"));
}

/* Traefik (Go) has no 8-bit bug: "$2x$" verifies like "$2y$", so the hash
 * crypt_blowfish's buggy $2x$ mode produced is not accepted. */
static void test_bcrypt_2x_as_go(void **state) {
  (void)state;
  assert_true(wh_htpasswd_verify("$2y$05$" BCRYPT_A3_FIXED, "\xa3"));
  assert_true(wh_htpasswd_verify("$2x$05$" BCRYPT_A3_FIXED, "\xa3"));
  assert_true(wh_htpasswd_verify("$2a$05$" BCRYPT_A3_FIXED, "\xa3"));
  assert_false(wh_htpasswd_verify(BCRYPT_A3_BUGGY, "\xa3"));
}

static void test_unsupported_never_match(void **state) {
  (void)state;
  const char *bad[] = {"test",       "",          "$5$x",      SHA256CRYPT_TEST, "$6$saltsalt$abc",
                       "$2z$05$abc", "{SSHA}abc", "$apr2$x$y", "$2$05$abc"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(wh_htpasswd_kind_of(bad[i]), WH_HTPASSWD_UNSUPPORTED);
    assert_false(wh_htpasswd_verify(bad[i], "test"));
  }
  assert_false(wh_htpasswd_verify(NULL, "test"));
  assert_false(wh_htpasswd_verify(APR1_TEST, NULL));
}

/* ---- the middleware ---- */

static void test_accepts_every_kind(void **state) {
  (void)state;
  wh_mw_basicauth_conf *c =
      CONF("users[0]", "test:" APR1_TEST, "users[1]", "alice:" BCRYPT_ALICE, "users[2]",
           "carol:" SHA_CAROL, "users[3]", "md:" MD5_TEST, "users[4]", "bob:" APR1_BOB);
  tx *t;
  assert_int_equal(run(c, "test:test", &t), WH_MW_NEXT);
  assert_int_equal(t->resp.status, 0);
  assert_int_equal(t->resp.nheaders, 0);
  /* the header stays for the backend unless removeHeader */
  assert_non_null(wh_mw_exchange_header(&t->x, "Authorization"));
  tx_done(t);
  assert_int_equal(run(c, "alice:s3cret", NULL), WH_MW_NEXT);
  assert_int_equal(run(c, "carol:pa:ss", NULL), WH_MW_NEXT); /* colon in the password */
  assert_int_equal(run(c, "md:test", NULL), WH_MW_NEXT);
  assert_int_equal(run(c, "bob:hunter2", NULL), WH_MW_NEXT);
  conf_free(c);
}

static void test_wrong_password_401(void **state) {
  (void)state;
  wh_mw_basicauth_conf *c = CONF("users[0]", "test:" APR1_TEST, "users[1]", "alice:" BCRYPT_ALICE);
  const char *bad[] = {"test:Test", "alice:test", "test:", "alice:s3cret ", "Test:test"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    tx *t;
    assert_int_equal(run(c, bad[i], &t), WH_MW_DONE);
    assert_401(t, "traefik");
    /* nothing was forwarded-side changed */
    assert_int_equal(t->x.set_headers.n, 0);
    tx_done(t);
  }
  conf_free(c);
}

static void test_unknown_user_401(void **state) {
  (void)state;
  wh_mw_basicauth_conf *c = CONF("users[0]", "test:" APR1_TEST);
  tx *t;
  assert_int_equal(run(c, "nobody:test", &t), WH_MW_DONE);
  assert_401(t, "traefik");
  tx_done(t);
  /* a user name that is a prefix of a known one is not that user */
  assert_int_equal(run(c, "tes:test", NULL), WH_MW_DONE);
  assert_int_equal(run(c, ":test", NULL), WH_MW_DONE);
  conf_free(c);
}

static double elapsed_ms(const wh_mw_basicauth_conf *c, const char *userpass) {
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  assert_int_equal(run(c, userpass, NULL), WH_MW_DONE);
  clock_gettime(CLOCK_MONOTONIC, &b);
  return (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

/* HARDENING 19: an unknown user costs a bcrypt verification too. */
static void test_unknown_user_same_cost(void **state) {
  (void)state;
  wh_mw_basicauth_conf *c = CONF("users[0]", "erin:" BCRYPT_ERIN);
  double wrong = 0, unknown = 0;
  for (int i = 0; i < 4; i++) {
    wrong += elapsed_ms(c, "erin:nope");
    unknown += elapsed_ms(c, "mallory:nope");
  }
  print_message("  wrong password %.1f ms, unknown user %.1f ms\n", wrong / 4, unknown / 4);
  assert_true(wrong > 4 * 2.0); /* cost 8 is several ms: the measure means something */
  assert_true(unknown > wrong * 0.5);
  assert_true(unknown < wrong * 2.0);
  conf_free(c);
}

static void test_no_authorization_401(void **state) {
  (void)state;
  wh_mw_basicauth_conf *c = CONF("users[0]", "test:" APR1_TEST);
  expect_401_raw(c, NULL);
  expect_401_raw(c, "");
  conf_free(c);
}

static void test_malformed_authorization(void **state) {
  (void)state;
  wh_mw_basicauth_conf *c = CONF("users[0]", "test:" APR1_TEST);
  /* base64("test:test") = dGVzdDp0ZXN0 */
  assert_int_equal(run_raw(c, "Basic dGVzdDp0ZXN0", NULL), WH_MW_NEXT);
  assert_int_equal(run_raw(c, "bAsIc dGVzdDp0ZXN0", NULL),
                   WH_MW_NEXT);             /* scheme case-insensitive */
  expect_401_raw(c, "Bearer dGVzdDp0ZXN0"); /* not Basic */
  expect_401_raw(c, "Digest dGVzdDp0ZXN0");
  expect_401_raw(c, "Basic");                  /* no credentials */
  expect_401_raw(c, "Basic ");                 /* empty: no colon */
  expect_401_raw(c, "BasicdGVzdDp0ZXN0");      /* no space */
  expect_401_raw(c, "Basic  dGVzdDp0ZXN0");    /* two spaces: ' ' is not base64 */
  expect_401_raw(c, "Basic dGVzdDp0ZXN0=");    /* bad length */
  expect_401_raw(c, "Basic dGVzdDp0ZXN");      /* missing padding */
  expect_401_raw(c, "Basic dGVz!Dp0ZXN0");     /* not base64 */
  expect_401_raw(c, "Basic dGVzd=p0ZXN0");     /* '=' inside */
  expect_401_raw(c, "Basic dGVzdA==");         /* "test": no colon */
  expect_401_raw(c, "Basic dGVzdDp0ZXN0AA=="); /* "test:test\0": NUL byte */
  expect_401_raw(c, "Basic dGUKc3Q6dGVzdA=="); /* "te\nst:test": control char in user */
  conf_free(c);
}

static void test_realm(void **state) {
  (void)state;
  wh_mw_basicauth_conf *c = CONF("users[0]", "test:" APR1_TEST, "realm", "My Site");
  tx *t;
  assert_int_equal(run(c, "test:x", &t), WH_MW_DONE);
  assert_401(t, "My Site");
  tx_done(t);
  conf_free(c);
  /* a line break in the realm cannot split the header */
  c = CONF("users[0]", "test:" APR1_TEST, "realm", "a\r\nX-Evil: 1");
  assert_int_equal(run(c, "test:x", &t), WH_MW_DONE);
  assert_string_equal(wh_http_resp_get_header(&t->resp, "WWW-Authenticate"),
                      "Basic realm=\"a  X-Evil: 1\"");
  assert_null(wh_http_resp_get_header(&t->resp, "X-Evil"));
  tx_done(t);
  conf_free(c);
}

static void test_remove_header(void **state) {
  (void)state;
  wh_mw_basicauth_conf *c = CONF("users[0]", "test:" APR1_TEST, "removeHeader", "true");
  tx *t;
  assert_int_equal(run(c, "test:test", &t), WH_MW_NEXT);
  const char *v = "unset";
  assert_true(has_set_header(t, "Authorization", &v));
  assert_null(v); /* removal */
  assert_null(wh_mw_exchange_header(&t->x, "Authorization"));
  tx_done(t);
  /* a failed attempt answers 401 and never reaches the backend anyway */
  assert_int_equal(run(c, "test:bad", &t), WH_MW_DONE);
  assert_401(t, "traefik");
  tx_done(t);
  conf_free(c);
}

static void test_header_field(void **state) {
  (void)state;
  wh_mw_basicauth_conf *c = CONF("users[0]", "test:" APR1_TEST, "users[1]", "alice:" BCRYPT_ALICE,
                                 "headerField", "X-WebAuth-User");
  tx *t;
  assert_int_equal(run(c, "alice:s3cret", &t), WH_MW_NEXT);
  assert_string_equal(wh_mw_exchange_header(&t->x, "X-WebAuth-User"), "alice");
  assert_non_null(wh_mw_exchange_header(&t->x, "Authorization"));
  tx_done(t);
  assert_int_equal(run(c, "alice:wrong", &t), WH_MW_DONE);
  const char *v;
  assert_false(has_set_header(t, "X-WebAuth-User", &v));
  tx_done(t);
  conf_free(c);
}

static void test_users_file(void **state) {
  (void)state;
  char *path = write_tmp("# users of the test\n"
                         "\n"
                         "   \t\n"
                         "alice:" BCRYPT_ALICE "\n"
                         "  # indented comment\n"
                         "  bob:" APR1_BOB "  \r\n"
                         "#carol:" SHA_CAROL "\n"
                         "test:" APR1_TEST); /* no final newline */
  wh_mw_basicauth_conf *c = CONF("usersFile", path, "headerField", "X-User");
  tx *t;
  assert_int_equal(run(c, "bob:hunter2", &t), WH_MW_NEXT);
  assert_string_equal(wh_mw_exchange_header(&t->x, "X-User"), "bob");
  tx_done(t);
  assert_int_equal(run(c, "alice:s3cret", NULL), WH_MW_NEXT);
  assert_int_equal(run(c, "test:test", NULL), WH_MW_NEXT);
  /* commented out */
  assert_int_equal(run(c, "carol:pa:ss", &t), WH_MW_DONE);
  assert_401(t, "traefik");
  tx_done(t);
  assert_int_equal(run(c, "#carol:pa:ss", NULL), WH_MW_DONE);
  conf_free(c);
  unlink(path);
  free(path);
}

/* Traefik appends users after the file's lines and the later entry wins. */
static void test_users_override_file(void **state) {
  (void)state;
  char *path = write_tmp("test:" APR1_TEST "\nalice:" BCRYPT_ALICE "\n");
  wh_mw_basicauth_conf *c = CONF("usersFile", path, "users[0]", "test:" MD5_TEST);
  assert_int_equal(run(c, "test:test", NULL), WH_MW_NEXT); /* same password, $1$ entry */
  assert_int_equal(run(c, "alice:s3cret", NULL), WH_MW_NEXT);
  conf_free(c);
  c = CONF("usersFile", path, "users[0]", "alice:" SHA_CAROL);
  assert_int_equal(run(c, "alice:s3cret", NULL), WH_MW_DONE);
  assert_int_equal(run(c, "alice:pa:ss", NULL), WH_MW_NEXT);
  conf_free(c);
  unlink(path);
  free(path);
}

static void expect_500(const wh_mw_basicauth_conf *c, const char *userpass) {
  tx *t;
  assert_int_equal(run(c, userpass, &t), WH_MW_DONE);
  assert_int_equal(t->resp.status, 500);
  assert_null(strstr(wh_strbuf_cstr(&t->resp.body), "$"));
  tx_done(t);
}

/* A users file that cannot be read closes the door for everyone, inline
 * users included (Traefik does not build the middleware at all). */
static void test_users_file_missing_fails_closed(void **state) {
  (void)state;
  wh_mw_basicauth_conf *c =
      CONF("usersFile", "/nonexistent/wharf/users", "users[0]", "test:" APR1_TEST);
  expect_500(c, "test:test");
  expect_500(c, NULL);
  conf_free(c);
  c = CONF("usersFile", "/tmp", "users[0]", "test:" APR1_TEST); /* a directory */
  expect_500(c, "test:test");
  conf_free(c);
}

static void test_users_file_malformed_line(void **state) {
  (void)state;
  char *path = write_tmp("test:" APR1_TEST "\nthis line has no colon\n");
  wh_mw_basicauth_conf *c = CONF("usersFile", path);
  expect_500(c, "test:test");
  expect_500(c, "test:test"); /* logged once, still closed */
  conf_free(c);
  unlink(path);
  free(path);
  path = write_tmp("test:" APR1_TEST ":extra\n");
  c = CONF("usersFile", path);
  expect_500(c, "test:test");
  conf_free(c);
  unlink(path);
  free(path);
}

/* The file is read once, not per request, and read again when it changes. */
static void test_users_file_reread_on_change(void **state) {
  (void)state;
  wh_htpasswd_file_set_recheck_ms(0);
  char *path = write_tmp("test:" APR1_TEST "\n");
  wh_mw_basicauth_conf *c = CONF("usersFile", path);
  assert_int_equal(run(c, "test:test", NULL), WH_MW_NEXT);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs("alice:" BCRYPT_ALICE "\n# test removed\n", fp);
  fclose(fp);
  assert_int_equal(run(c, "test:test", NULL), WH_MW_DONE);
  assert_int_equal(run(c, "alice:s3cret", NULL), WH_MW_NEXT);
  unlink(path);
  expect_500(c, "alice:s3cret"); /* deleted: closed */
  conf_free(c);
  free(path);
  wh_htpasswd_file_set_recheck_ms(1000);
}

static void test_users_file_cache_shared(void **state) {
  (void)state;
  char *path = write_tmp("bob:" APR1_BOB "\n");
  int err = 0;
  wh_htpasswd_file *a = wh_htpasswd_file_get(path, &err);
  assert_non_null(a);
  wh_htpasswd_file *b = wh_htpasswd_file_get(path, &err);
  assert_ptr_equal(a, b); /* unchanged: the same parsed content */
  assert_int_equal(a->n, 1);
  assert_int_equal(a->lineno[0], 1);
  wh_htpasswd_file_release(a);
  wh_htpasswd_file_release(b);
  assert_null(wh_htpasswd_file_get("/nonexistent/wharf/users2", &err));
  assert_true(err < 0);
  unlink(path);
  free(path);
}

static void test_validate_entries(void **state) {
  (void)state;
  wh_node *root = wh_node_new(WH_NODE_MAP, NULL, NULL);
  assert_non_null(root);
  assert_int_equal(wh_node_set_dotted(root, "users[0]", "a:b:c", "test", 0), 0);
  wh_mw_basicauth_conf *c = wh_schema_new(wh_mw_basicauth.schema);
  wh_errlist errs;
  wh_errlist_init(&errs);
  assert_int_not_equal(wh_schema_decode(wh_mw_basicauth.schema, root, c, "m", &errs), 0);
  assert_int_equal(errs.n, 1);
  assert_non_null(strstr(errs.items[0], "users[0]: expected \"user:hash\""));
  assert_null(strstr(errs.items[0], "b:c"));
  wh_errlist_free(&errs);
  wh_schema_destroy(wh_mw_basicauth.schema, c);
  wh_node_free(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_apr1_vectors),
      cmocka_unit_test(test_apr1_long_password),
      cmocka_unit_test(test_md5crypt_vector),
      cmocka_unit_test(test_sha_vector),
      cmocka_unit_test(test_bcrypt_vectors),
      cmocka_unit_test(test_bcrypt_2x_as_go),
      cmocka_unit_test(test_unsupported_never_match),
      cmocka_unit_test(test_accepts_every_kind),
      cmocka_unit_test(test_wrong_password_401),
      cmocka_unit_test(test_unknown_user_401),
      cmocka_unit_test(test_unknown_user_same_cost),
      cmocka_unit_test(test_no_authorization_401),
      cmocka_unit_test(test_malformed_authorization),
      cmocka_unit_test(test_realm),
      cmocka_unit_test(test_remove_header),
      cmocka_unit_test(test_header_field),
      cmocka_unit_test(test_users_file),
      cmocka_unit_test(test_users_override_file),
      cmocka_unit_test(test_users_file_missing_fails_closed),
      cmocka_unit_test(test_users_file_malformed_line),
      cmocka_unit_test(test_users_file_reread_on_change),
      cmocka_unit_test(test_users_file_cache_shared),
      cmocka_unit_test(test_validate_entries),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
