/* Traefik's access log (accessLog; TRAEFIK-COMPAT.md §9): one line per
 * finished exchange, in Traefik's `common` (CLF), `genericCLF` or `json`
 * (logrus) format, with Traefik's filters and field/header modes.
 *
 * Threads: the object is built and freed on the control thread while no
 * worker runs; each worker thread writes only into its own slot (record,
 * tick), so the request path takes no lock. Lines reach the descriptor in
 * whole-line write(2)s on an O_APPEND file, so lines of different workers
 * never interleave.
 *
 * Deliberate differences from Traefik (docs/operations/logs.md):
 * - ClientHost takes X-Forwarded-For only when the entry point trusts the
 *   peer (r->fwd_trusted); otherwise it is the socket's address.
 * - Authorization, Proxy-Authorization, Cookie and Set-Cookie are written as
 *   REDACTED even when their mode is keep: no line carries a credential.
 * - CLF: `"` is written as `\"`, `\` as `\\` and control bytes as `\xHH`
 *   in every field (Traefik escapes `"` in quoted fields only and writes the
 *   rest raw), so a request cannot forge or break a line. JSON strings are escaped as
 *   Go's encoding/json does (invalid UTF-8 becomes U+FFFD).
 * - origin_<H> headers carry the response head as sent to the client
 *   (wharf keeps no separate copy of the backend's), present only when a
 *   backend answered.
 * - The file is created with mode 0644 and its directory is not created.
 * - bufferingSize N batches up to N lines per worker (and at most 256 KiB),
 *   written by the worker's tick; 0 writes every line at once. */
#ifndef WH_OBSERVE_ACCESS_LOG_H
#define WH_OBSERVE_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/config/static.h"
#include "lib/core/str.h"
#include "lib/observe/xrec.h"

typedef struct wh_access_log wh_access_log;

/* From the static configuration (borrowed for the object's lifetime); nworkers
 * slots. An empty or absent filePath writes to stdout. NULL with err set when
 * the file cannot be opened or the configuration is unusable. The caller owns
 * the result (wh_access_log_free). */
wh_access_log *wh_access_log_new(const wh_accesslog *cfg, int nworkers, char *err, size_t errlen);
/* Flushes every slot, then closes the file. Call when no worker runs. NULL-safe. */
void wh_access_log_free(wh_access_log *l);
/* True when some downstream_/origin_ header can appear in a line, i.e. the
 * records must carry r->resp_headers (json format only). */
bool wh_access_log_wants_resp_headers(const wh_access_log *l);
/* addInternals: records of @internal services are logged too. */
bool wh_access_log_wants_internals(const wh_access_log *l);

/* Worker thread `worker` (0..nworkers-1): filters, formats and writes (or
 * buffers) one line. r is borrowed for the call only. */
void wh_access_log_record(wh_access_log *l, int worker, const wh_xrec *r);
/* Worker thread `worker`, periodically: writes what its slot buffered. */
void wh_access_log_tick(wh_access_log *l, int worker);
/* Any thread (SIGUSR1): reopens filePath so that later writes go to the new
 * file (the new file is dup2()ed onto the descriptor workers use, so they
 * need no lock). 0 (also for stdout), or a negative WH_E* error. */
int wh_access_log_reopen(wh_access_log *l);

/* Pure formatting: appends the line (with '\n') for r to out according to l's
 * format, fields and headers, or nothing when the filters or addInternals
 * leave r out. Returns true when a line was appended. Any thread. */
bool wh_access_log_format(const wh_access_log *l, const wh_xrec *r, wh_strbuf *out);

#endif
