/* Traefik's tls.options compiled into what an OpenSSL server context needs
 * (TRAEFIK-COMPAT §6). Every value is checked up front: an invalid option is
 * an error naming it, never a silent default, so that the caller disables the
 * routers using it (HARDENING 24), and client authentication is never
 * weakened behind the user's back. */
#ifndef WH_TLS_OPTIONS_H
#define WH_TLS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "lib/config/dynamic.h"
#include "lib/core/err.h"

typedef enum {
  WH_CLIENT_AUTH_NONE,
  WH_CLIENT_AUTH_REQUEST,
  WH_CLIENT_AUTH_REQUIRE_ANY,
  WH_CLIENT_AUTH_VERIFY_IF_GIVEN,
  WH_CLIENT_AUTH_REQUIRE_AND_VERIFY
} wh_client_auth_mode;

/* Immutable once compiled; shared by threads without locks. */
typedef struct wh_tls_policy {
  char *name;                   /* qualified option name, e.g. "default", "mtls@file" */
  int min_version, max_version; /* TLS1_2_VERSION etc.; max 0 = no limit */
  /* OpenSSL TLS <= 1.2 cipher string; NULL = Go's default set (ECDHE with
   * AES-GCM, ChaCha20-Poly1305 or AES-CBC-SHA), see wh_tls_policy_apply. */
  char *cipher_list;
  char *ciphersuites; /* TLS 1.3 suites ("TLS_AES_128_GCM_SHA256:..."), NULL = OpenSSL's */
  char *groups;       /* "X25519:P-256", NULL = OpenSSL's */
  wh_client_auth_mode client_auth;
  X509_STORE *ca_store;           /* client CAs (every one a trust anchor), owned, NULL when none */
  STACK_OF(X509_NAME) * ca_names; /* sent in CertificateRequest, owned, NULL when none */
  bool sni_strict, session_tickets;
  unsigned char *alpn_wire; /* server ALPN preference list in wire format, NULL when empty */
  size_t alpn_len;
  /* SHA-256 over everything above but the name: equal digests mean equal
   * handshake behaviour. Also the session id context. */
  unsigned char digest[32];
} wh_tls_policy;

/* Validates and compiles o (borrowed; nothing of it is kept). name is copied.
 *
 * has_h2 says whether the data plane speaks HTTP/2; without it "h2" is
 * dropped from alpnProtocols (ALPN never offers what is not implemented,
 * HARDENING 25). "acme-tls/1" is always dropped: only the ACME TLS-ALPN
 * challenge may answer it.
 *
 * As in Traefik: an absent minVersion is VersionTLS12; caFiles without a
 * clientAuthType mean RequireAndVerifyClientCert; caFiles entries are inline
 * PEM when they contain "-----BEGIN", else paths (regular files, 1 MiB cap),
 * and every certificate in them is a trust anchor (Go's ClientCAs pool:
 * an intermediate CA listed there is enough). Go cipher suite names that this
 * OpenSSL build lacks (RC4, 3DES) are skipped, and so are curves it lacks
 * (post-quantum hybrids before OpenSSL 3.5), as long as one listed entry
 * remains; TLS_FALLBACK_SCSV is accepted and has nothing to configure. TLS 1.3
 * names in cipherSuites restrict TLS 1.3 (Go ignores them). When cipherSuites
 * lists nothing usable with TLS <= 1.2 the minimum becomes TLS 1.3, as such a
 * TLS 1.2 handshake could never succeed in Go either.
 *
 * Errors: unknown min/maxVersion, maxVersion below minVersion, unknown
 * cipher suite or curve, a list left with nothing usable, unknown
 * clientAuthType, a verifying clientAuthType without caFiles, an unreadable
 * or certificate-less caFiles entry, an empty or over-long ALPN name. Each
 * is appended to errs as `tls option "<name>": ...` naming the option and the
 * value (with "did you mean" when one is close), and NULL is returned.
 * Returns a new policy (free with wh_tls_policy_free), NULL also on OOM. */
wh_tls_policy *wh_tls_policy_compile(const char *name, const wh_tls_options *o, bool has_h2,
                                     wh_errlist *errs);

/* Traefik's built-in "default" options: minVersion TLS 1.2, no client
 * authentication, ALPN h2 (only when has_h2) then http/1.1. NULL on OOM. */
wh_tls_policy *wh_tls_policy_default(bool has_h2);

/* Configures ctx, a fresh TLS_server_method() context, for p: protocol
 * versions (a minimum below TLS 1.2 also lowers the OpenSSL security level
 * to 0, without which OpenSSL 3 refuses TLS 1.0/1.1 whatever the minimum),
 * ciphers, groups, client verification (RequestClientCert and
 * RequireAnyClientCert accept any certificate, the Verify modes check it
 * against ca_store only), the client CA list, no renegotiation, server cipher
 * preference, no session tickets when disabled, a session id context
 * (resumption with client certificates needs one; sessions never cross
 * policies), and ALPN selection: the first server protocol the client offers;
 * a client offering only unknown protocols is refused with
 * no_application_protocol as Go does, except that an http/1.1 client of an h2
 * server carries on without ALPN.
 * ctx keeps no pointer into p: p may be freed while ctx lives on.
 * Returns 0, or < 0 with a message appended to errs (ctx is then unusable). */
int wh_tls_policy_apply(const wh_tls_policy *p, SSL_CTX *ctx, wh_errlist *errs);

void wh_tls_policy_free(wh_tls_policy *p); /* NULL-safe */
/* Marks a server session taken by a TLS-terminating TCP router: when no
 * protocol of the options' list overlaps, the client's first choice is
 * accepted (the backend behind the tunnel speaks it), instead of refusing. */
void wh_tls_alpn_for_tcp(SSL *ssl);

/* True when a and b would produce the same handshake behaviour (names aside):
 * the 421 Misdirected Request check compares the Host's policy to the SNI's.
 * NULL equals only NULL. */
bool wh_tls_policy_same(const wh_tls_policy *a, const wh_tls_policy *b);

#endif
