/* Return convention for lib/: 0 is success, a negative value is an error.
 * Configuration errors are not return codes: they are strings collected in a
 * wh_errlist attached to the element they concern (see lib/config/runtime.h). */
#ifndef WH_CORE_ERR_H
#define WH_CORE_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum {
  WH_OK = 0,
  WH_ERR = -1,    /* generic failure, details in an errlist or the log */
  WH_ENOMEM = -2, /* allocation failed */
  WH_EINVAL = -3, /* invalid input */
  WH_ENOENT = -4, /* not found */
  WH_EIO = -5,    /* I/O failure */
};

/* An ordered list of human-readable error strings. Owns its strings. */
typedef struct wh_errlist {
  char **items;
  size_t n, cap;
} wh_errlist;

void wh_errlist_init(wh_errlist *l);
void wh_errlist_free(wh_errlist *l);
/* Appends a printf-formatted message. Out of memory drops the message. */
void wh_errlist_add(wh_errlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wh_errlist_addv(wh_errlist *l, const char *fmt, va_list ap);
/* Appends copies of every message of src, each prefixed with prefix (may be NULL). */
void wh_errlist_extend(wh_errlist *dst, const wh_errlist *src, const char *prefix);
/* Deep copy; dst must be initialised (it is appended to). */
void wh_errlist_copy(wh_errlist *dst, const wh_errlist *src);

#endif
