/* String helpers shared by every module. */
#ifndef WH_CORE_STR_H
#define WH_CORE_STR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable NUL-terminated buffer. Zero-initialised is a valid empty buffer. */
typedef struct wh_strbuf {
  char *data; /* NULL until the first append */
  size_t len, cap;
} wh_strbuf;

int wh_strbuf_append(wh_strbuf *b, const char *s, size_t n);
/* Makes room for extra more bytes (and the terminating NUL) after len, for
 * a writer that fills data + len itself and then advances len. */
int wh_strbuf_reserve(wh_strbuf *b, size_t extra);
int wh_strbuf_puts(wh_strbuf *b, const char *s);
int wh_strbuf_putc(wh_strbuf *b, char c);
int wh_strbuf_printf(wh_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the contents ("" when empty) and hands ownership to the caller. */
char *wh_strbuf_take(wh_strbuf *b);
void wh_strbuf_free(wh_strbuf *b);
const char *wh_strbuf_cstr(const wh_strbuf *b); /* "" when empty; borrowed */

/* strdup that accepts NULL (returns NULL). Caller owns the result. */
char *wh_strdup(const char *s);
char *wh_strndup(const char *s, size_t n);
/* Caller owns the result; NULL on OOM. */
char *wh_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Replaces the malloc'd string *dst (freed) with a formatted one (NULL on
 * OOM). dst NULL: nothing happens. For "why" and diagnosis fields. */
void wh_str_setf(char **dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

bool wh_streq(const char *a, const char *b);     /* NULL-safe */
bool wh_strcaseeq(const char *a, const char *b); /* ASCII case-insensitive, NULL-safe */
bool wh_str_has_prefix(const char *s, const char *prefix);
bool wh_str_has_caseprefix(const char *s, const char *prefix);
bool wh_str_has_casesuffix(const char *s, const char *suffix);
void wh_str_lower(char *s); /* ASCII, in place */

/* Levenshtein distance, ASCII case-insensitive. */
size_t wh_str_distance(const char *a, const char *b);
/* The candidate closest to word, or NULL when none is close enough
 * (distance <= max(2, len/3)). Borrowed pointer into candidates. */
const char *wh_str_suggest(const char *word, const char *const *candidates, size_t n);

/* Splits on sep, trimming ASCII spaces around items and dropping empty ones.
 * *out is a malloc'd array of malloc'd strings; caller frees with wh_strv_free. */
int wh_str_split(const char *s, char sep, char ***out, size_t *n);
void wh_strv_free(char **v, size_t n);

/* Whether a header of that name carries a credential (Authorization,
 * Proxy-Authorization, Cookie, Set-Cookie; ASCII case-insensitive): the API
 * and the logs show such values as REDACTED, never as they are. */
bool wh_header_is_credential(const char *name);

/* Length of the valid UTF-8 sequence at s (n > 0 bytes available) and its
 * code point in *cp; 0 when it is not one (overlong, surrogate, beyond
 * U+10FFFF, truncated), where Go's encoders write U+FFFD. */
size_t wh_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp);

#endif
