/* Password hashes of htpasswd files (basicAuth) and the cached reading of
 * users files (basicAuth, digestAuth).
 *
 * Hash kinds, as Traefik (go-http-auth) accepts them: "$apr1$" and "$1$"
 * MD5-crypt, "{SHA}" + base64(SHA-1), bcrypt "$2a$" "$2b$" "$2x$" "$2y$".
 * Anything else (plain text, SHA-crypt "$5$"/"$6$", ...) never matches. */
#ifndef WH_MW_HTPASSWD_H
#define WH_MW_HTPASSWD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
  WH_HTPASSWD_UNSUPPORTED = 0,
  WH_HTPASSWD_APR1,   /* "$apr1$salt$hash": Apache's MD5-crypt variant */
  WH_HTPASSWD_MD5,    /* "$1$salt$hash": MD5-crypt */
  WH_HTPASSWD_SHA,    /* "{SHA}base64": unsalted SHA-1 */
  WH_HTPASSWD_BCRYPT, /* "$2a$" "$2b$" "$2x$" "$2y$" */
} wh_htpasswd_kind;

/* The kind of a stored hash, from its prefix alone (NULL-safe). */
wh_htpasswd_kind wh_htpasswd_kind_of(const char *hash);

/* True when password matches hash. The final comparison is constant-time;
 * the cost is the hash's own (bcrypt's cost factor). Both borrowed. False for
 * an unsupported or malformed hash, and on OOM. Thread-safe. */
bool wh_htpasswd_verify(const char *hash, const char *password);

/* "$apr1$" MD5-crypt of password with salt (up to its first '$', used whole
 * as Go's MD5Crypt does; htpasswd writes 8 characters). Returns a new string
 * "$apr1$<salt>$<22 chars>" owned by the caller, NULL on OOM. */
char *wh_htpasswd_apr1(const char *password, const char *salt);

/* A users file as read: its lines trimmed of surrounding white space,
 * without blank lines and lines starting with '#'. Immutable once published;
 * shared by reference. */
typedef struct wh_htpasswd_file {
  char **lines;
  unsigned *lineno; /* 1-based line number in the file of each entry */
  size_t n;
  atomic_int refs;
  atomic_bool reported; /* for the consumer: a format problem was logged */
} wh_htpasswd_file;

/* The content of the users file at path, read on first use and re-read when
 * the file changes (its identity and times are checked at most once per
 * recheck interval, so requests never read it). Returns a reference to
 * release with wh_htpasswd_file_release, or NULL with *err set to a negative
 * errno-style code (-ENOENT, -EACCES, -EISDIR, -EFBIG, -ENOMEM...) when the
 * file cannot be read: the caller must then fail closed. A failure to read is
 * logged once per change of state, with the path and reason, never content.
 * Thread-safe. */
wh_htpasswd_file *wh_htpasswd_file_get(const char *path, int *err);
void wh_htpasswd_file_release(wh_htpasswd_file *f); /* NULL-safe */

/* How long a file's state is trusted before it is checked again (default
 * 1000 ms; 0 checks on every get, for tests). */
void wh_htpasswd_file_set_recheck_ms(unsigned ms);

#endif
