/* Answering ACME TLS-ALPN-01 validations (RFC 8737) on the TLS entry points.
 *
 * Every server context gets an OpenSSL client-hello callback. While no
 * challenge is pending it costs one relaxed atomic load and returns. While
 * one is pending, a ClientHello offering "acme-tls/1" for a domain with a
 * pending challenge is moved to a context of its own: the challenge's
 * certificate, ALPN "acme-tls/1" and nothing else, no client certificate, no
 * session resumption. When that handshake completes the session reports the
 * peer's close to the connection, which therefore ends without reading any
 * HTTP. A ClientHello offering "acme-tls/1" for a domain without a pending
 * challenge goes on as usual, where the options' ALPN selection refuses
 * "acme-tls/1" (wh_tls_policy_compile drops it from every list). */
#ifndef WH_TLS_ACME_ALPN_H
#define WH_TLS_ACME_ALPN_H

#include <stdbool.h>

#include <openssl/ssl.h>

#include "lib/acme/challenges.h"
#include "lib/tls/client_hello.h"

/* Installs the hook on ctx, a server context. acme_only marks a context made
 * only so that a sniStrict entry point can answer a pending challenge for a
 * name it has no certificate for: any other handshake on it is refused, as
 * sniStrict would have. */
void wh_tls_acme_install(SSL_CTX *ctx, bool acme_only);

/* Whether ch offers "acme-tls/1". */
bool wh_tls_acme_offered(const wh_client_hello *ch);

/* Whether ch may be a validation handshake: a challenge is pending and ch
 * offers "acme-tls/1" (the data plane then gives the handshake
 * WH_ACME_TLS_HANDSHAKE_MS). One relaxed load when nothing is pending. */
static inline bool wh_tls_acme_hello(const wh_client_hello *ch) {
  return wh_acme_chal_tls_any() && wh_tls_acme_offered(ch);
}

#endif
