/* Helpers shared by the middleware validate hooks: option-path error
 * messages, and the checks several types need (regexes, IP ranges, status
 * codes, URLs). Each check appends at most one error per bad value to errs
 * and returns the number of errors it added, so a hook can sum them.
 *
 * Messages read "<path>.<opt>: <what is wrong>", path being the key path the
 * schema decoder handed to the hook ("http.middlewares.m.rateLimit"); opt may
 * be NULL for a message about the whole struct. */
#ifndef WH_MW_OPTION_CHECK_H
#define WH_MW_OPTION_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config/schema.h"
#include "lib/core/err.h"

/* Field-table shorthand: WH_MW_FIELD(conf_type, member, "traefikName", WH_F_x, .dflt = "1s"). */
#define WH_MW_FIELD(st, member, fname, ftype, ...)                                                 \
  { .name = (fname), .type = (ftype), .offset = offsetof(st, member), __VA_ARGS__ }
#define WH_MW_NFIELDS(arr) (sizeof(arr) / sizeof((arr)[0]))

void wh_mw_opt_error(wh_errlist *errs, const char *path, const char *opt, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Returns 1 (and adds "<opt>: required") when s is NULL or empty. */
int wh_mw_check_required(wh_errlist *errs, const char *path, const char *opt, const char *s);
/* Returns 1 (and adds "<opt>: must not be empty") when l has no entry. */
int wh_mw_check_nonempty(wh_errlist *errs, const char *path, const char *opt, const wh_strlist *l);

/* Compiles re with PCRE2 (the error names PCRE2's message and offset). */
int wh_mw_check_regex(wh_errlist *errs, const char *path, const char *opt, const char *re);
/* Each entry as above, named "<opt>[i]". */
int wh_mw_check_regex_list(wh_errlist *errs, const char *path, const char *opt,
                           const wh_strlist *l);

/* An IPv4/IPv6 address or CIDR ("10.0.0.0/8", "::1", "2001:db8::/32"). */
bool wh_mw_ip_or_cidr_valid(const char *s);
/* Every entry valid; "<opt>[i]: invalid IP address or CIDR ...". */
int wh_mw_check_ip_list(wh_errlist *errs, const char *path, const char *opt, const wh_strlist *l);

/* "N" or "N-M" with 100 <= N <= M <= 599 (Traefik's HTTP code ranges). */
bool wh_mw_status_range_valid(const char *s);
/* 0 (unset) or 100..599. */
int wh_mw_check_status_code(wh_errlist *errs, const char *path, const char *opt, int64_t code,
                            bool zero_ok);

/* An absolute http:// or https:// URL with a host. */
bool wh_mw_http_url_valid(const char *s);

#endif
