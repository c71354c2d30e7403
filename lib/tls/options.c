#include "lib/tls/options.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "lib/core/str.h"

/* ---- name tables ---- */

static const char *const version_names[] = {"VersionTLS10", "VersionTLS11", "VersionTLS12",
                                            "VersionTLS13"};
static const int version_values[] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION};

/* Every name of Traefik's CipherSuites map (pkg/tls/cipher.go), which is Go's
 * crypto/tls CipherSuites() plus InsecureCipherSuites(). ossl NULL: nothing to
 * configure (the fallback SCSV is always honoured by OpenSSL). */
typedef struct cipher_name {
  const char *go, *ossl;
  bool tls13;
} cipher_name;

static const cipher_name cipher_names[] = {
    {"TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA", false},
    {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA", false},
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA", false},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA", false},
    {"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256", false},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256", false},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384", false},
    {"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA", false},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA", false},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA", false},
    {"TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA", false},
    {"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA", false},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA", false},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA", false},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256", false},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256", false},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", false},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256", false},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384", false},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384", false},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305", false},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305", false},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305", false},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305", false},
    {"TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", true},
    {"TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", true},
    {"TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256", true},
    {"TLS_FALLBACK_SCSV", NULL, false},
};

/* Traefik's CurveIDs map (pkg/tls/certificate.go): Go constant names and RFC 8446 names. */
typedef struct curve_name {
  const char *go, *ossl;
} curve_name;

static const curve_name curve_names[] = {
    {"CurveP256", "P-256"},
    {"secp256r1", "P-256"},
    {"CurveP384", "P-384"},
    {"secp384r1", "P-384"},
    {"CurveP521", "P-521"},
    {"secp521r1", "P-521"},
    {"X25519", "X25519"},
    {"x25519", "X25519"},
    {"X25519MLKEM768", "X25519MLKEM768"},
    {"x25519mlkem768", "X25519MLKEM768"},
    {"SecP256r1MLKEM768", "SecP256r1MLKEM768"},
    {"secp256r1mlkem768", "SecP256r1MLKEM768"},
    {"SecP384r1MLKEM1024", "SecP384r1MLKEM1024"},
    {"secp384r1mlkem1024", "SecP384r1MLKEM1024"},
};

static const char *const auth_names[] = {"NoClientCert", "RequestClientCert",
                                         "RequireAnyClientCert", "VerifyClientCertIfGiven",
                                         "RequireAndVerifyClientCert"};
static const wh_client_auth_mode auth_values[] = {
    WH_CLIENT_AUTH_NONE, WH_CLIENT_AUTH_REQUEST, WH_CLIENT_AUTH_REQUIRE_ANY,
    WH_CLIENT_AUTH_VERIFY_IF_GIVEN, WH_CLIENT_AUTH_REQUIRE_AND_VERIFY};

/* Go's default for TLS <= 1.2 servers (crypto/tls defaultCipherSuites, in
 * its preference order): ECDHE only, AEAD first, CBC-SHA1 kept for old
 * clients; no RSA key exchange, no 3DES. */
static const char go_default_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA";

#define CA_FILE_MAX (1u << 20)

/* ---- compile ---- */

typedef struct compiler {
  const char *name; /* for messages */
  wh_errlist errs;
  bool oom;
  SSL_CTX *probe; /* asks this OpenSSL build what it supports; made on first use */
} compiler;

static void cerr(compiler *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cerr(compiler *c, const char *fmt, ...) {
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  if (!msg) {
    c->oom = true;
    return;
  }
  size_t before = c->errs.n;
  wh_errlist_add(&c->errs, "tls option \"%s\": %s", c->name, msg);
  if (c->errs.n == before)
    c->oom = true;
  free(msg);
}

/* wh_str_suggest, but only when one candidate is closer than all others
 * ("VersionTLS14" is as close to VersionTLS10 as to VersionTLS13). */
static const char *suggest(const char *value, const char *const *cands, size_t n) {
  const char *best = wh_str_suggest(value, cands, n);
  if (!best)
    return NULL;
  size_t d = wh_str_distance(value, best);
  for (size_t i = 0; i < n; i++)
    if (cands[i] != best && wh_str_distance(value, cands[i]) == d)
      return NULL;
  return best;
}

/* `unknown <what> "<value>" (<a, b, c>); did you mean "<x>"?` */
static void err_unknown(compiler *c, const char *what, const char *value, const char *const *cands,
                        size_t n, bool list_all) {
  wh_strbuf b = {0};
  wh_strbuf_printf(&b, "unknown %s \"%s\"", what, value);
  if (list_all) {
    wh_strbuf_puts(&b, " (");
    for (size_t i = 0; i < n; i++)
      wh_strbuf_printf(&b, "%s%s", i ? ", " : "", cands[i]);
    wh_strbuf_puts(&b, ")");
  }
  const char *s = suggest(value, cands, n);
  if (s)
    wh_strbuf_printf(&b, "; did you mean \"%s\"?", s);
  cerr(c, "%s", wh_strbuf_cstr(&b));
  wh_strbuf_free(&b);
}

static SSL_CTX *probe_ctx(compiler *c) {
  if (!c->probe && !(c->probe = SSL_CTX_new(TLS_server_method())))
    c->oom = true;
  return c->probe;
}

static bool empty(const char *s) {
  return !s || !*s;
}

/* Returns 0 for absent, -1 after an error, else the protocol version. */
static int parse_version(compiler *c, const char *field, const char *v) {
  if (empty(v))
    return 0;
  for (size_t i = 0; i < WH_NELEM(version_names); i++)
    if (strcmp(v, version_names[i]) == 0)
      return version_values[i];
  err_unknown(c, field, v, version_names, WH_NELEM(version_names), true);
  return -1;
}

static const char *version_name(int v) {
  for (size_t i = 0; i < WH_NELEM(version_values); i++)
    if (version_values[i] == v)
      return version_names[i];
  return "?";
}

static void compile_versions(compiler *c, const wh_tls_options *o, wh_tls_policy *p) {
  int min = parse_version(c, "minVersion", o->min_version);
  int max = parse_version(c, "maxVersion", o->max_version);
  p->min_version = min > 0 ? min : TLS1_2_VERSION;
  p->max_version = max > 0 ? max : 0;
  if (min >= 0 && max > 0 && max < p->min_version)
    cerr(c, "maxVersion %s is below minVersion %s%s", o->max_version, version_name(p->min_version),
         min == 0 ? " (the default)" : "");
}

/* Appends item to a ':'-separated list unless already there. */
static void list_add(compiler *c, wh_strbuf *b, const char *item) {
  const char *s = wh_strbuf_cstr(b);
  size_t n = strlen(item);
  for (const char *q = s; *q;) {
    const char *e = strchr(q, ':');
    size_t len = e ? (size_t)(e - q) : strlen(q);
    if (len == n && memcmp(q, item, n) == 0)
      return;
    q += len + (e ? 1 : 0);
  }
  if ((b->len && wh_strbuf_putc(b, ':') < 0) || wh_strbuf_puts(b, item) < 0)
    c->oom = true;
}

static char *take_or_null(wh_strbuf *b) {
  if (!b->len) {
    wh_strbuf_free(b);
    return NULL;
  }
  return wh_strbuf_take(b);
}

static void compile_ciphers(compiler *c, const wh_tls_options *o, wh_tls_policy *p) {
  const wh_strlist *l = &o->cipher_suites;
  if (l->n == 0)
    return;
  const char *cands[WH_NELEM(cipher_names)];
  for (size_t i = 0; i < WH_NELEM(cipher_names); i++)
    cands[i] = cipher_names[i].go;
  wh_strbuf tls12 = {0}, tls13 = {0};
  size_t skipped = 0, errors0 = c->errs.n;
  for (size_t i = 0; i < l->n; i++) {
    const char *v = l->v[i] ? l->v[i] : "";
    const cipher_name *cn = NULL;
    for (size_t k = 0; k < WH_NELEM(cipher_names) && !cn; k++)
      if (strcmp(v, cipher_names[k].go) == 0)
        cn = &cipher_names[k];
    if (!cn) {
      err_unknown(c, "cipher suite in cipherSuites", v, cands, WH_NELEM(cands), false);
      continue;
    }
    if (!cn->ossl)
      continue;
    SSL_CTX *probe = probe_ctx(c);
    if (!probe)
      break;
    int ok = cn->tls13 ? SSL_CTX_set_ciphersuites(probe, cn->ossl)
                       : SSL_CTX_set_cipher_list(probe, cn->ossl);
    ERR_clear_error();
    if (!ok) {
      skipped++;
      continue;
    }
    list_add(c, cn->tls13 ? &tls13 : &tls12, cn->ossl);
  }
  if (c->errs.n == errors0 && !c->oom && tls12.len == 0) {
    /* Nothing listed applies to TLS <= 1.2, so such a handshake would find
     * no common suite (in Go too): say so with the version range instead. */
    if (p->max_version == 0 || p->max_version >= TLS1_3_VERSION)
      p->min_version = TLS1_3_VERSION;
    else
      cerr(c,
           "cipherSuites: none of the listed suites is usable with TLS 1.2 or below%s, and "
           "maxVersion %s excludes TLS 1.3",
           skipped ? " (RC4 and 3DES suites are not available)" : "", version_name(p->max_version));
  }
  p->cipher_list = take_or_null(&tls12);
  p->ciphersuites = take_or_null(&tls13);
}

static void compile_curves(compiler *c, const wh_tls_options *o, wh_tls_policy *p) {
  const wh_strlist *l = &o->curve_preferences;
  if (l->n == 0)
    return;
  const char *cands[WH_NELEM(curve_names)];
  for (size_t i = 0; i < WH_NELEM(curve_names); i++)
    cands[i] = curve_names[i].go;
  wh_strbuf groups = {0};
  size_t errors0 = c->errs.n;
  for (size_t i = 0; i < l->n; i++) {
    const char *v = l->v[i] ? l->v[i] : "";
    const curve_name *cn = NULL;
    for (size_t k = 0; k < WH_NELEM(curve_names) && !cn; k++)
      if (strcmp(v, curve_names[k].go) == 0)
        cn = &curve_names[k];
    if (!cn) {
      err_unknown(c, "curve in curvePreferences", v, cands, WH_NELEM(cands), true);
      continue;
    }
    SSL_CTX *probe = probe_ctx(c);
    if (!probe)
      break;
    int ok = SSL_CTX_set1_groups_list(probe, cn->ossl);
    ERR_clear_error();
    if (ok)
      list_add(c, &groups, cn->ossl);
  }
  if (c->errs.n == errors0 && !c->oom && groups.len == 0)
    cerr(c, "curvePreferences: none of the listed curves is supported by this OpenSSL build");
  p->groups = take_or_null(&groups);
}

static int name_cmp(const X509_NAME *const *a, const X509_NAME *const *b) {
  return X509_NAME_cmp(*a, *b);
}

static int digest_cmp(const void *a, const void *b) {
  return memcmp(a, b, 32);
}

/* The contents of one caFiles entry (inline PEM or a path), malloc'd into *out. */
static int read_ca_entry(compiler *c, size_t i, const char *v, char **out, size_t *len) {
  *out = NULL;
  if (strstr(v, "-----BEGIN")) {
    *out = wh_strdup(v);
    *len = strlen(v);
    if (!*out)
      c->oom = true;
    return *out ? 0 : -1;
  }
  struct stat st;
  FILE *f = fopen(v, "rb");
  if (!f) {
    cerr(c, "caFiles[%zu] \"%s\": %s", i, v, strerror(errno));
    return -1;
  }
  if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
    cerr(c, "caFiles[%zu] \"%s\": not a regular file", i, v);
    fclose(f);
    return -1;
  }
  if (st.st_size > (off_t)CA_FILE_MAX) {
    cerr(c, "caFiles[%zu] \"%s\": larger than 1 MiB", i, v);
    fclose(f);
    return -1;
  }
  char *buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    c->oom = true;
    fclose(f);
    return -1;
  }
  size_t n = fread(buf, 1, (size_t)st.st_size, f);
  bool bad = ferror(f);
  fclose(f);
  if (bad) {
    cerr(c, "caFiles[%zu] \"%s\": read error", i, v);
    free(buf);
    return -1;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

/* Loads every caFiles entry into p->ca_store / p->ca_names; *ca_digest gets
 * an order-independent digest of the set of certificates. */
static void compile_cas(compiler *c, const wh_strlist *files, wh_tls_policy *p,
                        unsigned char ca_digest[32]) {
  memset(ca_digest, 0, 32);
  if (files->n == 0)
    return;
  p->ca_store = X509_STORE_new();
  p->ca_names = sk_X509_NAME_new(name_cmp);
  unsigned char(*digests)[32] = NULL;
  size_t nd = 0;
  if (!p->ca_store || !p->ca_names) {
    c->oom = true;
    return;
  }
  /* Go treats every certificate of ClientCAs as a root: an intermediate CA
   * listed there anchors a chain on its own. */
  X509_STORE_set_flags(p->ca_store, X509_V_FLAG_PARTIAL_CHAIN);
  for (size_t i = 0; i < files->n && !c->oom; i++) {
    const char *v = files->v[i];
    if (empty(v)) {
      cerr(c, "caFiles[%zu] is empty", i);
      continue;
    }
    bool inline_pem = strstr(v, "-----BEGIN") != NULL;
    char *data = NULL;
    size_t len = 0;
    if (read_ca_entry(c, i, v, &data, &len) < 0)
      continue;
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    if (!bio) {
      c->oom = true;
      free(data);
      break;
    }
    size_t count = 0;
    for (;;) {
      ERR_clear_error();
      X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
      if (!x) {
        unsigned long e = ERR_peek_last_error();
        bool at_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
        if (!at_end || count == 0) {
          const char *why = at_end ? "no PEM certificate found" : "invalid PEM certificate";
          if (inline_pem)
            cerr(c, "caFiles[%zu] (inline PEM): %s", i, why);
          else
            cerr(c, "caFiles[%zu] \"%s\": %s", i, v, why);
        }
        break;
      }
      count++;
      unsigned char(*nd_v)[32] = realloc(digests, (nd + 1) * sizeof(*digests));
      unsigned int mdlen = 0;
      bool ok = nd_v != NULL;
      if (nd_v)
        digests = nd_v;
      ok = ok && X509_digest(x, EVP_sha256(), digests[nd], &mdlen) && mdlen == 32;
      if (ok)
        nd++;
      ok = ok && X509_STORE_add_cert(p->ca_store, x);
      X509_NAME *subj = X509_get_subject_name(x);
      if (ok && sk_X509_NAME_find(p->ca_names, subj) < 0) {
        X509_NAME *dup = X509_NAME_dup(subj);
        ok = dup && sk_X509_NAME_push(p->ca_names, dup) > 0;
        if (!ok)
          X509_NAME_free(dup);
      }
      X509_free(x);
      if (!ok) {
        c->oom = true;
        break;
      }
    }
    ERR_clear_error();
    BIO_free(bio);
    free(data);
  }
  if (nd) {
    qsort(digests, nd, sizeof(*digests), digest_cmp);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int mdlen = 0;
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t i = 0; ok && i < nd; i++)
      if (i == 0 || memcmp(digests[i], digests[i - 1], 32) != 0)
        ok = EVP_DigestUpdate(md, digests[i], 32);
    ok = ok && EVP_DigestFinal_ex(md, ca_digest, &mdlen);
    if (!ok)
      c->oom = true;
    EVP_MD_CTX_free(md);
  }
  free(digests);
}

static void compile_client_auth(compiler *c, const wh_client_auth *a, wh_tls_policy *p,
                                unsigned char ca_digest[32]) {
  const char *t = a->client_auth_type;
  /* Traefik: caFiles alone mean the strictest mode. */
  p->client_auth = a->ca_files.n ? WH_CLIENT_AUTH_REQUIRE_AND_VERIFY : WH_CLIENT_AUTH_NONE;
  if (!empty(t)) {
    size_t k = 0;
    while (k < WH_NELEM(auth_names) && strcmp(t, auth_names[k]) != 0)
      k++;
    if (k == WH_NELEM(auth_names))
      err_unknown(c, "clientAuthType", t, auth_names, WH_NELEM(auth_names), true);
    else
      p->client_auth = auth_values[k];
    if ((p->client_auth == WH_CLIENT_AUTH_VERIFY_IF_GIVEN ||
         p->client_auth == WH_CLIENT_AUTH_REQUIRE_AND_VERIFY) &&
        a->ca_files.n == 0)
      cerr(c, "clientAuthType %s requires clientAuth.caFiles (the CAs to verify against)", t);
  }
  compile_cas(c, &a->ca_files, p, ca_digest);
}

static void compile_alpn(compiler *c, const wh_strlist *l, bool has_h2, wh_tls_policy *p) {
  wh_strbuf b = {0};
  for (size_t i = 0; i < l->n; i++) {
    const char *v = l->v[i] ? l->v[i] : "";
    size_t n = strlen(v);
    if (n == 0) {
      cerr(c, "alpnProtocols[%zu] is empty", i);
      continue;
    }
    if (n > 255) {
      cerr(c, "alpnProtocols[%zu] is longer than 255 bytes", i);
      continue;
    }
    if ((!has_h2 && strcmp(v, "h2") == 0) || strcmp(v, "acme-tls/1") == 0)
      continue;
    bool dup = false;
    for (size_t k = 0; k < b.len && !dup; k += 1 + (unsigned char)b.data[k])
      dup = (unsigned char)b.data[k] == n && memcmp(b.data + k + 1, v, n) == 0;
    if (dup)
      continue;
    if (wh_strbuf_putc(&b, (char)n) < 0 || wh_strbuf_append(&b, v, n) < 0)
      c->oom = true;
  }
  p->alpn_len = b.len;
  p->alpn_wire = (unsigned char *)take_or_null(&b);
}

static void compute_digest(compiler *c, wh_tls_policy *p, const unsigned char ca_digest[32]) {
  wh_strbuf b = {0};
  wh_strbuf_printf(&b,
                   "v1 min=%d max=%d ciphers=%s|%s suites=%s|%s groups=%s|%s auth=%d sni=%d "
                   "tickets=%d ca=",
                   p->min_version, p->max_version, p->cipher_list ? "set" : "default",
                   p->cipher_list ? p->cipher_list : "", p->ciphersuites ? "set" : "default",
                   p->ciphersuites ? p->ciphersuites : "", p->groups ? "set" : "default",
                   p->groups ? p->groups : "", (int)p->client_auth, p->sni_strict,
                   p->session_tickets);
  wh_strbuf_append(&b, (const char *)ca_digest, 32);
  wh_strbuf_puts(&b, " alpn=");
  if (p->alpn_len)
    wh_strbuf_append(&b, (const char *)p->alpn_wire, p->alpn_len);
  unsigned int n = 0;
  if (!b.data || !EVP_Digest(b.data, b.len, p->digest, &n, EVP_sha256(), NULL))
    c->oom = true;
  wh_strbuf_free(&b);
}

wh_tls_policy *wh_tls_policy_compile(const char *name, const wh_tls_options *o, bool has_h2,
                                     wh_errlist *errs) {
  compiler c = {.name = name ? name : ""};
  wh_errlist_init(&c.errs);
  wh_tls_policy *p = calloc(1, sizeof(*p));
  if (!p || !(p->name = wh_strdup(c.name)) || !o) {
    wh_tls_policy_free(p);
    if (!o && errs)
      wh_errlist_add(errs, "tls option \"%s\": no options", c.name);
    return NULL;
  }
  unsigned char ca_digest[32];
  compile_versions(&c, o, p);
  compile_ciphers(&c, o, p);
  compile_curves(&c, o, p);
  compile_client_auth(&c, &o->client_auth, p, ca_digest);
  compile_alpn(&c, &o->alpn_protocols, has_h2, p);
  p->sni_strict = o->sni_strict;
  p->session_tickets = !o->disable_session_tickets;
  if (!c.oom && c.errs.n == 0)
    compute_digest(&c, p, ca_digest);
  SSL_CTX_free(c.probe);
  if (c.oom)
    cerr(&c, "out of memory");
  if (c.oom || c.errs.n) {
    if (errs)
      wh_errlist_extend(errs, &c.errs, NULL);
    wh_errlist_free(&c.errs);
    wh_tls_policy_free(p);
    return NULL;
  }
  wh_errlist_free(&c.errs);
  return p;
}

wh_tls_policy *wh_tls_policy_default(bool has_h2) {
  char *alpn[] = {(char *)"h2", (char *)"http/1.1", (char *)"acme-tls/1"};
  wh_tls_options o;
  memset(&o, 0, sizeof o);
  o.alpn_protocols.v = alpn;
  o.alpn_protocols.n = WH_NELEM(alpn);
  return wh_tls_policy_compile("default", &o, has_h2, NULL);
}

void wh_tls_policy_free(wh_tls_policy *p) {
  if (!p)
    return;
  free(p->name);
  free(p->cipher_list);
  free(p->ciphersuites);
  free(p->groups);
  X509_STORE_free(p->ca_store);
  sk_X509_NAME_pop_free(p->ca_names, X509_NAME_free);
  free(p->alpn_wire);
  free(p);
}

bool wh_tls_policy_same(const wh_tls_policy *a, const wh_tls_policy *b) {
  if (a == b)
    return true;
  if (!a || !b)
    return false;
  return memcmp(a->digest, b->digest, sizeof a->digest) == 0;
}

/* ---- apply ---- */

/* The ALPN list lives in the context (ex_data) rather than in the policy, so
 * that a context outliving its snapshot never reads freed memory. */
typedef struct alpn_list {
  size_t len;
  unsigned char wire[];
} alpn_list;

static pthread_once_t alpn_once = PTHREAD_ONCE_INIT;
static int alpn_index = -1;

static void alpn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
  (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
  free(ptr);
}

/* Per-session mark for connections a TLS-terminating TCP router took. */
static int tcp_index = -1;

static void alpn_index_init(void) {
  alpn_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, alpn_free);
  tcp_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

void wh_tls_alpn_for_tcp(SSL *ssl) {
  pthread_once(&alpn_once, alpn_index_init);
  if (tcp_index >= 0)
    SSL_set_ex_data(ssl, tcp_index, (void *)1);
}

/* Go's negotiateALPN: the first server protocol the client offers; when
 * nothing overlaps, refuse (no_application_protocol), except for an
 * http/1.1 client of an h2 server, which carries on without ALPN. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
  const alpn_list *l = arg;
  bool http11_fallback = false;
  for (size_t i = 0; i < l->len; i += 1 + (size_t)l->wire[i]) {
    size_t sl = l->wire[i];
    const unsigned char *s = l->wire + i + 1;
    for (size_t j = 0; j < inlen; j += 1 + (size_t)in[j]) {
      size_t cl = in[j];
      if (j + 1 + cl > inlen)
        break; /* OpenSSL validated the list already; never read past it */
      const unsigned char *cp = in + j + 1;
      if (cl == sl && memcmp(cp, s, sl) == 0) {
        *out = cp;
        *outlen = (unsigned char)cl;
        return SSL_TLSEXT_ERR_OK;
      }
      if (sl == 2 && memcmp(s, "h2", 2) == 0 && cl == 8 && memcmp(cp, "http/1.1", 8) == 0)
        http11_fallback = true;
    }
  }
  if (tcp_index >= 0 && SSL_get_ex_data(ssl, tcp_index)) {
    /* A TCP router's backend speaks the protocol, not wharf: the client's
     * first choice is the one its ALPN matcher routed on. Never acme-tls/1:
     * only a pending TLS-ALPN-01 challenge answers that (lib/tls/acme_alpn.c),
     * with its own certificate. */
    for (size_t j = 0; j < inlen; j += 1 + (size_t)in[j]) {
      size_t cl = in[j];
      if (cl == 0 || j + 1 + cl > inlen)
        break;
      if (cl == 10 && memcmp(in + j + 1, "acme-tls/1", 10) == 0)
        continue;
      *out = in + j + 1;
      *outlen = (unsigned char)cl;
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return http11_fallback ? SSL_TLSEXT_ERR_NOACK : SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* RequestClientCert and RequireAnyClientCert take any certificate: the
 * application sees it (and its verify result) but the handshake goes on. */
static int accept_any_cert(int preverify_ok, X509_STORE_CTX *x) {
  (void)preverify_ok, (void)x;
  return 1;
}

static int apply_fail(const wh_tls_policy *p, wh_errlist *errs, const char *what) {
  unsigned long e = ERR_peek_last_error();
  char buf[256] = "";
  if (e)
    ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  if (errs)
    wh_errlist_add(errs, "tls option \"%s\": cannot apply %s%s%s", p->name, what, *buf ? ": " : "",
                   buf);
  return WH_ERR;
}

static int apply_alpn(const wh_tls_policy *p, SSL_CTX *ctx, wh_errlist *errs) {
  pthread_once(&alpn_once, alpn_index_init);
  if (alpn_index < 0)
    return apply_fail(p, errs, "alpnProtocols");
  alpn_list *old = SSL_CTX_get_ex_data(ctx, alpn_index);
  if (!p->alpn_len) {
    SSL_CTX_set_alpn_select_cb(ctx, NULL, NULL);
    SSL_CTX_set_ex_data(ctx, alpn_index, NULL);
    free(old);
    return 0;
  }
  alpn_list *l = malloc(sizeof(*l) + p->alpn_len);
  if (!l)
    return apply_fail(p, errs, "alpnProtocols");
  l->len = p->alpn_len;
  memcpy(l->wire, p->alpn_wire, p->alpn_len);
  if (!SSL_CTX_set_ex_data(ctx, alpn_index, l)) {
    free(l);
    return apply_fail(p, errs, "alpnProtocols");
  }
  free(old);
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, l);
  return 0;
}

int wh_tls_policy_apply(const wh_tls_policy *p, SSL_CTX *ctx, wh_errlist *errs) {
  if (!p || !ctx) {
    if (errs)
      wh_errlist_add(errs, "tls options: no policy or no context to apply");
    return WH_EINVAL;
  }
  ERR_clear_error();
  /* OpenSSL 3 refuses TLS 1.0/1.1 at security level 1 and above whatever
   * the minimum says; a user asking for them gets them. */
  if (p->min_version < TLS1_2_VERSION)
    SSL_CTX_set_security_level(ctx, 0);
  if (!SSL_CTX_set_min_proto_version(ctx, p->min_version))
    return apply_fail(p, errs, "minVersion");
  if (!SSL_CTX_set_max_proto_version(ctx, p->max_version))
    return apply_fail(p, errs, "maxVersion");
  if (!SSL_CTX_set_cipher_list(ctx, p->cipher_list ? p->cipher_list : go_default_ciphers))
    return apply_fail(p, errs, "cipherSuites");
  if (p->ciphersuites && !SSL_CTX_set_ciphersuites(ctx, p->ciphersuites))
    return apply_fail(p, errs, "cipherSuites (TLS 1.3)");
  if (p->groups && !SSL_CTX_set1_groups_list(ctx, p->groups))
    return apply_fail(p, errs, "curvePreferences");

  int mode = SSL_VERIFY_NONE;
  SSL_verify_cb cb = NULL;
  bool verifying = false;
  switch (p->client_auth) {
  case WH_CLIENT_AUTH_NONE:
    break;
  case WH_CLIENT_AUTH_REQUEST:
    mode = SSL_VERIFY_PEER;
    cb = accept_any_cert;
    break;
  case WH_CLIENT_AUTH_REQUIRE_ANY:
    mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    cb = accept_any_cert;
    break;
  case WH_CLIENT_AUTH_VERIFY_IF_GIVEN:
    mode = SSL_VERIFY_PEER;
    verifying = true;
    break;
  case WH_CLIENT_AUTH_REQUIRE_AND_VERIFY:
    mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    verifying = true;
    break;
  }
  /* Without its own store, verification would fall back to whatever the
   * context's store holds: fail closed instead. */
  if (verifying && !p->ca_store) {
    if (errs)
      wh_errlist_add(errs, "tls option \"%s\": client certificate verification without CAs",
                     p->name);
    return WH_EINVAL;
  }
  if (p->ca_store && !SSL_CTX_set1_verify_cert_store(ctx, p->ca_store))
    return apply_fail(p, errs, "clientAuth.caFiles");
  SSL_CTX_set_verify(ctx, mode, cb);
  if (mode != SSL_VERIFY_NONE && p->ca_names && sk_X509_NAME_num(p->ca_names) > 0) {
    STACK_OF(X509_NAME) *names = SSL_dup_CA_list(p->ca_names);
    if (!names)
      return apply_fail(p, errs, "clientAuth.caFiles");
    SSL_CTX_set_client_CA_list(ctx, names);
  }

  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_PRIORITIZE_CHACHA);
  if (p->session_tickets) {
    SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
  } else {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    /* SSL_OP_NO_TICKET alone still sends TLS 1.3 tickets (stateful ones). */
    if (!SSL_CTX_set_num_tickets(ctx, 0))
      return apply_fail(p, errs, "disableSessionTickets");
  }
  if (!SSL_CTX_set_session_id_context(ctx, p->digest, sizeof p->digest))
    return apply_fail(p, errs, "session id context");
  return apply_alpn(p, ctx, errs);
}
