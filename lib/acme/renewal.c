#include "lib/acme/renewal.h"

#define HOUR_S ((int64_t)3600)
#define DAY_S (24 * HOUR_S)

void wh_acme_renewal_durations(wh_duration certificates_duration, int64_t *period_s,
                               int64_t *interval_s) {
  int64_t h = certificates_duration / (3600 * WH_SEC);
  int64_t p, i;
  if (h >= 365 * 24) {
    p = 4 * 30 * DAY_S;
    i = 7 * DAY_S;
  } else if (h >= 3 * 30 * 24) {
    p = 30 * DAY_S;
    i = DAY_S;
  } else if (h >= 30 * 24) {
    p = 10 * DAY_S;
    i = 12 * HOUR_S;
  } else if (h >= 6 * 24) {
    p = 2 * DAY_S;
    i = 2 * HOUR_S;
  } else if (h >= 24) {
    p = 6 * HOUR_S;
    i = 10 * 60;
  } else {
    p = 20 * 60;
    i = 60;
  }
  if (period_s)
    *period_s = p;
  if (interval_s)
    *interval_s = i;
}

bool wh_acme_renewal_due(time_t not_after, time_t now, int64_t period_s) {
  return (int64_t)not_after < (int64_t)now + period_s;
}

int64_t wh_acme_backoff_s(unsigned failures, int64_t retry_after_s) {
  int64_t w = WH_ACME_BACKOFF_MIN_S;
  for (unsigned i = 1; i < failures && w < WH_ACME_BACKOFF_MAX_S; i++)
    w *= 2;
  if (w > WH_ACME_BACKOFF_MAX_S)
    w = WH_ACME_BACKOFF_MAX_S;
  if (retry_after_s > WH_ACME_BACKOFF_MAX_S)
    retry_after_s = WH_ACME_BACKOFF_MAX_S;
  return retry_after_s > w ? retry_after_s : w;
}
