/* The TLS side of one configuration snapshot: the compiled tls.options, the
 * certificate store, and for every entry point which options each host name
 * uses (the hosts of the TLS routers' Host rules and of TLS-terminating TCP
 * routers' HostSNI rules, TRAEFIK-COMPAT §6). Built on the control thread,
 * then read by every worker without locks; the only thing made after the
 * build is an SSL_CTX per (options, certificate group), created on first use
 * and published with a compare-and-swap, so that a thousand certificates do
 * not cost a thousand contexts up front. Sessions take their own reference
 * on the context, so a connection outlives the snapshot that accepted it. */
#ifndef WH_TLS_SERVER_H
#define WH_TLS_SERVER_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/config/runtime.h"
#include "lib/config/static.h"
#include "lib/tls/cert_store.h"
#include "lib/tls/options.h"

typedef struct wh_tls_server wh_tls_server;

/* Compiles rt->tls: options (a router whose options are unknown or invalid
 * is disabled with the error, fail closed), certificates (a bad one is
 * logged and listed in wh_tls_server_errors; the others load), the default
 * certificate (tls.stores.default.defaultCertificate, else a generated
 * self-signed "TRAEFIK DEFAULT CERT" kept for the life of the process so
 * that clients pinning it across reloads do not see it change). NULL on OOM. */
wh_tls_server *wh_tls_server_build(const wh_static_config *stat, wh_runtime *rt);
void wh_tls_server_free(wh_tls_server *s);

/* The context for a handshake on entry point ep_index (stat->entry_points
 * order) whose ClientHello carried sni (lowercase, no trailing dot; NULL or
 * "" when absent, then local_ip is looked up instead). *pol is the policy in
 * force (for the 421 check). NULL when the handshake must be refused
 * (sniStrict without a matching certificate, or OOM). */
SSL_CTX *wh_tls_server_ctx(wh_tls_server *s, size_t ep_index, const char *sni, const char *local_ip,
                           const wh_tls_policy **pol);
/* The policy the given host maps to on ep_index: the options of its TLS
 * routers, else the default options. */
const wh_tls_policy *wh_tls_server_policy_for_host(const wh_tls_server *s, size_t ep_index,
                                                   const char *host);
const wh_cert_store *wh_tls_server_store(const wh_tls_server *s);
/* Whether a certificate names an IP address: only then does a handshake
 * without SNI need the local address (saves a syscall per connection). */
bool wh_tls_server_has_ip_names(const wh_tls_server *s);
const wh_errlist *wh_tls_server_errors(const wh_tls_server *s);

/* True when a certificate, key or CA file the build read (paths, not
 * inline PEM) changed, appeared or went away since: the control loop polls
 * this to reload certificates without a provider event. Control thread. */
bool wh_tls_server_files_changed(const wh_tls_server *s);
size_t wh_tls_server_watched(const wh_tls_server *s);
#define WH_TLS_FILES_POLL_MS 2000

/* The process-wide session ticket keys (random at start, shared by every
 * context so that resumption works across reloads and certificates). */
void wh_tls_ticket_keys(unsigned char keys[80]);

#endif
