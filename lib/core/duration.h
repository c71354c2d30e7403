/* Durations as Traefik accepts them: Go syntax ("1h2m3.5s", "100ms", "1us",
 * "-5s") or a bare integer meaning seconds ("10"). */
#ifndef WH_CORE_DURATION_H
#define WH_CORE_DURATION_H

#include <stdint.h>

/* Nanoseconds. */
typedef int64_t wh_duration;

#define WH_NS ((wh_duration)1)
#define WH_US ((wh_duration)1000)
#define WH_MS ((wh_duration)1000000)
#define WH_SEC ((wh_duration)1000000000)

/* Returns 0 or WH_EINVAL (bad syntax or overflow). */
int wh_duration_parse(const char *s, wh_duration *out);
/* Go's time.Duration.String() form ("1m30s", "100ms", "0s") into buf. */
void wh_duration_format(wh_duration d, char *buf, unsigned size);

#endif
