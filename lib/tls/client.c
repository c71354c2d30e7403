#include "lib/tls/client.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "lib/core/str.h"
#include "lib/tls/certificate.h"

struct wh_tls_client {
  SSL_CTX *ctx;
  char *name;
  char *server_name; /* NULL: the backend's host */
  char *peer_cert_uri;
  bool verify_name; /* chain and name (insecureSkipVerify off) */
  bool insecure;
  char id[17];
};

/* ---- the system trust store, loaded once and shared by every context ----
 *
 * Debian's bundle is about 140 certificates: parsing it per transport and per
 * reload would cost milliseconds and a few hundred KiB each time. */

static pthread_mutex_t sys_mu = PTHREAD_MUTEX_INITIALIZER;
static X509_STORE *sys_store;

static X509_STORE *system_store(void) {
  pthread_mutex_lock(&sys_mu);
  if (!sys_store) {
    X509_STORE *s = X509_STORE_new();
    if (s && X509_STORE_set_default_paths(s) != 1) {
      X509_STORE_free(s);
      s = NULL;
    }
    sys_store = s;
  }
  X509_STORE *s = sys_store;
  if (s && X509_STORE_up_ref(s) != 1)
    s = NULL;
  pthread_mutex_unlock(&sys_mu);
  ERR_clear_error();
  return s;
}

/* ---- building ---- */

static pthread_once_t ex_once = PTHREAD_ONCE_INIT;
static void ex_init(void);
static int on_new_session(SSL *ssl, SSL_SESSION *sess);

static void digest_str(EVP_MD_CTX *md, const char *tag, const char *v) {
  EVP_DigestUpdate(md, tag, strlen(tag) + 1);
  if (v)
    EVP_DigestUpdate(md, v, strlen(v) + 1);
}

static void digest_x509(EVP_MD_CTX *md, X509 *x) {
  unsigned char d[32];
  unsigned int n = 0;
  if (X509_digest(x, EVP_sha256(), d, &n) == 1)
    EVP_DigestUpdate(md, d, n);
}

/* Go's RootCAs: every listed certificate is a trust anchor, an intermediate
 * included (hence PARTIAL_CHAIN). */
static X509_STORE *load_roots(const wh_tls_client_opts *o, EVP_MD_CTX *md, wh_errlist *errs,
                              bool *oom) {
  X509_STORE *st = X509_STORE_new();
  if (!st) {
    *oom = true;
    return NULL;
  }
  X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
  bool ok = true;
  for (size_t i = 0; i < o->root_cas->n; i++) {
    char what[32];
    snprintf(what, sizeof(what), "rootCAs[%zu]", i);
    STACK_OF(X509) *certs = wh_cert_bundle_load(o->root_cas->v[i], what, errs);
    if (!certs) {
      ok = false;
      continue;
    }
    for (int k = 0; k < sk_X509_num(certs); k++) {
      X509 *x = sk_X509_value(certs, k);
      digest_x509(md, x);
      /* a certificate listed twice is not an error */
      if (X509_STORE_add_cert(st, x) != 1) {
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE)
          *oom = true;
      }
    }
    sk_X509_pop_free(certs, X509_free);
  }
  ERR_clear_error();
  if (!ok || *oom) {
    X509_STORE_free(st);
    return NULL;
  }
  return st;
}

static bool uri_has_scheme(const char *u) {
  const char *p = strstr(u, "://");
  if (!p || p == u)
    return false;
  for (const char *q = u; q < p; q++)
    if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
          *q == '+' || *q == '-' || *q == '.'))
      return false;
  return true;
}

wh_tls_client *wh_tls_client_new(const wh_tls_client_opts *o, wh_errlist *errs) {
  size_t errors0 = errs ? errs->n : 0;
  bool oom = false;
  wh_tls_client *tc = calloc(1, sizeof(*tc));
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  X509_STORE *store = NULL;
  wh_cert *cert = NULL;
  if (!tc || !md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
    goto oom;
  tc->name = wh_strdup(o->name ? o->name : "");
  tc->server_name = o->server_name && *o->server_name ? wh_strdup(o->server_name) : NULL;
  tc->peer_cert_uri = o->peer_cert_uri && *o->peer_cert_uri ? wh_strdup(o->peer_cert_uri) : NULL;
  if (!tc->name || (o->server_name && *o->server_name && !tc->server_name) ||
      (o->peer_cert_uri && *o->peer_cert_uri && !tc->peer_cert_uri))
    goto oom;
  tc->insecure = o->insecure_skip_verify;
  tc->verify_name = !o->insecure_skip_verify;
  digest_str(md, "sn", tc->server_name);
  digest_str(md, tc->insecure ? "insecure" : "verify", NULL);
  digest_str(md, "uri", tc->peer_cert_uri);
  digest_str(md, o->http ? "http" : "tcp", NULL);
  if (tc->peer_cert_uri && !uri_has_scheme(tc->peer_cert_uri))
    wh_errlist_add(errs, "peerCertURI \"%s\": not a URI (scheme://...)", tc->peer_cert_uri);

  tc->ctx = SSL_CTX_new(TLS_client_method());
  if (!tc->ctx)
    goto oom;
  /* Go's client floor; renegotiation and compression stay off */
  SSL_CTX_set_min_proto_version(tc->ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(tc->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(tc->ctx, SSL_MODE_RELEASE_BUFFERS);
  if (o->http) {
    static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    if (SSL_CTX_set_alpn_protos(tc->ctx, alpn, sizeof(alpn)) != 0)
      goto oom;
  }
  /* The chain is verified unless insecureSkipVerify; peerCertURI verifies it
   * even then, as Traefik's VerifyPeerCertificate does. */
  bool verify_chain = !o->insecure_skip_verify || tc->peer_cert_uri;
  if (verify_chain) {
    if (o->root_cas && o->root_cas->n) {
      store = load_roots(o, md, errs, &oom);
      if (oom)
        goto oom;
    } else {
      store = system_store();
      digest_str(md, "system roots", NULL);
    }
    if (store) {
      SSL_CTX_set1_cert_store(tc->ctx, store); /* takes its own reference */
      X509_STORE_free(store);
      store = NULL;
    }
    SSL_CTX_set_verify(tc->ctx, SSL_VERIFY_PEER, NULL);
  } else {
    SSL_CTX_set_verify(tc->ctx, SSL_VERIFY_NONE, NULL);
  }
  /* client certificate: Go presents the first that suits the request; the
   * first is the one in practice */
  if (o->certificates && o->certificates->n) {
    const wh_cert_files *cf = (const wh_cert_files *)o->certificates->items;
    cert = wh_cert_load(cf->cert_file, cf->key_file, errs);
    if (cert) {
      digest_x509(md, cert->x509);
      if (wh_cert_install(cert, tc->ctx) != 0)
        wh_errlist_add(errs, "certificates[0]: OpenSSL refused the certificate or its key");
    }
  }
  /* the session cache is ours (per worker); OpenSSL only reports new sessions */
  pthread_once(&ex_once, ex_init);
  SSL_CTX_set_session_cache_mode(tc->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(tc->ctx, on_new_session);
  {
    unsigned char d[32];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(md, d, &n) != 1)
      goto oom;
    for (int i = 0; i < 8; i++)
      snprintf(tc->id + 2 * i, 3, "%02x", d[i]);
  }
  wh_cert_unref(cert);
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  if (errs && errs->n > errors0) {
    wh_tls_client_free(tc);
    return NULL;
  }
  return tc;
oom:
  wh_cert_unref(cert);
  X509_STORE_free(store);
  EVP_MD_CTX_free(md);
  wh_tls_client_free(tc);
  ERR_clear_error();
  return NULL;
}

void wh_tls_client_free(wh_tls_client *tc) {
  if (!tc)
    return;
  SSL_CTX_free(tc->ctx);
  free(tc->name);
  free(tc->server_name);
  free(tc->peer_cert_uri);
  free(tc);
}

const char *wh_tls_client_id(const wh_tls_client *tc) {
  return tc->id;
}

const char *wh_tls_client_name(const wh_tls_client *tc) {
  return tc->name;
}

bool wh_tls_client_insecure(const wh_tls_client *tc) {
  return tc->insecure;
}

/* ---- the per-worker session cache ---- */

#define SESSION_SLOTS 256

typedef struct slot {
  char *key;
  SSL_SESSION *sess;
} slot;

struct wh_tls_session_cache {
  slot v[SESSION_SLOTS];
  size_t n;
};

wh_tls_session_cache *wh_tls_session_cache_new(void) {
  return calloc(1, sizeof(wh_tls_session_cache));
}

void wh_tls_session_cache_free(wh_tls_session_cache *sc) {
  if (!sc)
    return;
  for (size_t i = 0; i < SESSION_SLOTS; i++) {
    free(sc->v[i].key);
    SSL_SESSION_free(sc->v[i].sess);
  }
  free(sc);
}

size_t wh_tls_session_cache_count(const wh_tls_session_cache *sc) {
  return sc ? sc->n : 0;
}

static slot *slot_of(wh_tls_session_cache *sc, const char *key) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)key; *p; p++)
    h = (h ^ *p) * 16777619u;
  return &sc->v[h % SESSION_SLOTS];
}

static void slot_clear(wh_tls_session_cache *sc, slot *s) {
  if (!s->sess)
    return;
  SSL_SESSION_free(s->sess);
  free(s->key);
  s->sess = NULL;
  s->key = NULL;
  sc->n--;
}

/* Where a session callback finds the cache and the key of its connection. */
static int ex_cache = -1, ex_key = -1;

static void ex_init(void) {
  ex_cache = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
  ex_key = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* The cache keeps a copy: in TLS 1.3 the session a ticket makes becomes the
 * connection's own, which SSL_free marks unresumable when the connection
 * ends without close_notify (a backend reset, an error path). Returning 0
 * leaves OpenSSL's reference to OpenSSL. */
static int on_new_session(SSL *ssl, SSL_SESSION *orig) {
  wh_tls_session_cache *sc = SSL_get_ex_data(ssl, ex_cache);
  const char *key = SSL_get_ex_data(ssl, ex_key);
  if (!sc || !key || !SSL_SESSION_is_resumable(orig))
    return 0;
  SSL_SESSION *sess = SSL_SESSION_dup(orig);
  if (!sess)
    return 0;
  slot *s = slot_of(sc, key);
  char *k = s->key && strcmp(s->key, key) == 0 ? s->key : wh_strdup(key);
  if (!k) {
    SSL_SESSION_free(sess);
    return 0;
  }
  if (k != s->key) {
    slot_clear(sc, s);
    s->key = k;
  } else {
    SSL_SESSION_free(s->sess);
    sc->n--;
  }
  s->sess = sess;
  sc->n++;
  return 0;
}

int wh_tls_client_start(const wh_tls_client *tc, const char *host, wh_tls_session_cache *sc,
                        const char *key, wh_tls_stream *t) {
  if (ex_cache < 0 || ex_key < 0)
    return WH_TLS_ERROR;
  const char *name = tc->server_name ? tc->server_name : host;
  unsigned char ip[16];
  bool is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
  /* Go sends no SNI for an IP address (RFC 6066 forbids it) */
  if (wh_tls_stream_init_client(t, tc->ctx, is_ip ? NULL : name) < 0)
    return WH_TLS_ERROR;
  bool ok = SSL_set_ex_data(t->ssl, ex_cache, sc) == 1 &&
            SSL_set_ex_data(t->ssl, ex_key, (void *)key) == 1;
  if (ok && tc->verify_name) {
    X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
    /* Go: no partial wildcards, and never the subject CN */
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                            X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, name) == 1
               : X509_VERIFY_PARAM_set1_host(vp, name, 0) == 1;
  }
  if (ok && sc) {
    slot *s = slot_of(sc, key);
    if (s->sess && strcmp(s->key, key) == 0) {
      if (SSL_SESSION_is_resumable(s->sess))
        ok = SSL_set_session(t->ssl, s->sess) == 1;
      else
        slot_clear(sc, s);
    }
  }
  ERR_clear_error();
  if (!ok) {
    wh_tls_stream_free(t);
    return WH_TLS_ERROR;
  }
  return 0;
}

/* ---- after the handshake ---- */

/* Traefik compares the URIs with the host part replaced by the peer's (a
 * SPIFFE trust domain may change in a migration) and ASCII case folded. */
bool wh_tls_uri_matches(const char *want, const char *got, size_t got_len) {
  const char *ws = strstr(want, "://"), *gs = memmem(got, got_len, "://", 3);
  if (!ws || !gs)
    return strlen(want) == got_len && strncasecmp(want, got, got_len) == 0;
  size_t wsl = (size_t)(ws - want), gsl = (size_t)(gs - got);
  if (wsl != gsl || strncasecmp(want, got, wsl) != 0)
    return false;
  const char *wr = ws + 3 + strcspn(ws + 3, "/?#");
  const char *gend = got + got_len, *gr = gs + 3;
  while (gr < gend && *gr != '/' && *gr != '?' && *gr != '#')
    gr++;
  size_t wrl = strlen(wr), grl = (size_t)(gend - gr);
  return wrl == grl && strncasecmp(wr, gr, wrl) == 0;
}

bool wh_tls_client_check_peer(const wh_tls_client *tc, const wh_tls_stream *t, char *why,
                              size_t cap) {
  if (!tc->peer_cert_uri)
    return true;
  X509 *leaf = SSL_get0_peer_certificate(t->ssl);
  if (!leaf) {
    snprintf(why, cap, "no peer certificate (peerCertURI \"%s\")", tc->peer_cert_uri);
    return false;
  }
  GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
  const unsigned char *uri = NULL;
  int len = 0;
  for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && !uri; i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
    if (g->type == GEN_URI) {
      uri = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
      len = ASN1_STRING_length(g->d.uniformResourceIdentifier);
    }
  }
  bool ok = false;
  if (!uri) {
    snprintf(why, cap, "peer certificate has no URI SAN (peerCertURI \"%s\")", tc->peer_cert_uri);
  } else if (memchr(uri, 0, (size_t)len) ||
             !wh_tls_uri_matches(tc->peer_cert_uri, (const char *)uri, (size_t)len)) {
    snprintf(why, cap, "peer certificate URI \"%.*s\" does not match peerCertURI \"%s\"",
             len > 200 ? 200 : len, (const char *)uri, tc->peer_cert_uri);
  } else {
    ok = true;
  }
  GENERAL_NAMES_free(gens);
  return ok;
}

const char *wh_tls_client_failure(const wh_tls_stream *t, char *why, size_t cap) {
  long vr = t->ssl ? SSL_get_verify_result(t->ssl) : X509_V_OK;
  if (vr != X509_V_OK) {
    if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
      const char *host = X509_VERIFY_PARAM_get0_host(vp, 0);
      char ip[64] = "";
      if (!host) {
        char *s = X509_VERIFY_PARAM_get1_ip_asc(vp);
        if (s) {
          snprintf(ip, sizeof(ip), "%s", s);
          OPENSSL_free(s);
        }
        host = ip;
      }
      snprintf(why, cap, "certificate verify failed: %s (the certificate does not name \"%s\")",
               X509_verify_cert_error_string(vr), host);
    } else {
      snprintf(why, cap, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
    }
    return why;
  }
  return wh_tls_stream_reason(t, why, cap);
}

bool wh_tls_client_resumed(const wh_tls_stream *t) {
  return t->ssl && SSL_session_reused(t->ssl);
}
