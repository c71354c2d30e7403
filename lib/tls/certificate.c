#include "lib/tls/certificate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "lib/core/str.h"

/* A PEM bundle is a few KiB; the cap keeps a mistyped path (a log file, a
 * disk image) from being slurped. */
#define CERT_FILE_MAX ((size_t)1 << 20)

/* Where one PEM value came from, and its bytes. */
typedef struct pem_src {
  const char *label; /* the path, or "inline PEM"; borrowed */
  bool is_file;
  char *buf; /* NUL-terminated; owned only when is_file */
  size_t len;
} pem_src;

static void errs_add(wh_errlist *errs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void errs_add(wh_errlist *errs, const char *fmt, ...) {
  if (!errs)
    return;
  va_list ap;
  va_start(ap, fmt);
  wh_errlist_addv(errs, fmt, ap);
  va_end(ap);
}

static bool looks_pem(const char *v) {
  return strstr(v, "-----BEGIN") != NULL;
}

/* A value that is neither PEM nor a plausible path may be key material pasted
 * without its armour lines: such a value must never be echoed in a message. */
static bool plausible_path(const char *v) {
  size_t n = strlen(v);
  if (n > PATH_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)v[i];
    if (ch < 0x20 || ch == 0x7f)
      return false;
  }
  return true;
}

static const char *errno_text(int e) {
  switch (e) {
  case ENOENT:
    return "no such file";
  case EACCES:
  case EPERM:
    return "permission denied";
  case ENOTDIR:
    return "a component of the path is not a directory";
  case ELOOP:
    return "too many symbolic links";
  case ENAMETOOLONG:
    return "path too long";
  default:
    return strerror(e);
  }
}

/* Reads a whole regular file of at most CERT_FILE_MAX bytes, NUL-terminated.
 * Returns NULL on success (*out owned by the caller), else a static reason.
 * O_NONBLOCK keeps a FIFO given by mistake from hanging the control thread. */
static const char *read_file_capped(const char *path, char **out, size_t *outlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return errno_text(errno);
  const char *why = NULL;
  char *buf = NULL;
  size_t cap = 0, len = 0;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    why = errno_text(errno);
    goto out;
  }
  if (S_ISDIR(st.st_mode)) {
    why = "is a directory";
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    why = "not a regular file";
    goto out;
  }
  if ((uint64_t)st.st_size > CERT_FILE_MAX) {
    why = "larger than 1 MiB";
    goto out;
  }
  /* The file may grow after fstat: read up to the cap plus one byte to tell. */
  cap = (size_t)st.st_size + 1;
  buf = malloc(cap + 1);
  if (!buf) {
    why = "out of memory";
    goto out;
  }
  for (;;) {
    if (len == cap) {
      if (cap > CERT_FILE_MAX) {
        why = "larger than 1 MiB";
        goto out;
      }
      size_t ncap = cap * 2 > CERT_FILE_MAX + 1 ? CERT_FILE_MAX + 1 : cap * 2;
      char *nb = malloc(ncap + 1);
      if (!nb) {
        why = "out of memory";
        goto out;
      }
      memcpy(nb, buf, len);
      OPENSSL_cleanse(buf, len);
      free(buf);
      buf = nb;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      why = errno_text(errno);
      goto out;
    }
    if (r == 0)
      break;
    len += (size_t)r;
  }
  buf[len] = '\0';
  *out = buf;
  *outlen = len;
  buf = NULL;
out:
  if (buf) {
    OPENSSL_cleanse(buf, len); /* may hold a private key */
    free(buf);
  }
  close(fd);
  return why;
}

static void src_free(pem_src *s) {
  if (s->is_file && s->buf) {
    OPENSSL_cleanse(s->buf, s->len);
    free(s->buf);
  }
  memset(s, 0, sizeof(*s));
}

/* Resolves value (path or inline PEM, already known non-empty and printable
 * when not PEM) into bytes. what is "certificate" or "key" for messages. */
static int src_open(const char *value, const char *what, pem_src *s, wh_errlist *errs) {
  memset(s, 0, sizeof(*s));
  if (looks_pem(value)) {
    s->label = "inline PEM";
    s->len = strnlen(value, CERT_FILE_MAX + 1);
    if (s->len > CERT_FILE_MAX) {
      errs_add(errs, "tls %s inline PEM: larger than 1 MiB", what);
      return WH_EINVAL;
    }
    s->buf = (char *)value;
    return 0;
  }
  s->label = value;
  s->is_file = true;
  const char *why = read_file_capped(value, &s->buf, &s->len);
  if (why) {
    errs_add(errs, "tls %s %s: %s", what, value, why);
    s->buf = NULL;
    return WH_EIO;
  }
  return 0;
}

/* 0: empty, 1: PEM or a printable path, -1: neither (never echoed). */
static int value_kind(const char *v) {
  if (!v || !*v)
    return 0;
  if (looks_pem(v) || plausible_path(v))
    return 1;
  return -1;
}

size_t wh_cert_name_normalize(const char *in, char *out) {
  if (!in)
    return 0;
  size_t n = strnlen(in, WH_CERT_NAME_MAX + 1);
  if (n > WH_CERT_NAME_MAX)
    return 0;
  while (n > 0 && in[n - 1] == '.')
    n--;
  for (size_t i = 0; i < n; i++) {
    char ch = in[i];
    out[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
  }
  out[n] = '\0';
  return n;
}

/* Adds a name in canonical form, skipping empty names, names with an
 * embedded NUL (a classic certificate spoof) and exact duplicates. */
static int add_name(wh_cert *c, const unsigned char *data, size_t len) {
  if (len == 0 || len > WH_CERT_NAME_MAX || memchr(data, 0, len))
    return 0;
  char raw[WH_CERT_NAME_MAX + 1], norm[WH_CERT_NAME_MAX + 1];
  memcpy(raw, data, len);
  raw[len] = '\0';
  if (wh_cert_name_normalize(raw, norm) == 0)
    return 0;
  for (size_t i = 0; i < c->nnames; i++)
    if (strcmp(c->names[i], norm) == 0)
      return 0;
  char **v = realloc(c->names, (c->nnames + 1) * sizeof(*v));
  if (!v)
    return WH_ENOMEM;
  c->names = v;
  if (!(v[c->nnames] = strdup(norm)))
    return WH_ENOMEM;
  c->nnames++;
  return 0;
}

static int add_cn(wh_cert *c) {
  X509_NAME *subj = X509_get_subject_name(c->x509);
  int idx = -1, last = -1;
  /* With several CNs, the last is the most specific (as Go and browsers read it). */
  while ((idx = X509_NAME_get_index_by_NID(subj, NID_commonName, idx)) >= 0)
    last = idx;
  if (last < 0)
    return 0;
  ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, last));
  unsigned char *utf8 = NULL;
  int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) {
    ERR_clear_error();
    return 0;
  }
  int rc = add_name(c, utf8, (size_t)n);
  OPENSSL_free(utf8);
  return rc;
}

static int fill_names(wh_cert *c) {
  GENERAL_NAMES *gens = X509_get_ext_d2i(c->x509, NID_subject_alt_name, NULL, NULL);
  int n = gens ? sk_GENERAL_NAME_num(gens) : 0, rc = 0;
  bool has_dns = false;
  for (int i = 0; i < n; i++)
    if (sk_GENERAL_NAME_value(gens, i)->type == GEN_DNS)
      has_dns = true;
  /* RFC 6125: the CN is a name only when the certificate has no DNS SAN. */
  if (!has_dns)
    rc = add_cn(c);
  for (int i = 0; i < n && rc == 0; i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
    if (g->type == GEN_DNS) {
      rc = add_name(c, ASN1_STRING_get0_data(g->d.dNSName),
                    (size_t)ASN1_STRING_length(g->d.dNSName));
    } else if (g->type == GEN_IPADD) {
      const unsigned char *ip = ASN1_STRING_get0_data(g->d.iPAddress);
      int iplen = ASN1_STRING_length(g->d.iPAddress);
      char text[INET6_ADDRSTRLEN];
      int af = iplen == 4 ? AF_INET : iplen == 16 ? AF_INET6 : 0;
      if (af && inet_ntop(af, ip, text, sizeof(text)))
        rc = add_name(c, (const unsigned char *)text, strlen(text));
    }
  }
  GENERAL_NAMES_free(gens);
  ERR_clear_error(); /* a missing extension leaves nothing, a malformed one an error */
  return rc;
}

static char *name_oneline(const X509_NAME *nm) {
  BIO *b = BIO_new(BIO_s_mem());
  if (!b)
    return NULL;
  char *out = NULL;
  if (X509_NAME_print_ex(b, nm, 0, XN_FLAG_RFC2253) >= 0) {
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    out = wh_strndup(n > 0 ? data : "", n > 0 ? (size_t)n : 0);
  }
  BIO_free(b);
  return out;
}

static time_t asn1_time(const ASN1_TIME *t) {
  struct tm tm;
  memset(&tm, 0, sizeof(tm));
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
    return 0;
  return timegm(&tm);
}

/* Derives every descriptive field from x509 and key. */
static int cert_fill(wh_cert *c) {
  if (EVP_PKEY_is_a(c->key, "RSA"))
    c->kind = WH_KEY_RSA;
  else if (EVP_PKEY_is_a(c->key, "EC"))
    c->kind = WH_KEY_EC;
  else
    c->kind = WH_KEY_OTHER;
  if (fill_names(c) != 0)
    return WH_ENOMEM;
  c->subject = name_oneline(X509_get_subject_name(c->x509));
  c->issuer = name_oneline(X509_get_issuer_name(c->x509));
  if (!c->subject || !c->issuer)
    return WH_ENOMEM;
  c->not_before = asn1_time(X509_get0_notBefore(c->x509));
  c->not_after = asn1_time(X509_get0_notAfter(c->x509));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (X509_digest(c->x509, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32)
    return WH_ERR;
  static const char hex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < mdlen; i++) {
    c->sha256[2 * i] = hex[md[i] >> 4];
    c->sha256[2 * i + 1] = hex[md[i] & 15];
  }
  c->sha256[64] = '\0';
  return 0;
}

/* Takes ownership of x509, chain and key, also on failure. */
static wh_cert *cert_new(X509 *x509, STACK_OF(X509) * chain, EVP_PKEY *key, const char *origin) {
  wh_cert *c = calloc(1, sizeof(*c));
  if (!c) {
    X509_free(x509);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    return NULL;
  }
  c->x509 = x509;
  c->chain = chain;
  c->key = key;
  atomic_init(&c->refs, 1);
  c->origin = strdup(origin);
  if (!c->origin || cert_fill(c) != 0) {
    wh_cert_unref(c);
    return NULL;
  }
  return c;
}

/* Never prompts: a wharf started from a terminal must not stop on a key. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf, (void)size, (void)rwflag, (void)u;
  return -1;
}

static bool pem_no_more(void) {
  unsigned long e = ERR_peek_last_error();
  return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

/* Parses the leaf and the chain; on failure one message names the source. */
static int read_certs(const pem_src *s, X509 **leaf, STACK_OF(X509) * *chain, wh_errlist *errs) {
  BIO *b = BIO_new_mem_buf(s->buf, (int)s->len);
  int rc = WH_ERR;
  *leaf = NULL;
  *chain = sk_X509_new_null();
  if (!b || !*chain) {
    errs_add(errs, "tls certificate %s: out of memory", s->label);
    goto out;
  }
  ERR_clear_error();
  if (!(*leaf = PEM_read_bio_X509(b, NULL, no_passphrase, NULL))) {
    errs_add(errs, "tls certificate %s: %s", s->label,
             pem_no_more() ? "no certificate in PEM" : "certificate in PEM does not parse");
    goto out;
  }
  for (int i = 2;; i++) {
    X509 *x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL);
    if (!x) {
      if (pem_no_more())
        break;
      errs_add(errs, "tls certificate %s: certificate %d in PEM does not parse", s->label, i);
      goto out;
    }
    if (!sk_X509_push(*chain, x)) {
      X509_free(x);
      errs_add(errs, "tls certificate %s: out of memory", s->label);
      goto out;
    }
  }
  rc = 0;
out:
  if (rc != 0) {
    X509_free(*leaf);
    sk_X509_pop_free(*chain, X509_free);
    *leaf = NULL;
    *chain = NULL;
  }
  ERR_clear_error();
  BIO_free(b);
  return rc;
}

static EVP_PKEY *read_key(const pem_src *s, wh_errlist *errs) {
  BIO *b = BIO_new_mem_buf(s->buf, (int)s->len);
  EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
  BIO_free(b);
  ERR_clear_error();
  if (!k) {
    bool encrypted = strstr(s->buf, "-----BEGIN ENCRYPTED PRIVATE KEY-----") ||
                     strstr(s->buf, "Proc-Type: 4,ENCRYPTED");
    errs_add(errs, "tls key %s: %s", s->label,
             encrypted ? "private key is encrypted (not supported)" : "no private key in PEM");
  }
  return k;
}

wh_cert *wh_cert_load(const char *cert, const char *key, wh_errlist *errs) {
  pem_src cs, ks;
  memset(&cs, 0, sizeof(cs));
  memset(&ks, 0, sizeof(ks));
  X509 *leaf = NULL;
  STACK_OF(X509) *chain = NULL;
  EVP_PKEY *pkey = NULL;
  wh_cert *c = NULL;

  int vk = value_kind(cert);
  if (vk <= 0) {
    errs_add(errs, "tls certificate: %s",
             vk == 0 ? "certFile is empty" : "certFile is neither PEM nor a file path");
    return NULL;
  }
  if (src_open(cert, "certificate", &cs, errs) != 0)
    goto out;
  vk = value_kind(key);
  if (vk <= 0) {
    errs_add(errs, "tls certificate %s: %s", cs.label,
             vk == 0 ? "keyFile is empty" : "keyFile is neither PEM nor a file path");
    goto out;
  }
  if (src_open(key, "key", &ks, errs) != 0)
    goto out;
  if (read_certs(&cs, &leaf, &chain, errs) != 0)
    goto out;
  if (!(pkey = read_key(&ks, errs)))
    goto out;
  if (X509_check_private_key(leaf, pkey) != 1) {
    ERR_clear_error();
    if (ks.is_file)
      errs_add(errs, "tls certificate %s: key %s does not match certificate", cs.label, ks.label);
    else
      errs_add(errs, "tls certificate %s: key does not match certificate", cs.label);
    goto out;
  }
  char *origin = cs.is_file ? wh_asprintf("file %s", cs.label) : strdup("inline PEM");
  if (origin) {
    c = cert_new(leaf, chain, pkey, origin);
    leaf = NULL, chain = NULL, pkey = NULL;
    free(origin);
  }
  if (!c)
    errs_add(errs, "tls certificate %s: out of memory", cs.label);
out:
  X509_free(leaf);
  sk_X509_pop_free(chain, X509_free);
  EVP_PKEY_free(pkey);
  src_free(&cs);
  src_free(&ks);
  ERR_clear_error();
  return c;
}

static int add_ext(X509 *x, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
  X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  int ok = ex && X509_add_ext(x, ex, -1);
  X509_EXTENSION_free(ex);
  return ok ? 0 : WH_ERR;
}

static int add_sans(X509 *x, const char *const *sans, size_t n, bool critical) {
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
  int rc = WH_ERR;
  if (!gens)
    return WH_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if (!sans[i] || !*sans[i])
      continue;
    GENERAL_NAME *g = GENERAL_NAME_new();
    if (!g)
      goto out;
    unsigned char bin[16];
    if (inet_pton(AF_INET, sans[i], bin) == 1 || inet_pton(AF_INET6, sans[i], bin) == 1) {
      ASN1_OCTET_STRING *ip = a2i_IPADDRESS(sans[i]);
      if (!ip) {
        GENERAL_NAME_free(g);
        goto out;
      }
      GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
    } else {
      ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
      if (!dns || !ASN1_STRING_set(dns, sans[i], -1)) {
        ASN1_IA5STRING_free(dns);
        GENERAL_NAME_free(g);
        goto out;
      }
      GENERAL_NAME_set0_value(g, GEN_DNS, dns);
    }
    if (!sk_GENERAL_NAME_push(gens, g)) {
      GENERAL_NAME_free(g);
      goto out;
    }
  }
  if (sk_GENERAL_NAME_num(gens) == 0 ||
      X509_add1_ext_i2d(x, NID_subject_alt_name, gens, critical ? 1 : 0, X509V3_ADD_DEFAULT) == 1)
    rc = 0;
out:
  GENERAL_NAMES_free(gens);
  return rc;
}

static int set_serial(X509 *x) {
  unsigned char rnd[16];
  if (RAND_bytes(rnd, sizeof(rnd)) != 1)
    return WH_ERR;
  rnd[0] &= 0x7f; /* positive, as RFC 5280 requires */
  rnd[0] |= 0x01; /* and never shorter than 16 bytes */
  BIGNUM *bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
  int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  return ok ? 0 : WH_ERR;
}

wh_cert *wh_cert_self_signed(const char *cn, const char *const *sans, size_t n) {
  if (!cn || !*cn)
    return NULL;
  EVP_PKEY *pk = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  STACK_OF(X509) *chain = sk_X509_new_null();
  wh_cert *c = NULL;
  if (!pk || !x || !chain)
    goto out;
  /* The CN attribute is limited to 64 bytes; a longer name lives in the SAN
   * only, which must then be critical (RFC 5280 4.2.1.6, empty subject). */
  bool cn_fits = strlen(cn) <= 64;
  X509_NAME *nm = X509_get_subject_name(x);
  if (cn_fits &&
      !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0))
    goto out;
  const char *const only_cn[1] = {cn};
  if (!X509_set_version(x, X509_VERSION_3) || set_serial(x) != 0 || !X509_set_issuer_name(x, nm) ||
      !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
      !X509_time_adj_ex(X509_getm_notAfter(x), 365, 0, NULL) || !X509_set_pubkey(x, pk) ||
      add_ext(x, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
      add_ext(x, NID_key_usage, "critical,digitalSignature") != 0 ||
      add_ext(x, NID_ext_key_usage, "serverAuth") != 0 ||
      add_ext(x, NID_subject_key_identifier, "hash") != 0 ||
      add_sans(x, n ? sans : only_cn, n ? n : 1, !cn_fits) != 0 || !X509_sign(x, pk, EVP_sha256()))
    goto out;
  c = cert_new(x, chain, pk, "self-signed");
  x = NULL, chain = NULL, pk = NULL;
out:
  X509_free(x);
  sk_X509_pop_free(chain, X509_free);
  EVP_PKEY_free(pk);
  ERR_clear_error();
  return c;
}

wh_cert *wh_cert_ref(wh_cert *c) {
  if (c)
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
  return c;
}

void wh_cert_unref(wh_cert *c) {
  if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
    return;
  X509_free(c->x509);
  sk_X509_pop_free(c->chain, X509_free);
  EVP_PKEY_free(c->key);
  for (size_t i = 0; i < c->nnames; i++)
    free(c->names[i]);
  free(c->names);
  free(c->subject);
  free(c->issuer);
  free(c->origin);
  free(c);
}

bool wh_cert_covers(const wh_cert *c, const char *name) {
  char norm[WH_CERT_NAME_MAX + 1];
  if (!c || wh_cert_name_normalize(name, norm) == 0)
    return false;
  const char *dot = strchr(norm, '.');
  /* A wildcard stands for one non-empty label, followed by something. */
  bool wild_ok = dot && dot != norm && dot[1];
  for (size_t i = 0; i < c->nnames; i++) {
    const char *san = c->names[i];
    if (strcmp(san, norm) == 0)
      return true;
    if (wild_ok && san[0] == '*' && san[1] == '.' && strcmp(san + 2, dot + 1) == 0)
      return true;
  }
  return false;
}

int wh_cert_install(const wh_cert *c, SSL_CTX *ctx) {
  if (!c || !ctx)
    return WH_EINVAL;
  if (SSL_CTX_use_cert_and_key(ctx, c->x509, c->key, c->chain, 1) != 1) {
    ERR_clear_error();
    return WH_ERR;
  }
  return 0;
}

STACK_OF(X509) * wh_cert_bundle_load(const char *value, const char *what, wh_errlist *errs) {
  int vk = value_kind(value);
  if (vk <= 0) {
    errs_add(errs, "tls %s: %s", what, vk == 0 ? "empty" : "neither PEM nor a file path");
    return NULL;
  }
  pem_src s;
  if (src_open(value, what, &s, errs) != 0)
    return NULL;
  STACK_OF(X509) *out = sk_X509_new_null();
  BIO *bio = out ? BIO_new_mem_buf(s.buf, (int)s.len) : NULL;
  const char *why = out && bio ? NULL : "out of memory";
  while (!why) {
    ERR_clear_error();
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (!x) {
      unsigned long e = ERR_peek_last_error();
      bool at_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
      if (!at_end)
        why = "invalid PEM certificate";
      else if (sk_X509_num(out) == 0)
        why = "no PEM certificate found";
      break;
    }
    if (sk_X509_push(out, x) <= 0) {
      X509_free(x);
      why = "out of memory";
    }
  }
  ERR_clear_error();
  BIO_free(bio);
  if (why) {
    errs_add(errs, "tls %s %s: %s", what, s.label, why);
    sk_X509_pop_free(out, X509_free);
    out = NULL;
  }
  src_free(&s);
  return out;
}

const char *wh_cert_read_file(const char *path, char **out, size_t *len) {
  return read_file_capped(path, out, len);
}

bool wh_x509_name_rfc2253(const X509_NAME *nm, char *buf, size_t cap) {
  char *s = nm ? name_oneline(nm) : NULL;
  if (!s)
    return false;
  snprintf(buf, cap, "%s", s);
  free(s);
  return true;
}
