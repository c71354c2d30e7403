/* wh_tls_server: the TLS side of a snapshot, built from a runtime made of
 * dynamic YAML (certificates as PEM files in a temporary directory) and a
 * static configuration with entry points. */
#include <fcntl.h>
#include <pthread.h>
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

#include "tests/unit/support/config_fixture.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "lib/config/load.h"
#include "lib/config/runtime.h"
#include "lib/core/str.h"
#include "lib/tls/certificate.h"
#include "lib/tls/server.h"
#include "lib/tls/tls_stream.h"

/* ---- fixtures: certificates written once as PEM files ---- */

static char g_dir[64];
static wh_cert *g_a, *g_wild, *g_ip, *g_def, *g_inline, *g_other;
static char *g_inline_cert, *g_inline_key; /* YAML double-quoted PEM */

static char *path_of(const char *dir, const char *name) {
  char *p = NULL;
  assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
  return p;
}

static void write_pem(const wh_cert *c, const char *dir, const char *base) {
  char *crt = NULL, *key = NULL;
  assert_true(asprintf(&crt, "%s/%s.crt", dir, base) > 0);
  assert_true(asprintf(&key, "%s/%s.key", dir, base) > 0);
  FILE *f = fopen(crt, "w");
  assert_non_null(f);
  assert_int_equal(PEM_write_X509(f, c->x509), 1);
  fclose(f);
  f = fopen(key, "w");
  assert_non_null(f);
  assert_int_equal(PEM_write_PrivateKey(f, c->key, NULL, NULL, 0, NULL, NULL), 1);
  fclose(f);
  free(crt);
  free(key);
}

/* PEM text as the inside of a YAML double-quoted scalar ("\n" escapes). */
static char *yaml_quoted_pem(BIO *b) {
  char *data = NULL;
  long n = BIO_get_mem_data(b, &data);
  wh_strbuf sb = {0};
  for (long i = 0; i < n; i++) {
    if (data[i] == '\n')
      assert_int_equal(wh_strbuf_puts(&sb, "\\n"), 0);
    else
      assert_int_equal(wh_strbuf_putc(&sb, data[i]), 0);
  }
  char *s = wh_strbuf_take(&sb);
  assert_non_null(s);
  return s;
}

static wh_cert *mk(const char *cn, const char *san) {
  const char *sans[] = {san};
  wh_cert *c = wh_cert_self_signed(cn, sans, san ? 1 : 0);
  assert_non_null(c);
  return c;
}

static int setup(void **state) {
  (void)state;
  strcpy(g_dir, "/tmp/wh_tls_server_XXXXXX");
  if (!mkdtemp(g_dir))
    return -1;
  g_a = mk("a.example.com", "a.example.com");
  g_wild = mk("wild", "*.example.com");
  g_ip = mk("ipcert", "127.0.0.1");
  g_def = mk("my default", "default.invalid");
  g_inline = mk("inline.test", "inline.test");
  g_other = mk("other.test", "other.test");
  write_pem(g_a, g_dir, "a");
  write_pem(g_wild, g_dir, "wild");
  write_pem(g_ip, g_dir, "ip");
  write_pem(g_def, g_dir, "def");
  write_pem(g_other, g_dir, "other");
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, g_inline->x509);
  g_inline_cert = yaml_quoted_pem(b);
  BIO_free(b);
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, g_inline->key, NULL, NULL, 0, NULL, NULL);
  g_inline_key = yaml_quoted_pem(b);
  BIO_free(b);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  const char *names[] = {"a", "wild", "ip", "def", "other"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    char p[128];
    snprintf(p, sizeof(p), "%s/%s.crt", g_dir, names[i]);
    unlink(p);
    snprintf(p, sizeof(p), "%s/%s.key", g_dir, names[i]);
    unlink(p);
  }
  rmdir(g_dir);
  wh_cert_unref(g_a);
  wh_cert_unref(g_wild);
  wh_cert_unref(g_ip);
  wh_cert_unref(g_def);
  wh_cert_unref(g_inline);
  wh_cert_unref(g_other);
  free(g_inline_cert);
  free(g_inline_key);
  return 0;
}

/* ---- building a snapshot's TLS side ---- */

static const char *STATIC = "entryPoints:\n"
                            "  web: {address: ':8081'}\n"
                            "  websecure: {address: ':8443', http: {tls: {}}}\n"
                            "  strictep: {address: ':8444', http: {tls: {options: modern}}}\n"
                            "  ghostep: {address: ':8445', http: {tls: {options: ghost}}}\n"
                            "  tcpep: {address: ':9000'}\n";

#define SVC "  services:\n    s: {loadBalancer: {servers: [{url: 'http://127.0.0.1:9'}]}}\n"
#define TCP_SVC "  services:\n    ts: {loadBalancer: {servers: [{address: '127.0.0.1:9'}]}}\n"

typedef struct fixture {
  wh_static_config *stat;
  wh_dyn_config *dyn;
  wh_runtime *rt;
  wh_tls_server *srv;
} fixture;

static void build(fixture *f, const char *dyn_yaml) {
  memset(f, 0, sizeof(*f));
  f->stat = stat_from(STATIC);
  f->dyn = dyn_from(dyn_yaml);
  wh_fragment frag = {"file", f->dyn};
  f->rt = wh_runtime_build(f->stat, &frag, 1);
  assert_non_null(f->rt);
  f->srv = wh_tls_server_build(f->stat, f->rt);
  assert_non_null(f->srv);
}

/* build() with printf-style YAML (the certificate paths). */
static void buildf(fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buildf(fixture *f, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *y = NULL;
  assert_true(vasprintf(&y, fmt, ap) > 0);
  va_end(ap);
  build(f, y);
  free(y);
}

static void done(fixture *f) {
  wh_tls_server_free(f->srv);
  wh_runtime_free(f->rt);
  wh_dyn_config_free(f->dyn);
  wh_static_free(f->stat);
}

static size_t ep(const fixture *f, const char *name) {
  for (size_t i = 0; i < f->stat->entry_points.n; i++)
    if (strcmp(f->stat->entry_points.keys[i], name) == 0)
      return i;
  fail_msg("no entry point %s", name);
  return 0;
}

static wh_rt_elem *router(const fixture *f, wh_kind k, const char *name) {
  wh_rt_elem *el = wh_runtime_find(f->rt, k, name);
  if (!el)
    fail_msg("%s not found", name);
  return el;
}

static bool has_error(const wh_errlist *l, const char *frag) {
  for (size_t i = 0; i < l->n; i++)
    if (strstr(l->items[i], frag))
      return true;
  return false;
}

/* The subject CN of the certificate ctx serves. */
static const char *cn_of(SSL_CTX *ctx) {
  static char buf[128];
  assert_non_null(ctx);
  X509 *x = SSL_CTX_get0_certificate(ctx);
  assert_non_null(x);
  assert_true(
      X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, sizeof(buf)) > 0);
  return buf;
}

static const char *policy_name(const fixture *f, const char *epn, const char *host) {
  const wh_tls_policy *p = wh_tls_server_policy_for_host(f->srv, ep(f, epn), host);
  assert_non_null(p);
  return p->name;
}

/* The certificate section most tests share: files for a.example.com,
 * *.example.com, 127.0.0.1 and the default certificate. */
#define CERTS_FMT                                                                                  \
  "tls:\n"                                                                                         \
  "  certificates:\n"                                                                              \
  "    - {certFile: '%1$s/a.crt', keyFile: '%1$s/a.key'}\n"                                        \
  "    - {certFile: '%1$s/wild.crt', keyFile: '%1$s/wild.key'}\n"                                  \
  "    - {certFile: '%1$s/ip.crt', keyFile: '%1$s/ip.key'}\n"                                      \
  "  stores:\n"                                                                                    \
  "    default: {defaultCertificate: {certFile: '%1$s/def.crt', keyFile: '%1$s/def.key'}}\n"

#define ROUTERS                                                                                    \
  "http:\n  routers:\n"                                                                            \
  "    plain: {rule: 'Host(`plain.example.com`)', service: s, entryPoints: [websecure]}\n"         \
  "    mod: {rule: 'Host(`secure.example.com`) || Host(`*.wild.test`)', service: s,\n"             \
  "          entryPoints: [websecure], tls: {options: modern}}\n" SVC

static void build_std(fixture *f) {
  buildf(f, ROUTERS CERTS_FMT "  options:\n    modern: {minVersion: VersionTLS13}\n", g_dir);
  assert_int_equal(wh_tls_server_errors(f->srv)->n, 0);
}

static SSL_CTX *ctx_for(fixture *f, const char *epn, const char *sni, const char *ip,
                        const wh_tls_policy **pol) {
  const wh_tls_policy *dummy = NULL;
  return wh_tls_server_ctx(f->srv, ep(f, epn), sni, ip, pol ? pol : &dummy);
}

/* ---- certificate selection ---- */

static void test_sni_exact(void **state) {
  (void)state;
  fixture f;
  build_std(&f);
  const wh_tls_policy *pol = NULL;
  SSL_CTX *c = ctx_for(&f, "websecure", "a.example.com", NULL, &pol);
  assert_string_equal(cn_of(c), "a.example.com");
  assert_int_equal(X509_cmp(SSL_CTX_get0_certificate(c), g_a->x509), 0);
  assert_non_null(pol);
  assert_string_equal(pol->name, "default");
  assert_int_equal(wh_cert_store_count(wh_tls_server_store(f.srv)), 3);
  done(&f);
}

static void test_sni_wildcard(void **state) {
  (void)state;
  fixture f;
  build_std(&f);
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "b.example.com", NULL, NULL)), "wild");
  /* a wildcard covers one label: deeper names and the apex get the default */
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "x.y.example.com", NULL, NULL)), "my default");
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "example.com", NULL, NULL)), "my default");
  /* the exact name beats the wildcard */
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "a.example.com", NULL, NULL)),
                      "a.example.com");
  done(&f);
}

static void test_sni_mixed_case_and_trailing_dot(void **state) {
  (void)state;
  fixture f;
  build_std(&f);
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "A.Example.COM", NULL, NULL)),
                      "a.example.com");
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "a.example.com.", NULL, NULL)),
                      "a.example.com");
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "ZZ.EXAMPLE.COM", NULL, NULL)), "wild");
  /* the mixed-case SNI of a host with options gets those options too */
  const wh_tls_policy *pol = NULL;
  ctx_for(&f, "websecure", "SECURE.example.com", NULL, &pol);
  assert_string_equal(pol->name, "modern@file");
  done(&f);
}

static void test_no_sni(void **state) {
  (void)state;
  fixture f;
  build_std(&f);
  assert_string_equal(cn_of(ctx_for(&f, "websecure", NULL, NULL, NULL)), "my default");
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "", NULL, NULL)), "my default");
  /* without SNI the local address selects */
  assert_string_equal(cn_of(ctx_for(&f, "websecure", NULL, "127.0.0.1", NULL)), "ipcert");
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "", "127.0.0.1", NULL)), "ipcert");
  assert_string_equal(cn_of(ctx_for(&f, "websecure", NULL, "10.1.2.3", NULL)), "my default");
  /* with SNI the local address plays no part */
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "nothing.test", "127.0.0.1", NULL)),
                      "my default");
  done(&f);
}

static void test_generated_default_is_stable(void **state) {
  (void)state;
  fixture f1, f2;
  build(&f1, "http:\n" SVC);
  build(&f2, "http:\n" SVC);
  SSL_CTX *c1 = ctx_for(&f1, "websecure", "unknown.test", NULL, NULL);
  SSL_CTX *c2 = ctx_for(&f2, "websecure", NULL, NULL, NULL);
  assert_string_equal(cn_of(c1), "TRAEFIK DEFAULT CERT");
  /* a rebuild (reload) serves the very same certificate */
  assert_int_equal(X509_cmp(SSL_CTX_get0_certificate(c1), SSL_CTX_get0_certificate(c2)), 0);
  assert_int_equal(wh_cert_store_count(wh_tls_server_store(f1.srv)), 0);
  done(&f1);
  done(&f2);
}

static void test_sni_strict_default_options(void **state) {
  (void)state;
  fixture f;
  buildf(&f,
         ROUTERS CERTS_FMT "  options:\n    default: {sniStrict: true}\n"
                           "    modern: {minVersion: VersionTLS13}\n",
         g_dir);
  assert_int_equal(wh_tls_server_errors(f.srv)->n, 0);
  const wh_tls_policy *pol = NULL;
  assert_null(ctx_for(&f, "websecure", "unknown.test", NULL, &pol));
  assert_non_null(pol);
  assert_true(pol->sni_strict);
  assert_null(ctx_for(&f, "websecure", NULL, NULL, NULL));
  assert_null(ctx_for(&f, "websecure", "x.y.example.com", NULL, NULL));
  /* names with a certificate still work, and so does the local address */
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "a.example.com", NULL, NULL)),
                      "a.example.com");
  assert_string_equal(cn_of(ctx_for(&f, "websecure", NULL, "127.0.0.1", NULL)), "ipcert");
  done(&f);
}

static void test_sni_strict_router_options(void **state) {
  (void)state;
  fixture f;
  buildf(&f,
         "http:\n  routers:\n"
         "    st: {rule: 'Host(`strict.test`)', service: s, entryPoints: [websecure],\n"
         "         tls: {options: strict}}\n" SVC CERTS_FMT
         "  options:\n    strict: {sniStrict: true}\n",
         g_dir);
  const wh_tls_policy *pol = NULL;
  /* the strict host has no certificate: refused */
  assert_null(ctx_for(&f, "websecure", "strict.test", NULL, &pol));
  assert_string_equal(pol->name, "strict@file");
  /* any other unknown name is under the lax default options */
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "lax.test", NULL, &pol)), "my default");
  assert_string_equal(pol->name, "default");
  done(&f);
}

/* ---- which options a host uses ---- */

static void test_policy_for_host(void **state) {
  (void)state;
  fixture f;
  build_std(&f);
  assert_string_equal(policy_name(&f, "websecure", "secure.example.com"), "modern@file");
  assert_string_equal(policy_name(&f, "websecure", "SECURE.Example.com"), "modern@file");
  assert_string_equal(policy_name(&f, "websecure", "secure.example.com:8443"), "modern@file");
  assert_string_equal(policy_name(&f, "websecure", "secure.example.com."), "modern@file");
  /* Host(`*.wild.test`): one label */
  assert_string_equal(policy_name(&f, "websecure", "x.wild.test"), "modern@file");
  assert_string_equal(policy_name(&f, "websecure", "a.b.wild.test"), "default");
  assert_string_equal(policy_name(&f, "websecure", "wild.test"), "default");
  /* the router without options, an unknown host, no host */
  assert_string_equal(policy_name(&f, "websecure", "plain.example.com"), "default");
  assert_string_equal(policy_name(&f, "websecure", "nobody.test"), "default");
  assert_string_equal(policy_name(&f, "websecure", ""), "default");
  assert_string_equal(wh_tls_server_policy_for_host(f.srv, ep(&f, "websecure"), NULL)->name,
                      "default");
  assert_string_equal(policy_name(&f, "websecure", "[::1]:8443"), "default");
  /* other entry points and an index past the end */
  assert_string_equal(policy_name(&f, "web", "secure.example.com"), "default");
  assert_string_equal(wh_tls_server_policy_for_host(f.srv, 999, "secure.example.com")->name,
                      "default");
  /* the handshake for that SNI runs under the same options */
  const wh_tls_policy *pol = NULL;
  SSL_CTX *c = ctx_for(&f, "websecure", "secure.example.com", NULL, &pol);
  assert_ptr_equal(pol,
                   wh_tls_server_policy_for_host(f.srv, ep(&f, "websecure"), "secure.example.com"));
  assert_int_equal(SSL_CTX_get_min_proto_version(c), TLS1_3_VERSION);
  assert_int_equal(
      SSL_CTX_get_min_proto_version(ctx_for(&f, "websecure", "b.example.com", NULL, NULL)),
      TLS1_2_VERSION);
  done(&f);
}

static void test_conflicting_options_on_one_host(void **state) {
  (void)state;
  fixture f;
  build(&f, "http:\n  routers:\n"
            "    r1: {rule: 'Host(`both.test`)', service: s, entryPoints: [websecure],\n"
            "         tls: {options: modern}}\n"
            "    r2: {rule: 'Host(`both.test`) && Path(`/x`)', service: s,\n"
            "         entryPoints: [websecure], tls: {options: other}}\n"
            "    r3: {rule: 'Host(`same.test`)', service: s, entryPoints: [websecure],\n"
            "         tls: {options: modern}}\n"
            "    r4: {rule: 'Host(`same.test`) && Path(`/y`)', service: s,\n"
            "         entryPoints: [websecure], tls: {options: modern}}\n"
            "    r5: {rule: 'Host(`mixed.test`)', service: s, entryPoints: [websecure],\n"
            "         tls: {}}\n"
            "    r6: {rule: 'Host(`mixed.test`) && Path(`/z`)', service: s,\n"
            "         entryPoints: [websecure], tls: {options: modern}}\n" SVC
            "tls:\n  options:\n    modern: {minVersion: VersionTLS13}\n"
            "    other: {maxVersion: VersionTLS12}\n");
  assert_string_equal(policy_name(&f, "websecure", "both.test"), "default");
  assert_string_equal(policy_name(&f, "websecure", "same.test"), "modern@file");
  assert_string_equal(policy_name(&f, "websecure", "mixed.test"), "default");
  /* the routers themselves stay up */
  for (int i = 1; i <= 6; i++) {
    char name[16];
    snprintf(name, sizeof(name), "r%d@file", i);
    assert_int_not_equal(router(&f, WH_KIND_HTTP_ROUTER, name)->status, WH_STATUS_DISABLED);
  }
  done(&f);
}

static void test_unknown_or_invalid_options_disable_router(void **state) {
  (void)state;
  fixture f;
  build(&f, "http:\n  routers:\n"
            "    unknown: {rule: 'Host(`u.test`)', service: s, entryPoints: [websecure],\n"
            "              tls: {options: ghost}}\n"
            "    invalid: {rule: 'Host(`i.test`)', service: s, entryPoints: [websecure],\n"
            "              tls: {options: broken}}\n"
            "    good: {rule: 'Host(`g.test`)', service: s, entryPoints: [websecure],\n"
            "           tls: {options: modern}}\n"
            "    plain: {rule: 'Host(`p.test`)', service: s, entryPoints: [websecure]}\n" SVC
            "tls:\n  options:\n    modern: {minVersion: VersionTLS13}\n"
            "    broken: {minVersion: VersionTLS99}\n");
  wh_rt_elem *u = router(&f, WH_KIND_HTTP_ROUTER, "unknown@file");
  assert_int_equal(u->status, WH_STATUS_DISABLED);
  assert_true(has_error(&u->errors, "unknown TLS options: ghost@file"));
  wh_rt_elem *i = router(&f, WH_KIND_HTTP_ROUTER, "invalid@file");
  assert_int_equal(i->status, WH_STATUS_DISABLED);
  assert_true(has_error(&i->errors, "TLS options \"broken@file\" are invalid"));
  assert_true(has_error(&i->errors, "VersionTLS99"));
  wh_rt_elem *g = router(&f, WH_KIND_HTTP_ROUTER, "good@file");
  assert_int_equal(g->status, WH_STATUS_ENABLED);
  assert_int_equal(g->errors.n, 0);
  assert_int_equal(router(&f, WH_KIND_HTTP_ROUTER, "plain@file")->status, WH_STATUS_ENABLED);
  /* the disabled routers' hosts claim no options (fail closed is the router
   * being off, not its host falling to weaker options under its name) */
  assert_string_equal(policy_name(&f, "websecure", "g.test"), "modern@file");
  assert_string_equal(policy_name(&f, "websecure", "i.test"), "default");
  /* handshakes still work for everything else */
  assert_non_null(ctx_for(&f, "websecure", "g.test", NULL, NULL));
  done(&f);
}

static void test_broken_default_options(void **state) {
  (void)state;
  fixture f;
  build(&f, "http:\n  routers:\n"
            "    dflt: {rule: 'Host(`d.test`)', service: s, entryPoints: [websecure], tls: {}}\n"
            "    named: {rule: 'Host(`n.test`)', service: s, entryPoints: [websecure],\n"
            "            tls: {options: modern}}\n" SVC
            "tls:\n  options:\n    default: {minVersion: Nope}\n"
            "    modern: {minVersion: VersionTLS13}\n");
  const wh_errlist *errs = wh_tls_server_errors(f.srv);
  assert_true(errs->n >= 1);
  assert_true(has_error(errs, "TLS options \"default\""));
  wh_rt_elem *d = router(&f, WH_KIND_HTTP_ROUTER, "dflt@file");
  assert_int_equal(d->status, WH_STATUS_DISABLED);
  assert_true(has_error(&d->errors, "TLS options \"default\" are invalid"));
  assert_int_equal(router(&f, WH_KIND_HTTP_ROUTER, "named@file")->status, WH_STATUS_ENABLED);
  /* the built-in defaults keep handshakes possible */
  const wh_tls_policy *pol = NULL;
  SSL_CTX *c = ctx_for(&f, "websecure", "x.test", NULL, &pol);
  assert_non_null(c);
  assert_string_equal(pol->name, "default");
  assert_int_equal(SSL_CTX_get_min_proto_version(c), TLS1_2_VERSION);
  done(&f);
}

static void test_entrypoint_options_apply(void **state) {
  (void)state;
  fixture f;
  build(&f, "http:\n  routers:\n"
            "    inherit: {rule: 'Host(`e.test`)', service: s, entryPoints: [strictep]}\n"
            "    own: {rule: 'Host(`o.test`)', service: s, entryPoints: [strictep],\n"
            "          tls: {options: other}}\n"
            "    dflt: {rule: 'Host(`d.test`)', service: s, entryPoints: [strictep],\n"
            "           tls: {options: default}}\n"
            "    both: {rule: 'Host(`b.test`)', service: s, entryPoints: [strictep, websecure]}\n"
            "    ghosted: {rule: 'Host(`g.test`)', service: s, entryPoints: [ghostep]}\n" SVC
            "tls:\n  options:\n    modern: {minVersion: VersionTLS13}\n"
            "    other: {maxVersion: VersionTLS12}\n");
  assert_string_equal(policy_name(&f, "strictep", "e.test"), "modern@file");
  /* the router's own options win over the entry point's */
  assert_string_equal(policy_name(&f, "strictep", "o.test"), "other@file");
  assert_string_equal(policy_name(&f, "strictep", "d.test"), "default");
  /* per entry point: the same router has the default options elsewhere */
  assert_string_equal(policy_name(&f, "strictep", "b.test"), "modern@file");
  assert_string_equal(policy_name(&f, "websecure", "b.test"), "default");
  /* an entry point naming options that do not exist disables its routers */
  wh_rt_elem *g = router(&f, WH_KIND_HTTP_ROUTER, "ghosted@file");
  assert_int_equal(g->status, WH_STATUS_DISABLED);
  assert_true(has_error(&g->errors, "unknown TLS options: ghost@file"));
  assert_int_equal(router(&f, WH_KIND_HTTP_ROUTER, "inherit@file")->status, WH_STATUS_ENABLED);
  done(&f);
}

static void test_tcp_routers_hostsni(void **state) {
  (void)state;
  fixture f;
  build(&f, "tcp:\n  routers:\n"
            "    term: {rule: 'HostSNI(`tcp.test`) || HostSNI(`*.tcpw.test`)', service: ts,\n"
            "           entryPoints: [tcpep], tls: {options: modern}}\n"
            "    pass: {rule: 'HostSNI(`pass.test`)', service: ts, entryPoints: [tcpep],\n"
            "           tls: {passthrough: true, options: modern}}\n"
            "    any: {rule: 'HostSNI(`*`)', service: ts, entryPoints: [tcpep],\n"
            "          tls: {options: modern}}\n"
            "    clear: {rule: 'HostSNI(`*`)', service: ts, entryPoints: [web]}\n" TCP_SVC
            "tls:\n  options:\n    modern: {minVersion: VersionTLS13}\n");
  assert_string_equal(policy_name(&f, "tcpep", "tcp.test"), "modern@file");
  assert_string_equal(policy_name(&f, "tcpep", "TCP.test"), "modern@file");
  assert_string_equal(policy_name(&f, "tcpep", "x.tcpw.test"), "modern@file");
  /* passthrough never terminates, so its options never apply */
  assert_string_equal(policy_name(&f, "tcpep", "pass.test"), "default");
  /* HostSNI(`*`) names no host */
  assert_string_equal(policy_name(&f, "tcpep", "else.test"), "default");
  assert_string_equal(policy_name(&f, "websecure", "tcp.test"), "default");
  const wh_tls_policy *pol = NULL;
  assert_non_null(ctx_for(&f, "tcpep", "tcp.test", NULL, &pol));
  assert_string_equal(pol->name, "modern@file");
  done(&f);
}

static void test_tcp_router_unknown_options_disabled(void **state) {
  (void)state;
  fixture f;
  build(&f, "tcp:\n  routers:\n"
            "    bad: {rule: 'HostSNI(`bad.test`)', service: ts, entryPoints: [tcpep],\n"
            "          tls: {options: broken}}\n"
            "    ok: {rule: 'HostSNI(`ok.test`)', service: ts, entryPoints: [tcpep],\n"
            "         tls: {options: modern}}\n" TCP_SVC
            "tls:\n  options:\n    modern: {minVersion: VersionTLS13}\n"
            "    broken: {cipherSuites: [TLS_NOT_A_SUITE]}\n");
  wh_rt_elem *bad = router(&f, WH_KIND_TCP_ROUTER, "bad@file");
  assert_int_equal(bad->status, WH_STATUS_DISABLED);
  assert_true(has_error(&bad->errors, "TLS options \"broken@file\" are invalid"));
  assert_int_equal(router(&f, WH_KIND_TCP_ROUTER, "ok@file")->status, WH_STATUS_ENABLED);
  assert_string_equal(policy_name(&f, "tcpep", "ok.test"), "modern@file");
  assert_string_equal(policy_name(&f, "tcpep", "bad.test"), "default");
  done(&f);
}

/* ---- contexts ---- */

static void test_ctx_cached(void **state) {
  (void)state;
  fixture f;
  build_std(&f);
  SSL_CTX *a1 = ctx_for(&f, "websecure", "a.example.com", NULL, NULL);
  SSL_CTX *a2 = ctx_for(&f, "websecure", "a.example.com", NULL, NULL);
  assert_non_null(a1);
  assert_ptr_equal(a1, a2);
  /* same group, same options: the same context whatever the name */
  SSL_CTX *w1 = ctx_for(&f, "websecure", "b.example.com", NULL, NULL);
  SSL_CTX *w2 = ctx_for(&f, "websecure", "c.example.com", NULL, NULL);
  assert_ptr_equal(w1, w2);
  assert_ptr_not_equal(w1, a1);
  /* same group, other options: another context */
  SSL_CTX *w3 = ctx_for(&f, "websecure", "secure.example.com", NULL, NULL);
  assert_ptr_not_equal(w3, w1);
  assert_string_equal(cn_of(w3), "wild");
  assert_ptr_equal(w3, ctx_for(&f, "websecure", "secure.example.com", NULL, NULL));
  /* the default certificate's context too */
  SSL_CTX *d1 = ctx_for(&f, "websecure", NULL, NULL, NULL);
  assert_ptr_equal(d1, ctx_for(&f, "websecure", "nothing.test", NULL, NULL));
  assert_ptr_equal(d1, ctx_for(&f, "web", "x.y.z", NULL, NULL));
  done(&f);
}

/* Moves bytes between two streams until both go quiet. */
static void pump(wh_tls_stream *a, wh_tls_stream *b) {
  char buf[4096];
  for (int round = 0; round < 100; round++) {
    bool moved = false;
    wh_tls_stream *ends[2] = {a, b};
    for (int k = 0; k < 2; k++) {
      wh_tls_stream *from = ends[k], *to = ends[1 - k];
      while (wh_tls_stream_read(from, buf, sizeof(buf)) > 0) {
      }
      const char *d = NULL;
      size_t n = wh_tls_stream_output(from, &d);
      if (n) {
        assert_int_equal(wh_tls_stream_feed(to, d, n), 0);
        wh_tls_stream_consumed(from);
        moved = true;
      }
    }
    if (!moved)
      return;
  }
  fail_msg("the sessions never went quiet");
}

static void test_handshake_against_ctx(void **state) {
  (void)state;
  fixture f;
  build_std(&f);
  SSL_CTX *sctx = ctx_for(&f, "websecure", "a.example.com", NULL, NULL);
  SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
  assert_non_null(cctx);
  SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
  X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), g_a->x509);
  wh_tls_stream srv, cli;
  assert_int_equal(wh_tls_stream_init_server(&srv, sctx), 0);
  /* the session holds its own reference: the snapshot may go first */
  done(&f);
  assert_int_equal(wh_tls_stream_init_client(&cli, cctx, "a.example.com"), 0);
  static const unsigned char offer[] = "\x02h2\x08http/1.1";
  assert_int_equal(SSL_set_alpn_protos(cli.ssl, offer, sizeof(offer) - 1), 0);
  pump(&cli, &srv);
  assert_true(cli.established);
  assert_true(srv.established);
  assert_int_equal(SSL_get_verify_result(cli.ssl), X509_V_OK);
  X509 *peer = SSL_get1_peer_certificate(cli.ssl);
  assert_int_equal(X509_cmp(peer, g_a->x509), 0);
  X509_free(peer);
  /* the default options: no h2 (the data plane does not speak it) */
  const unsigned char *a = NULL;
  unsigned alen = 0;
  wh_tls_stream_alpn(&srv, &a, &alen);
  assert_int_equal(alen, 8);
  assert_memory_equal(a, "http/1.1", 8);
  wh_tls_stream_free(&cli);
  wh_tls_stream_free(&srv);
  SSL_CTX_free(cctx);
}

static void test_tls13_only_options_refuse_tls12_client(void **state) {
  (void)state;
  fixture f;
  build_std(&f);
  SSL_CTX *sctx = ctx_for(&f, "websecure", "secure.example.com", NULL, NULL);
  SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
  wh_tls_stream srv, cli;
  assert_int_equal(wh_tls_stream_init_server(&srv, sctx), 0);
  assert_int_equal(wh_tls_stream_init_client(&cli, cctx, "secure.example.com"), 0);
  pump(&cli, &srv);
  assert_false(srv.established);
  assert_true(srv.failed);
  char why[128];
  assert_string_equal(wh_tls_stream_reason(&srv, why, sizeof(why)), "unsupported protocol");
  wh_tls_stream_free(&cli);
  wh_tls_stream_free(&srv);
  SSL_CTX_free(cctx);
  done(&f);
}

/* ---- certificate files ---- */

static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "r"), *out = fopen(to, "w");
  assert_non_null(in);
  assert_non_null(out);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
    assert_int_equal(fwrite(buf, 1, n, out), n);
  fclose(in);
  fclose(out);
}

/* A directory of its own with a.crt/a.key, for the tests that change files. */
static void private_dir(char *dir, size_t cap) {
  snprintf(dir, cap, "/tmp/wh_tls_watch_XXXXXX");
  assert_non_null(mkdtemp(dir));
  const char *names[] = {"a.crt", "a.key"};
  for (int i = 0; i < 2; i++) {
    char *src = path_of(g_dir, names[i]), *dst = path_of(dir, names[i]);
    copy_file(src, dst);
    free(src);
    free(dst);
  }
}

static void private_dir_free(const char *dir) {
  const char *names[] = {"a.crt", "a.key"};
  for (int i = 0; i < 2; i++) {
    char *p = path_of(dir, names[i]);
    unlink(p);
    free(p);
  }
  rmdir(dir);
}

static void test_files_changed_after_rewrite(void **state) {
  (void)state;
  char dir[64];
  private_dir(dir, sizeof(dir));
  fixture f;
  buildf(&f,
         "http:\n" SVC "tls:\n  certificates:\n"
         "    - {certFile: '%1$s/a.crt', keyFile: '%1$s/a.key'}\n"
         "    - {certFile: '%1$s/a.crt', keyFile: '%1$s/a.key'}\n",
         dir);
  /* each path once, even when listed twice */
  assert_int_equal(wh_tls_server_watched(f.srv), 2);
  assert_false(wh_tls_server_files_changed(f.srv));
  assert_false(wh_tls_server_files_changed(f.srv));
  /* rewritten in place (same inode) with another certificate */
  char *crt = path_of(dir, "a.crt");
  FILE *fp = fopen(crt, "w");
  assert_non_null(fp);
  assert_int_equal(PEM_write_X509(fp, g_other->x509), 1);
  fclose(fp);
  /* a clock too coarse to see the write must not hide it */
  struct timespec ts[2] = {{.tv_sec = time(NULL) + 5}, {.tv_sec = time(NULL) + 5}};
  assert_int_equal(utimensat(AT_FDCWD, crt, ts, 0), 0);
  assert_true(wh_tls_server_files_changed(f.srv));
  free(crt);
  done(&f);
  private_dir_free(dir);
}

static void test_files_changed_touch_and_remove(void **state) {
  (void)state;
  char dir[64];
  private_dir(dir, sizeof(dir));
  fixture f;
  buildf(&f,
         "http:\n" SVC "tls:\n  certificates:\n"
         "    - {certFile: '%1$s/a.crt', keyFile: '%1$s/a.key'}\n"
         "  stores:\n    default: {defaultCertificate: {certFile: '%1$s/missing.crt',\n"
         "                                     keyFile: '%1$s/missing.key'}}\n",
         dir);
  /* a file that does not exist yet is watched too (it may appear) */
  assert_int_equal(wh_tls_server_watched(f.srv), 4);
  assert_false(wh_tls_server_files_changed(f.srv));
  /* the same content with a new mtime counts */
  char *key = path_of(dir, "a.key");
  struct timespec ts[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
  assert_int_equal(utimensat(AT_FDCWD, key, ts, 0), 0);
  assert_true(wh_tls_server_files_changed(f.srv));
  done(&f);

  /* removal */
  buildf(&f,
         "http:\n" SVC "tls:\n  certificates:\n"
         "    - {certFile: '%1$s/a.crt', keyFile: '%1$s/a.key'}\n",
         dir);
  assert_false(wh_tls_server_files_changed(f.srv));
  assert_int_equal(unlink(key), 0);
  assert_true(wh_tls_server_files_changed(f.srv));
  /* put back identical apart from the inode and mtime: still a change */
  char *src = path_of(g_dir, "a.key");
  copy_file(src, key);
  free(src);
  assert_true(wh_tls_server_files_changed(f.srv));
  done(&f);

  /* appearance of a file that was missing at build time */
  char *missing = path_of(dir, "new.crt");
  buildf(&f,
         "http:\n" SVC "tls:\n  certificates:\n"
         "    - {certFile: '%1$s/new.crt', keyFile: '%1$s/a.key'}\n",
         dir);
  assert_false(wh_tls_server_files_changed(f.srv));
  char *a_crt = path_of(dir, "a.crt");
  copy_file(a_crt, missing);
  assert_true(wh_tls_server_files_changed(f.srv));
  done(&f);
  unlink(missing);
  free(missing);
  free(a_crt);
  free(key);
  private_dir_free(dir);
}

static void test_inline_pem_not_watched(void **state) {
  (void)state;
  fixture f;
  buildf(&f, "http:\n" SVC "tls:\n  certificates:\n    - certFile: \"%s\"\n      keyFile: \"%s\"\n",
         g_inline_cert, g_inline_key);
  assert_int_equal(wh_tls_server_errors(f.srv)->n, 0);
  assert_int_equal(wh_tls_server_watched(f.srv), 0);
  assert_false(wh_tls_server_files_changed(f.srv));
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "inline.test", NULL, NULL)), "inline.test");
  done(&f);

  /* inline certificate, key from a file: only the file is watched */
  char *key = path_of(g_dir, "a.key");
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, g_a->x509);
  char *a_pem = yaml_quoted_pem(b);
  BIO_free(b);
  buildf(&f, "http:\n" SVC "tls:\n  certificates:\n    - certFile: \"%s\"\n      keyFile: '%s'\n",
         a_pem, key);
  assert_int_equal(wh_tls_server_errors(f.srv)->n, 0);
  assert_int_equal(wh_tls_server_watched(f.srv), 1);
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "a.example.com", NULL, NULL)),
                      "a.example.com");
  done(&f);
  free(a_pem);
  free(key);
}

static void test_bad_certificates_listed(void **state) {
  (void)state;
  fixture f;
  buildf(&f,
         "http:\n" SVC "tls:\n  certificates:\n"
         "    - {certFile: '%1$s/nope.crt', keyFile: '%1$s/nope.key'}\n"
         "    - {certFile: '%1$s/a.crt', keyFile: '%1$s/other.key'}\n"
         "    - {certFile: '%1$s/wild.crt', keyFile: '%1$s/wild.key'}\n",
         g_dir);
  const wh_errlist *errs = wh_tls_server_errors(f.srv);
  assert_int_equal(errs->n, 2);
  assert_true(has_error(errs, "nope.crt"));
  assert_true(has_error(errs, "no such file"));
  assert_true(has_error(errs, "key does not match"));
  /* the good one still loads, the broken ones are simply absent */
  assert_int_equal(wh_cert_store_count(wh_tls_server_store(f.srv)), 1);
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "b.example.com", NULL, NULL)), "wild");
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "a.example.com", NULL, NULL)), "wild");
  /* no key material in the messages */
  for (size_t i = 0; i < errs->n; i++)
    assert_null(strstr(errs->items[i], "PRIVATE KEY"));
  done(&f);
}

static void test_bad_default_certificate(void **state) {
  (void)state;
  fixture f;
  buildf(&f,
         "http:\n" SVC "tls:\n  stores:\n"
         "    default: {defaultCertificate: {certFile: '%1$s/def.crt', keyFile: '%1$s/a.key'}}\n",
         g_dir);
  const wh_errlist *errs = wh_tls_server_errors(f.srv);
  assert_int_equal(errs->n, 1);
  assert_true(has_error(errs, "default certificate: "));
  /* the generated default takes over */
  assert_string_equal(cn_of(ctx_for(&f, "websecure", NULL, NULL, NULL)), "TRAEFIK DEFAULT CERT");
  done(&f);
}

static void test_certificate_of_other_store_skipped(void **state) {
  (void)state;
  fixture f;
  buildf(&f,
         "http:\n" SVC "tls:\n  certificates:\n"
         "    - {certFile: '%1$s/a.crt', keyFile: '%1$s/a.key', stores: [elsewhere]}\n"
         "    - {certFile: '%1$s/other.crt', keyFile: '%1$s/other.key', stores: [default]}\n",
         g_dir);
  assert_int_equal(wh_cert_store_count(wh_tls_server_store(f.srv)), 1);
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "other.test", NULL, NULL)), "other.test");
  assert_string_equal(cn_of(ctx_for(&f, "websecure", "a.example.com", NULL, NULL)),
                      "TRAEFIK DEFAULT CERT");
  done(&f);
}

static void test_ticket_keys_stable(void **state) {
  (void)state;
  unsigned char k1[80], k2[80], zero[80] = {0};
  wh_tls_ticket_keys(k1);
  wh_tls_ticket_keys(k2);
  assert_memory_equal(k1, k2, sizeof(k1));
  assert_memory_not_equal(k1, zero, sizeof(k1));
}

/* A router disabled on its second entry point (unknown options there) had
 * already put its host in the first entry point's table. */
static void test_router_disabled_on_a_later_entry_point(void **state) {
  (void)state;
  fixture f;
  buildf(&f,
         "http:\n  routers:\n"
         "    a: {rule: 'Host(`h.test`)', service: s, entryPoints: [strictep],\n"
         "        tls: {options: mtls}}\n"
         "    b: {rule: 'Host(`h.test`) && Path(`/b`)', service: s,\n"
         "        entryPoints: [strictep, ghostep]}\n"
         "    c: {rule: 'Host(`c.test`)', service: s, entryPoints: [strictep, ghostep]}\n" SVC
         "tls:\n  options:\n    modern: {minVersion: VersionTLS13}\n"
         "    mtls: {clientAuth: {caFiles: ['%s/a.crt'],\n"
         "                        clientAuthType: RequireAndVerifyClientCert}}\n",
         g_dir);
  wh_rt_elem *b = router(&f, WH_KIND_HTTP_ROUTER, "b@file");
  assert_int_equal(b->status, WH_STATUS_DISABLED);
  assert_true(has_error(&b->errors, "unknown TLS options: ghost@file"));
  assert_int_equal(router(&f, WH_KIND_HTTP_ROUTER, "c@file")->status, WH_STATUS_DISABLED);
  assert_int_equal(router(&f, WH_KIND_HTTP_ROUTER, "a@file")->status, WH_STATUS_ENABLED);
  /* b is disabled, so its host claim on strictep does not count: h.test
   * keeps the mTLS options of a (HARDENING 24), and c.test, claimed by the
   * disabled c only, gets the default options. */
  const wh_tls_policy *pol = NULL;
  assert_non_null(ctx_for(&f, "strictep", "h.test", NULL, &pol));
  assert_string_equal(pol->name, "mtls@file");
  assert_int_equal(pol->client_auth, WH_CLIENT_AUTH_REQUIRE_AND_VERIFY);
  assert_string_equal(policy_name(&f, "strictep", "c.test"), "default");
  done(&f);
}

static void test_ca_files_watched(void **state) {
  (void)state;
  char dir[64];
  private_dir(dir, sizeof(dir));
  fixture f;
  buildf(&f,
         "http:\n" SVC "tls:\n  options:\n"
         "    mtls: {clientAuth: {caFiles: ['%1$s/a.crt', \"%2$s\"]}}\n",
         dir, g_inline_cert);
  assert_int_equal(wh_tls_server_errors(f.srv)->n, 0);
  /* the path, not the inline PEM */
  assert_int_equal(wh_tls_server_watched(f.srv), 1);
  assert_false(wh_tls_server_files_changed(f.srv));
  char *crt = path_of(dir, "a.crt");
  struct timespec ts[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
  assert_int_equal(utimensat(AT_FDCWD, crt, ts, 0), 0);
  assert_true(wh_tls_server_files_changed(f.srv));
  free(crt);
  done(&f);
  private_dir_free(dir);
}

/* Workers race for the same lazily made context: one wins, every caller
 * gets the winner, and the losers' contexts are freed (LeakSanitizer). */
typedef struct race_arg {
  fixture *f;
  size_t ep;
  SSL_CTX *got[64];
} race_arg;

static void *race(void *p) {
  race_arg *a = p;
  for (int i = 0; i < 64; i++) {
    const wh_tls_policy *pol = NULL;
    a->got[i] = wh_tls_server_ctx(a->f->srv, a->ep, i % 2 ? "b.example.com" : "secure.example.com",
                                  NULL, &pol);
  }
  return NULL;
}

static void test_ctx_race(void **state) {
  (void)state;
  fixture f;
  build_std(&f);
  enum { T = 8 };
  pthread_t th[T];
  static race_arg args[T];
  for (int t = 0; t < T; t++) {
    args[t].f = &f;
    args[t].ep = ep(&f, "websecure");
    assert_int_equal(pthread_create(&th[t], NULL, race, &args[t]), 0);
  }
  for (int t = 0; t < T; t++)
    assert_int_equal(pthread_join(th[t], NULL), 0);
  SSL_CTX *mod = ctx_for(&f, "websecure", "secure.example.com", NULL, NULL);
  SSL_CTX *dfl = ctx_for(&f, "websecure", "b.example.com", NULL, NULL);
  assert_ptr_not_equal(mod, dfl);
  for (int t = 0; t < T; t++)
    for (int i = 0; i < 64; i++)
      assert_ptr_equal(args[t].got[i], i % 2 ? dfl : mod);
  done(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sni_exact),
      cmocka_unit_test(test_sni_wildcard),
      cmocka_unit_test(test_sni_mixed_case_and_trailing_dot),
      cmocka_unit_test(test_no_sni),
      cmocka_unit_test(test_generated_default_is_stable),
      cmocka_unit_test(test_sni_strict_default_options),
      cmocka_unit_test(test_sni_strict_router_options),
      cmocka_unit_test(test_policy_for_host),
      cmocka_unit_test(test_conflicting_options_on_one_host),
      cmocka_unit_test(test_unknown_or_invalid_options_disable_router),
      cmocka_unit_test(test_broken_default_options),
      cmocka_unit_test(test_entrypoint_options_apply),
      cmocka_unit_test(test_tcp_routers_hostsni),
      cmocka_unit_test(test_tcp_router_unknown_options_disabled),
      cmocka_unit_test(test_ctx_cached),
      cmocka_unit_test(test_handshake_against_ctx),
      cmocka_unit_test(test_tls13_only_options_refuse_tls12_client),
      cmocka_unit_test(test_files_changed_after_rewrite),
      cmocka_unit_test(test_files_changed_touch_and_remove),
      cmocka_unit_test(test_inline_pem_not_watched),
      cmocka_unit_test(test_bad_certificates_listed),
      cmocka_unit_test(test_bad_default_certificate),
      cmocka_unit_test(test_certificate_of_other_store_skipped),
      cmocka_unit_test(test_ticket_keys_stable),
      cmocka_unit_test(test_router_disabled_on_a_later_entry_point),
      cmocka_unit_test(test_ca_files_watched),
      cmocka_unit_test(test_ctx_race),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
