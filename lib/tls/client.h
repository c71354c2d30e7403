/* TLS towards backends: one compiled serversTransport (HTTP) or TCP
 * transport `tls` section, and the per-worker cache of sessions that lets a
 * new upstream connection resume instead of doing a full handshake.
 *
 * A wh_tls_client is built on the control thread with a snapshot (files are
 * read there, never on a worker) and is immutable afterwards: workers start
 * client sessions from it without locking. Its id is a digest of everything
 * that decides who we talk to and how we prove it (server name, verification,
 * trust anchors, client certificate, peerCertURI), so pooled connections
 * and cached sessions keyed by it stay valid across reloads that do not
 * change the transport, and are never shared by transports that differ. */
#ifndef WH_TLS_CLIENT_H
#define WH_TLS_CLIENT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/config/dynamic.h"
#include "lib/core/err.h"
#include "lib/tls/tls_stream.h"

typedef struct wh_tls_client wh_tls_client;

typedef struct wh_tls_client_opts {
  const char *name;            /* "st@file", "default@internal": for messages */
  const char *server_name;     /* SNI and the name verified; NULL: the backend's host */
  bool insecure_skip_verify;   /* no chain or name check (peerCertURI still checks the chain) */
  const wh_strlist *root_cas;  /* paths or inline PEM; NULL or empty: the system roots */
  const wh_list *certificates; /* of wh_cert_files: the first is our client certificate */
  const char *peer_cert_uri;   /* the leaf's first URI SAN must match (host part ignored) */
  bool http;                   /* offer ALPN "http/1.1" (wharf speaks HTTP/1.1 upstream) */
} wh_tls_client_opts;

/* Builds the client context. Every problem (a rootCAs file missing, a key
 * that does not match its certificate, a malformed peerCertURI) appends a
 * message to errs and returns NULL: a transport is never used half-built.
 * NULL with no message means out of memory. */
wh_tls_client *wh_tls_client_new(const wh_tls_client_opts *o, wh_errlist *errs);
void wh_tls_client_free(wh_tls_client *tc); /* NULL-safe */

/* 16 lowercase hex characters; see the file comment. */
const char *wh_tls_client_id(const wh_tls_client *tc);
const char *wh_tls_client_name(const wh_tls_client *tc);
bool wh_tls_client_insecure(const wh_tls_client *tc);

/* Resumable sessions, one per key (a pool key: transport id and backend).
 * Bounded (a fixed number of slots, the newest session wins a slot), owned by
 * one worker and used only on its thread. */
typedef struct wh_tls_session_cache wh_tls_session_cache;
wh_tls_session_cache *wh_tls_session_cache_new(void);
void wh_tls_session_cache_free(wh_tls_session_cache *sc); /* NULL-safe */
/* Sessions currently held (for tests). */
size_t wh_tls_session_cache_count(const wh_tls_session_cache *sc);

/* Starts a client session on t towards host (the backend's host: the SNI and
 * the verified name unless the transport sets serverName; an IP address is
 * verified against IP SANs and sends no SNI, as Go does). Resumes the session
 * cached under key when there is one, and caches the sessions the backend
 * issues under key. key and sc must outlive t's SSL (the upstream owns
 * all three). 0, or WH_TLS_ERROR (out of memory, t left empty). */
int wh_tls_client_start(const wh_tls_client *tc, const char *host, wh_tls_session_cache *sc,
                        const char *key, wh_tls_stream *t);

/* After the handshake: the checks OpenSSL's verification does not make
 * (peerCertURI). true when the peer is acceptable; otherwise why gets a
 * readable reason. */
bool wh_tls_client_check_peer(const wh_tls_client *tc, const wh_tls_stream *t, char *why,
                              size_t cap);

/* peerCertURI's comparison: got (a certificate's URI SAN, got_len bytes) equals
 * want with ASCII case folded and the host part ignored, as Traefik compares
 * them. Shared with the health checks' probes. */
bool wh_tls_uri_matches(const char *want, const char *got, size_t got_len);

/* Why a client handshake failed, for the log: the certificate verification
 * result when verification is what failed ("certificate verify failed:
 * self-signed certificate"), else the TLS error or the backend's alert. */
const char *wh_tls_client_failure(const wh_tls_stream *t, char *why, size_t cap);

/* Whether t resumed a session (for tests and the debug log). */
bool wh_tls_client_resumed(const wh_tls_stream *t);

#endif
