/* When ACME certificates are renewed and when a failed order is retried.
 * Renewal follows Traefik (TRAEFIK-COMPAT §6): a check at start, then every
 * interval; a certificate is renewed when it does not parse or when its
 * notAfter falls within period of now, period and interval depending on the
 * resolver's certificatesDuration. Retries back off exponentially per domain
 * set, never faster than the CA's Retry-After. */
#ifndef WH_ACME_RENEWAL_H
#define WH_ACME_RENEWAL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "lib/core/duration.h"

/* Traefik's getCertificateRenewDurations, in seconds, for certificatesDuration
 * (counted in whole hours as Traefik's int option is):
 *   >= 1 year: 4 months / 1 week;   >= 90 days: 30 days / 1 day;
 *   >= 30 days: 10 days / 12 h;     >= 6 days: 2 days / 2 h;
 *   >= 1 day: 6 h / 10 min;         less: 20 min / 1 min. */
void wh_acme_renewal_durations(wh_duration certificates_duration, int64_t *period_s,
                               int64_t *interval_s);

/* Whether a certificate whose leaf ends at not_after is due for renewal at
 * now: not_after < now + period_s. */
bool wh_acme_renewal_due(time_t not_after, time_t now, int64_t period_s);

#define WH_ACME_BACKOFF_MIN_S 60          /* the first retry after a failure */
#define WH_ACME_BACKOFF_MAX_S (24 * 3600) /* never less often than daily */

/* The wait before the next attempt after `failures` consecutive failures
 * (>= 1): 1 min doubling up to 24 h, and at least retry_after_s (the CA's
 * Retry-After, 0 when none), itself capped at 24 h. */
int64_t wh_acme_backoff_s(unsigned failures, int64_t retry_after_s);

#endif
