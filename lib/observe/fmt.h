/* Fast text formatting for the access log's hot path: integers, IPv4
 * addresses and the pieces of Go's time layouts, written by hand into a
 * caller's char array (no printf, no locale, no lock, no NUL).
 *
 * Every function writes at most the documented number of bytes at dst and
 * returns how many it wrote. Any thread. */
#ifndef WH_OBSERVE_FMT_H
#define WH_OBSERVE_FMT_H

#include <stddef.h>
#include <stdint.h>

/* Room for any 64-bit integer in decimal, sign included. */
#define WH_FMT_INT_MAX 20

/* Decimal, as %llu / %lld: at most WH_FMT_INT_MAX bytes. */
size_t wh_fmt_u64(char *dst, uint64_t v);
size_t wh_fmt_i64(char *dst, int64_t v);

/* "10.1.2.3" from the four address bytes in network order: at most 15 bytes. */
size_t wh_fmt_ipv4(char *dst, const unsigned char addr[4]);

/* A broken-down UTC (or offset-shifted) time. */
typedef struct wh_fmt_civil {
  int64_t year;
  int mon, day, hour, min, sec; /* mon 1..12 */
} wh_fmt_civil;

/* secs since the epoch (already shifted by the zone's offset for local
 * time) as a proleptic Gregorian date; no lock, unlike gmtime_r. */
void wh_fmt_civil_from_unix(int64_t secs, wh_fmt_civil *c);

/* Floor division (rounds toward minus infinity), for times before 1970. */
int64_t wh_fmt_floor_div(int64_t a, int64_t b);

/* Bytes the time functions below write at most (years up to 19 digits). */
#define WH_FMT_TIME_MAX 48

/* Go's "02/Jan/2006:15:04:05 -0700" for secs at UTC offset off (seconds):
 * at most WH_FMT_TIME_MAX bytes. */
size_t wh_fmt_clf_time(char *dst, int64_t secs, long off);
/* Go's "2006-01-02T15:04:05" (RFC 3339 without fraction nor zone) for secs
 * at offset off: at most WH_FMT_TIME_MAX bytes. */
size_t wh_fmt_rfc3339_secs(char *dst, int64_t secs, long off);
/* RFC 3339's zone: "Z" for 0, else "+02:00": at most 6 bytes. */
size_t wh_fmt_rfc3339_zone(char *dst, long off);
/* Go's RFC3339Nano fraction: ".123456789" with trailing zeros removed,
 * nothing when ns is 0 (ns in 0..999999999): at most 10 bytes. */
size_t wh_fmt_frac_ns(char *dst, long ns);

#endif
