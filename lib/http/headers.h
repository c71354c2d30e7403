/* An ordered, owned list of HTTP header fields, as the proxy rewrites them
 * between client and backend. Names keep their spelling; lookups are ASCII
 * case-insensitive. Values are stored without surrounding whitespace. */
#ifndef WH_HTTP_HEADERS_H
#define WH_HTTP_HEADERS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct wh_header {
  char *name;  /* owned, NUL-terminated */
  char *value; /* owned, NUL-terminated */
  size_t name_len, value_len;
} wh_header;

/* Names and values live in arena blocks (see headers.c), not in one malloc
 * each: a request's header list costs no allocation in the steady state. */
typedef struct wh_headers {
  wh_header *v;
  size_t n, cap;
  struct wh_hblock *first, *cur; /* arena blocks; returned to a per-thread cache on clear */
} wh_headers;

void wh_headers_init(wh_headers *h);
void wh_headers_free(wh_headers *h);
/* Frees the calling thread's cache of arena blocks (worker threads' caches
 * are freed when they exit; the main thread calls this before exiting). */
void wh_headers_thread_cleanup(void);
/* Empties the list; keeps the field array, hands the arena blocks back to
 * this thread's cache (so an idle connection holds none). */
void wh_headers_clear(wh_headers *h);
/* Appends a copy. Returns 0 or WH_ENOMEM. */
int wh_headers_add(wh_headers *h, const char *name, size_t nlen, const char *value, size_t vlen);
int wh_headers_add_cstr(wh_headers *h, const char *name, const char *value);
/* Replaces every field of that name by one (appended at the end when absent). */
int wh_headers_set(wh_headers *h, const char *name, const char *value);
/* Removes every field of that name; returns how many. */
size_t wh_headers_remove(wh_headers *h, const char *name);
/* First value, NULL when absent. */
const char *wh_headers_get(const wh_headers *h, const char *name);
size_t wh_headers_count(const wh_headers *h, const char *name);
/* True when some field of that name has the token in its comma-separated
 * value (case-insensitive), e.g. Connection: keep-alive, Upgrade. */
bool wh_headers_has_token(const wh_headers *h, const char *name, const char *token);
/* The same test on one field value of vlen bytes (token of tlen bytes). */
bool wh_header_value_has_token(const char *value, size_t vlen, const char *token, size_t tlen);

#endif
